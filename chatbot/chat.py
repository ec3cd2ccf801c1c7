"""Conversations and their messages: open the customer's conversation, store
what they say (once, whatever the retries), and store the bot's answers.
Returns wire-shaped messages; the edge only has to send them."""
from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from .auth import User
from .clock import Clock
from .dialogue import Dialogue
from .store import Store

BOT_NAME = "Assistant"


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
    if row["sender_type"] == "bot":
        message["intent"] = row["intent"]
        message["confidence"] = row["confidence"]
        meta = row["meta"]
        if meta.get("quick_replies"):
            message["quick_replies"] = meta["quick_replies"]
        if meta.get("citation"):
            message["citation"] = meta["citation"]
    return message


class ChatService:
    def __init__(self, store: Store, clock: Clock, dialogue: Dialogue, history_limit: int = 50) -> None:
        self.store = store
        self.clock = clock
        self.dialogue = dialogue
        self.history_limit = history_limit
        # Bot answers of one conversation are produced one at a time, in order.
        self._turns: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def open(self, user: User) -> dict[str, Any]:
        return await self.store.open_conversation(user.brand, user.id, self.clock.now())

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
        return to_wire(row), created

    async def post_attachment(self, user: User, attachment: dict[str, Any]) -> dict[str, Any]:
        """Note an uploaded attachment in the conversation, as the customer's message."""
        row, _ = await self.store.add_message(
            attachment["conversation_id"], sender_type="customer", sender_name=user.name, sender_id=user.id,
            text=f"📎 {attachment['filename']} ({attachment['size'] // 1024 + 1} KB)", now=self.clock.now(),
            client_id=f"attachment:{attachment['id']}", meta={"attachment_id": attachment["id"]})
        return to_wire(row)

    async def bot_turn(self, user: User, conversation_id: int, text: str) -> list[dict[str, Any]]:
        """Work out and store the bot's replies to a customer message."""
        async with self._turns[conversation_id]:
            replies = await self.dialogue.respond(user, conversation_id, text)
            stored = []
            for reply in replies:
                row, _ = await self.store.add_message(
                    conversation_id, sender_type="bot", sender_name=BOT_NAME, sender_id=None, text=reply.text,
                    intent=reply.intent, confidence=round(reply.confidence, 4), meta=reply.meta(),
                    now=self.clock.now())
                stored.append(to_wire(row))
            return stored
