"""Conversations and their messages: open the customer's conversation, store
what they say (once, whatever the retries), and decide who answers: the bot
while the conversation is the bot's, the handoff desk once a person is asked
for. Messages go out through the Events interface."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from ..auth import User
from ..clock import Clock
from ..events import Events
from ..handoff import HandoffDesk
from ..metrics import Metrics
from ..store import Store
from ..wire import to_wire
from .dialogue import Dialogue
from .reply import Reply

BOT_NAME = "Assistant"

# Held around a turn besides this process's own lock, where other processes
# may take turns of the same conversation (a cluster: web/cluster_turns.py).
TurnGuard = Callable[[int], AbstractAsyncContextManager[None]]


def _no_guard(conversation_id: int) -> AbstractAsyncContextManager[None]:
    return contextlib.nullcontext()


class ChatService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        dialogue: Dialogue,
        desk: HandoffDesk,
        events: Events,
        metrics: Metrics,
        history_limit: int = 50,
    ) -> None:
        self.metrics = metrics
        self.store = store
        self.clock = clock
        self.dialogue = dialogue
        self.events = events
        self.history_limit = history_limit
        self.desk = desk  # who answers once a person is asked for
        # Turns of one conversation are handled one at a time, in order: here by
        # this lock, across a cluster's processes also by the turn guard.
        self._turns: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.turn_guard: TurnGuard = _no_guard

    async def open(self, user: User) -> dict[str, Any]:
        return await self.store.open_conversation(user.brand, user.id, self.clock.now())

    async def conversation(self, conversation_id: int) -> dict[str, Any] | None:
        return await self.store.conversation(conversation_id)

    async def history(self, conversation_id: int, last_seq: int | None = None) -> list[dict[str, Any]]:
        """Messages after `last_seq`, or the recent history."""
        rows = await self.store.messages(
            conversation_id, after_seq=last_seq, limit=None if last_seq is not None else self.history_limit
        )
        return [to_wire(r) for r in rows]

    async def post_customer_message(
        self, user: User, conversation_id: int, client_id: str, text: str
    ) -> tuple[dict[str, Any], bool]:
        """Store the customer's message; (message, created). created is False
        for a repeated client_id, which is answered with the first message."""
        row, created = await self.store.add_message(
            conversation_id,
            sender_type="customer",
            sender_name=user.name,
            sender_id=user.id,
            text=text,
            client_id=client_id,
            now=self.clock.now(),
        )
        if created:
            self.metrics.messages.labels(user.brand, "customer").inc()
        return to_wire(row), created

    async def post_attachment(self, user: User, attachment: dict[str, Any]) -> dict[str, Any]:
        """Note an uploaded attachment in the conversation, as the customer's message."""
        row, _ = await self.store.add_message(
            attachment["conversation_id"],
            sender_type="customer",
            sender_name=user.name,
            sender_id=user.id,
            text=f"📎 {attachment['filename']} ({attachment['size'] // 1024 + 1} KB)",
            now=self.clock.now(),
            client_id=f"attachment:{attachment['id']}",
            meta={"attachment_id": attachment["id"]},
        )
        return to_wire(row)

    async def respond(self, user: User, conversation_id: int, text: str, payload: dict[str, Any] | None = None) -> None:
        """Whoever is in charge of the conversation answers the customer's message."""
        started = time.perf_counter()
        async with self._turns[conversation_id], self.turn_guard(conversation_id):
            conversation = await self.store.conversation(conversation_id)
            queue = await self._person_in_charge(user, conversation)
            if queue is False:
                return
            if conversation["state"] == "closed":
                if await self._rated(user, conversation_id, text):
                    return
                await self.store.set_conversation_state(conversation_id, "bot", self.clock.now())
            turn = await self.dialogue.respond(
                user, conversation, text, payload, queue=queue if isinstance(queue, dict) else None
            )
            if not turn.replies:  # queued, and nothing the bot is sure of: the agent will answer
                await self.store.set_dialogue_state(conversation_id, turn.state)
            for i, reply in enumerate(turn.replies):
                if reply.text:
                    await self._say(conversation_id, reply, dialogue_state=turn.state if i == 0 else None)
                elif i == 0:
                    await self.store.set_dialogue_state(conversation_id, turn.state)
                self.metrics.replies.labels(user.brand, reply.intent or "none").inc()
                self.metrics.reply_seconds.labels(user.brand).observe(time.perf_counter() - started)
                await self._carry_out(user, conversation_id, reply)

    async def _person_in_charge(self, user: User, conversation: dict[str, Any]) -> dict[str, Any] | bool | None:
        """While a person has the chat the bot stays quiet (False); while the customer waits in the queue
        it still answers what it can, and questions about the wait (the live queue view); past the breach
        it reads the answer to the offer of email."""
        if conversation["state"] not in ("queued", "agent"):
            return None
        await self.desk.customer_wrote(user, conversation["id"])
        view = await self.desk.customer_view(conversation["id"])
        if await self.desk.email_offer_open(conversation["id"]):
            return {**view, "email_offer": True}  # past the breach: the bot reads the answer to the offer
        return view if view.get("state") == "queued" else False

    async def _rated(self, user: User, conversation_id: int, text: str) -> bool:
        said = text.strip().lower().replace("stars", "").replace("star", "").replace("/5", "").strip()
        if said in ("1", "2", "3", "4", "5") and await self.desk.rate(user, conversation_id, int(said)):
            await self._say(conversation_id, Reply("Thank you for rating us!", "rating", 1.0))
            return True
        return False

    async def _carry_out(self, user: User, conversation_id: int, reply: Reply) -> None:
        """What a reply asks of the handoff desk: a ticket, a handoff, leaving the queue."""
        if reply.leave_message:
            ticket = await self.desk.leave_message(user, conversation_id, reply.leave_message)
            await self._say(
                conversation_id,
                Reply(
                    f"Thanks, your message is sent to our team as ticket #{ticket}. We'll reply by email to "
                    f"{user.email}.",
                    "leave_message",
                    1.0,
                ),
            )
        if reply.leave_queue:
            await self.desk.withdraw(user, conversation_id)
        if reply.continue_by_email:
            await self.desk.continue_by_email(user, conversation_id, reply.continue_by_email)
        if reply.wants_human:
            asked_at = self.clock.now()  # the hold counts from the ask, not from when the desk answered
            event = await self.desk.request(
                user,
                conversation_id,
                reason=reply.intent or "not_understood",
                intent=reply.intent,
                confidence=reply.confidence,
            )
            self.metrics.handoffs.labels(user.brand, event["state"]).inc()
            await self.dialogue.handoff_is(conversation_id, event, asked_at)

    async def _say(
        self, conversation_id: int, reply: Reply, dialogue_state: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        row, _ = await self.store.add_message(
            conversation_id,
            sender_type="bot",
            sender_name=BOT_NAME,
            sender_id=None,
            text=reply.text,
            intent=reply.intent,
            confidence=round(reply.confidence, 4),
            meta=reply.meta(),
            now=self.clock.now(),
            dialogue_state=dialogue_state,
        )
        message = to_wire(row)
        await self.events.to_conversation(conversation_id, "message", message)
        return message
