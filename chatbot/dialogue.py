"""What the bot says. Takes the customer's message and the conversation, asks
the matcher what it means, and decides the reply: the intent's policy answer
with its citation, a record lookup (records.py), a handoff, or the fallback."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .auth import User
from .brands import Brand
from .knowledge import Knowledge
from .nlu import Parse


@dataclass
class Reply:
    text: str
    intent: str | None
    confidence: float
    quick_replies: list[str] = field(default_factory=list)
    citation: str | None = None
    wants_human: bool = False   # the handoff module takes it from here

    def meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        if self.quick_replies:
            meta["quick_replies"] = self.quick_replies
        if self.citation:
            meta["citation"] = self.citation
        return meta


def fallback(brand: Brand, parse: Parse, repeated: bool) -> Reply:
    topics = ", ".join(brand.settings.topics)
    if repeated:
        text = ("I'm sorry, I still couldn't understand. Would you like me to connect you with a person? "
                f"I can also help with {topics}.")
        return Reply(text, None, parse.confidence, ["Talk to a person"] + brand.settings.suggestions[:2])
    text = (f"Sorry, I can't help with that here. I can help with {topics}. "
            "You can also ask to talk to a person.")
    return Reply(text, None, parse.confidence, brand.settings.suggestions[:3] + ["Talk to a person"])


def policy_answer(brand: Brand, parse: Parse) -> Reply:
    intent = brand.intents[parse.intent]
    return Reply(intent.answer, intent.name, parse.confidence, list(intent.quick_replies),
                 citation=brand.citation(intent.policy_section),
                 wants_human=intent.name == "human_agent")


class Dialogue:
    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge

    def respond(self, user: User, text: str, previous_fallbacks: int) -> list[Reply]:
        """The bot's replies to one customer message. `previous_fallbacks` is
        how many bot replies in a row just before this one were fallbacks."""
        brand = self.knowledge.brand(user.brand)
        parse = self.knowledge.parse(user.brand, text)
        if parse.intent is None:
            return [fallback(brand, parse, repeated=previous_fallbacks >= 1)]
        return [policy_answer(brand, parse)]
