"""The supervisor's figures of a brand (shared/spec/service-levels.md): how
soon customers got a person, breaches, abandonment, containment, ratings, and
the agents the arrivals call for (Erlang C)."""

from __future__ import annotations

import math
import statistics
from datetime import datetime, timedelta
from typing import Any

from ..clock import Clock, parse_iso
from ..knowledge import Knowledge
from ..store import Store
from . import erlang
from .views import ConsoleViews


def seconds_between(a: str | None, b: datetime | str | None) -> float | None:
    if not a or not b:
        return None
    end = parse_iso(b) if isinstance(b, str) else b
    return (end - parse_iso(a)).total_seconds()


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def _answered_within(handoffs: list[dict[str, Any]], limit: float, now: datetime) -> float | None:
    """Of the handoffs whose outcome within `limit` is known, the share answered by then."""
    pool = [
        h
        for h in handoffs
        if h["first_response_at"]
        or (seconds_between(h["queued_at"], now) or 0) >= limit
        or h["state"] in ("abandoned", "ticket")
    ]
    if not pool:
        return None
    hits = sum(
        1 for h in pool if (w := seconds_between(h["queued_at"], h["first_response_at"])) is not None and w <= limit
    )
    return hits / len(pool)


class Figures:
    def __init__(self, store: Store, clock: Clock, knowledge: Knowledge, views: ConsoleViews) -> None:
        self.store = store
        self.clock = clock
        self.knowledge = knowledge
        self.views = views

    async def stats(self, brand_id: str, window_hours: int = 24) -> dict[str, Any]:
        levels = self.knowledge.brand(brand_id).settings.service_levels
        now = self.clock.now()
        since = now - timedelta(hours=window_hours)
        handoffs = await self.store.handoffs_since(brand_id, since)
        counts = await self.store.conversation_counts(brand_id, since)
        ratings = [h["rating"] for h in handoffs if h["rating"]]
        return {
            "brand": brand_id,
            "window_hours": window_hours,
            "target_seconds": levels.first_response_target_seconds,
            "breach_seconds": levels.first_response_breach_seconds,
            "agent_chat_cap": levels.agent_chat_cap,
            "agents": await self.views.team(brand_id),
            "queue": (await self.views.queue(brand_id))["items"],
            **self._waits(handoffs, now, levels.first_response_breach_seconds),
            "containment": counts["bot_only"] / counts["conversations"] if counts["conversations"] else None,
            "conversations": counts["conversations"],
            **self._staffing(handoffs, now, window_hours, levels.mean_handle_seconds),
            "average_rating": statistics.mean(ratings) if ratings else None,
            "ratings": len(ratings),
        }

    @staticmethod
    def _waits(handoffs: list[dict[str, Any]], now: datetime, breach_seconds: float) -> dict[str, Any]:
        waits = [w for h in handoffs if (w := seconds_between(h["queued_at"], h["first_response_at"])) is not None]
        decided = [
            h
            for h in handoffs
            if h["first_response_at"]
            or h["state"] in ("abandoned", "ticket")
            or (seconds_between(h["queued_at"], now) or 0) >= breach_seconds
        ]
        return {
            "handoffs": len(handoffs),
            "decided": len(decided),
            "answered_within_5_min": _answered_within(handoffs, 300, now),
            "answered_within_10_min": _answered_within(handoffs, 600, now),
            "median_wait_seconds": statistics.median(waits) if waits else None,
            "p90_wait_seconds": percentile(waits, 0.9),
            "breaches": sum(1 for h in handoffs if h["breached_at"]),
            "abandoned": sum(1 for h in handoffs if h["state"] == "abandoned"),
        }

    @staticmethod
    def _staffing(
        handoffs: list[dict[str, Any]], now: datetime, window_hours: int, default_handle: float
    ) -> dict[str, Any]:
        handled = [
            d for h in handoffs if h["state"] == "resolved" and (d := seconds_between(h["assigned_at"], h["ended_at"]))
        ]
        handle = statistics.mean(handled) if handled else default_handle
        last_hour = [h for h in handoffs if (seconds_between(h["queued_at"], now) or 0) <= 3600]
        arrivals = len(last_hour) if last_hour else len(handoffs) / window_hours
        return {
            "arrivals_per_hour": arrivals,
            "mean_handle_seconds": handle,
            "agents_needed_80_in_5_min": erlang.agents_needed(arrivals, handle, 0.8, 300),
        }
