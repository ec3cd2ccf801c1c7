"""What the bot says in one message, and what a turn leads to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .state import Button


@dataclass
class Reply:
    text: str
    intent: str | None
    confidence: float
    buttons: list[Button] = field(default_factory=list)
    citation: str | None = None
    wants_human: bool = False  # the handoff desk takes it from here
    case_id: int | None = None
    leave_message: str | None = None  # left while the team is away: becomes a ticket
    leave_queue: bool = False  # the customer leaves the queue
    continue_by_email: str | None = None  # the customer's answer taking the breach offer: a ticket

    @property
    def quick_replies(self) -> list[str]:
        return [b.title for b in self.buttons]

    def meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        if self.buttons:
            # Titles for clients that know only text; the same buttons with their payloads beside them.
            meta["quick_replies"] = self.quick_replies
            meta["buttons"] = [b.to_wire() for b in self.buttons]
        if self.citation:
            meta["citation"] = self.citation
        return meta


@dataclass
class Turn:
    """What one customer message led to: the bot's replies (none while a
    person has the chat and the bot has nothing to add), and the dialogue
    state after them, which the caller saves in the same transaction as the
    first reply (a crash never keeps one without the other)."""

    replies: list[Reply]
    state: dict[str, Any]
