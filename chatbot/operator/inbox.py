"""The operator's inbox of misses: what customers said that the bot did not
handle well, grouped by similarity, with how many customers said it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from rapidfuzz import fuzz

from ..clock import Clock, isoformat
from ..knowledge import Knowledge
from ..nlu.normalize import normalize
from ..store import Store

LOW_CONFIDENCE_BAND = 0.15  # above the threshold but this close to it counts as a weak match
SAME_GROUP = 80  # rapidfuzz token_set_ratio for "says the same thing"
REPHRASE = 70


@dataclass
class Group:
    text: str
    key: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    customers: set[int] = field(default_factory=set)
    reasons: dict[str, int] = field(default_factory=dict)

    def to_dict(self, guess: str | None) -> dict[str, Any]:
        return {
            "text": self.text,
            "key": self.key,
            "count": len(self.messages),
            "customers": len(self.customers),
            "reasons": self.reasons,
            "suggested_intent": guess,
            "examples": [m["text"] for m in self.messages[:10]],
            "keys": sorted({normalize(m["text"]) for m in self.messages}),
        }


def reasons_for(turn: dict[str, Any], threshold: float) -> list[str]:
    reasons = []
    if turn["reply_type"] == "bot" and turn["reply_intent"] is None:
        reasons.append("fallback")
    elif turn["reply_type"] == "bot" and (turn["reply_confidence"] or 0) < threshold + LOW_CONFIDENCE_BAND:
        reasons.append("low_confidence")
    if turn["handoff_after"] and turn["reply_intent"] != "human_agent":
        reasons.append("handoff")
    if (
        turn["next_text"]
        and turn["reply_intent"] is not None
        and fuzz.token_set_ratio(normalize(turn["text"]), normalize(turn["next_text"])) >= REPHRASE
    ):
        reasons.append("rephrased")
    if turn["rating"] is not None and turn["rating"] <= 2:
        reasons.append("rated_badly")
    return reasons


class Inbox:
    def __init__(self, store: Store, knowledge: Knowledge, clock: Clock) -> None:
        self.store = store
        self.knowledge = knowledge
        self.clock = clock

    async def misses(self, brand_id: str, days: int = 30) -> list[dict[str, Any]]:
        brand = self.knowledge.brand(brand_id)
        reviewed = await self.store.reviewed_misses(brand_id)
        groups: list[Group] = []
        for turn in await self.store.customer_turns(brand_id, self.clock.now() - timedelta(days=days)):
            reasons = reasons_for(turn, brand.settings.nlu.threshold)
            key = normalize(turn["text"])
            if not reasons or not key or key in reviewed:
                continue
            group = next((g for g in groups if fuzz.token_set_ratio(g.key, key) >= SAME_GROUP), None)
            if group is None:
                group = Group(turn["text"], key)
                groups.append(group)
            group.messages.append(turn)
            group.customers.add(turn["user_id"])
            for reason in reasons:
                group.reasons[reason] = group.reasons.get(reason, 0) + 1
        groups.sort(key=lambda g: (-len(g.customers), -len(g.messages)))
        return [g.to_dict(self._suggest(brand_id, g)) for g in groups]

    def _suggest(self, brand_id: str, group: Group) -> str:
        """The matcher's best guess, or out_of_scope when it would fall back."""
        parse = self.knowledge.parse(brand_id, group.text)
        return parse.intent or ("out_of_scope" if group.reasons.get("fallback") else parse.top or "out_of_scope")

    async def mark(self, brand_id: str, keys: list[str], action: str, intent: str | None, author_id: int) -> None:
        for key in keys:
            await self.store.review_miss(
                {
                    "brand": brand_id,
                    "text_key": normalize(key),
                    "action": action,
                    "intent": intent,
                    "author_id": author_id,
                    "at": isoformat(self.clock.now()),
                }
            )
