"""Conversations and their messages: open the customer's conversation, store
what they say (once, whatever the retries), and decide who answers: the bot
while the conversation is the bot's, the handoff desk once a person is asked
for. Messages go out through the Events interface."""
from __future__ import annotations

import asyncio
import re
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from .auth import User
from .clock import Clock
from .dialogue import Dialogue, Reply
from .events import Events
from .metrics import Metrics
from .store import Store

if TYPE_CHECKING:
    from .handoff import HandoffDesk

BOT_NAME = "Assistant"
RATING = re.compile(r"^\s*([1-5])\s*(stars?|/\s*5)?\s*$")


def to_wire(row: dict[str, Any]) -> dict[str, Any]:
    """A stored message in the shape of the wire contract."""
    message: dict[str, Any] = {
        "id": row["id"],
        "conversation_id": row["conversation_id"],
        "seq": row["seq"],
        "sender": {"type": row["sender_type"], "name": row["sender_name"]},
        "text": row["text"],
        "created_at": row["created_at"],
    }
    meta = row["meta"]
    if row["sender_type"] == "bot":
        message["intent"] = row["intent"]
        message["confidence"] = row["confidence"]
        if meta.get("citation"):
            message["citation"] = meta["citation"]
    if meta.get("quick_replies"):
        message["quick_replies"] = meta["quick_replies"]
    for marker in ("attachment_id", "rating_request"):
        if meta.get(marker):
            message[marker] = meta[marker]
    return message


class ChatService:
    def __init__(self, store: Store, clock: Clock, dialogue: Dialogue, events: Events, metrics: Metrics,
                 history_limit: int = 50) -> None:
        self.metrics = metrics
        self.store = store
        self.clock = clock
        self.dialogue = dialogue
        self.events = events
        self.history_limit = history_limit
        self.desk: HandoffDesk | None = None    # set by the app factory: the two need each other
        # Turns of one conversation are handled one at a time, in order.
        self._turns: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def open(self, user: User) -> dict[str, Any]:
        return await self.store.open_conversation(user.brand, user.id, self.clock.now())

    async def conversation(self, conversation_id: int) -> dict[str, Any] | None:
        return await self.store.conversation(conversation_id)

    async def history(self, conversation_id: int, last_seq: int | None = None) -> list[dict[str, Any]]:
        """Messages after `last_seq`, or the recent history."""
        rows = await self.store.messages(conversation_id, after_seq=last_seq,
                                         limit=None if last_seq is not None else self.history_limit)
        return [to_wire(r) for r in rows]

    async def post_customer_message(self, user: User, conversation_id: int, client_id: str,
                                    text: str) -> tuple[dict[str, Any], bool]:
        """Store the customer's message; (message, created). created is False
        for a repeated client_id, which is answered with the first message."""
        row, created = await self.store.add_message(
            conversation_id, sender_type="customer", sender_name=user.name, sender_id=user.id,
            text=text, client_id=client_id, now=self.clock.now())
        if created:
            self.metrics.messages.labels(user.brand, "customer").inc()
        return to_wire(row), created

    async def post_attachment(self, user: User, attachment: dict[str, Any]) -> dict[str, Any]:
        """Note an uploaded attachment in the conversation, as the customer's message."""
        row, _ = await self.store.add_message(
            attachment["conversation_id"], sender_type="customer", sender_name=user.name, sender_id=user.id,
            text=f"📎 {attachment['filename']} ({attachment['size'] // 1024 + 1} KB)", now=self.clock.now(),
            client_id=f"attachment:{attachment['id']}", meta={"attachment_id": attachment["id"]})
        return to_wire(row)

    async def respond(self, user: User, conversation_id: int, text: str) -> None:
        """Whoever is in charge of the conversation answers the customer's message."""
        started = time.perf_counter()
        async with self._turns[conversation_id]:
            conversation = await self.store.conversation(conversation_id)
            if conversation["state"] in ("queued", "agent"):
                await self.desk.customer_wrote(user, conversation_id, text)
                return
            if conversation["state"] == "closed":
                rating = RATING.match(text)
                if rating and await self.desk.rate(user, conversation_id, int(rating.group(1))):
                    await self._say(conversation_id, Reply("Thank you for rating us!", "rating", 1.0))
                    return
                await self.store.set_conversation_state(conversation_id, "bot", self.clock.now())
            turn = await self.dialogue.respond(user, conversation, text)
            for i, reply in enumerate(turn.replies):
                await self._say(conversation_id, reply, dialogue_state=turn.state if i == 0 else None)
                self.metrics.replies.labels(user.brand, reply.intent or "none").inc()
                self.metrics.reply_seconds.labels(user.brand).observe(time.perf_counter() - started)
                if reply.leave_message:
                    ticket = await self.desk.leave_message(user, conversation_id, reply.leave_message)
                    await self._say(conversation_id, Reply(
                        f"It's saved as ticket #{ticket}; we'll reply by email to {user.email}.", "leave_message", 1.0))
                if reply.wants_human:
                    event = await self.desk.request(user, conversation_id, reason=reply.intent or "not_understood",
                                                    intent=reply.intent, confidence=reply.confidence)
                    self.metrics.handoffs.labels(user.brand, event["state"]).inc()
                    if event["state"] == "offline":
                        await self.dialogue.expect(conversation_id, {"await": "offline_message"})

    async def _say(self, conversation_id: int, reply: Reply,
                   dialogue_state: dict[str, Any] | None = None) -> dict[str, Any]:
        row, _ = await self.store.add_message(
            conversation_id, sender_type="bot", sender_name=BOT_NAME, sender_id=None, text=reply.text,
            intent=reply.intent, confidence=round(reply.confidence, 4), meta=reply.meta(), now=self.clock.now(),
            dialogue_state=dialogue_state)
        message = to_wire(row)
        await self.events.to_conversation(conversation_id, "message", message)
        return message
