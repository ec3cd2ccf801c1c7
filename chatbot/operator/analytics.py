"""The operator's figures over time, per day: conversations, containment,
handoffs and their reasons, first-response service level, fallback rate, top
intents, ratings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..clock import Clock
from ..store import Store


class Analytics:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def daily(self, brand_id: str, days: int = 14) -> dict[str, Any]:
        now = self.clock.now()
        start = (now - timedelta(days=days - 1)).date()
        figures = await self.store.daily_figures(brand_id, now - timedelta(days=days))
        by_day = {day: _no_figures(day) for day in ((start + timedelta(days=i)).isoformat() for i in range(days))}
        _add_figures(by_day, figures)
        return {
            "brand": brand_id,
            "days": list(by_day.values()),
            "handoff_reasons": figures["reasons"],
            "top_intents": figures["top_intents"],
        }


def _no_figures(day: str) -> dict[str, Any]:
    """A day as it reads before any figures: no conversations, no rates."""
    return {
        "day": day,
        "conversations": 0,
        "containment": None,
        "handoffs": 0,
        "handoff_rate": None,
        "within_5_min": None,
        "within_10_min": None,
        "fallback_rate": None,
        "bot_replies": 0,
        "rating": None,
        "ratings": 0,
    }


def _add_figures(by_day: dict[str, dict[str, Any]], figures: dict[str, list[dict[str, Any]]]) -> None:
    """Fill in the days of `by_day` from the store's per-day rows (days outside it are left out)."""
    for row in figures["conversations"]:
        day = by_day.get(row["day"])
        if day:
            day["conversations"] = row["conversations"]
            day["containment"] = row["bot_only"] / row["conversations"] if row["conversations"] else None
    for row in figures["bot_replies"]:
        day = by_day.get(row["day"])
        if day:
            day["bot_replies"] = row["replies"]
            day["fallback_rate"] = row["fallbacks"] / row["replies"] if row["replies"] else None
    for row in figures["handoffs"]:
        day = by_day.get(row["day"])
        if day:
            day["handoffs"] = row["handoffs"]
            day["within_5_min"] = row["within_5"] / row["handoffs"]
            day["within_10_min"] = row["within_10"] / row["handoffs"]
            day["rating"] = row["rating"]
            day["ratings"] = row["ratings"]
    for day in by_day.values():
        if day["conversations"]:
            day["handoff_rate"] = day["handoffs"] / day["conversations"]
