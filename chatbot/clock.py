"""The one source of time. Queues, timers and expiries read a Clock, so tests
can move time forward instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class StartedClock:
    """A clock that starts at a given instant and then runs at normal speed:
    `run.py --start-time` and the conversation stories, to see the server as it
    is on a Saturday or in a weekday's open hours without waiting for one.

    It adds the monotonic time elapsed since it was made to `start`, so that
    timers keep their length when the machine's wall clock is adjusted."""

    def __init__(self, start: datetime, monotonic: Callable[[], float] = time.monotonic) -> None:
        if start.tzinfo is None or start.utcoffset() is None:
            # A naive instant would silently mean the machine's zone; the brands'
            # opening hours depend on the exact instant.
            raise ValueError(f"the start time needs a UTC offset or Z: {start.isoformat()}")
        self._start = start.astimezone(UTC)
        self._monotonic = monotonic
        self._started = monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._monotonic() - self._started)


class ManualClock:
    """A clock that only moves when told to: for tests and simulations."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 17, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float = 0, **kwargs: float) -> datetime:
        self._now += timedelta(seconds=seconds, **kwargs)
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment


def isoformat(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, as the wire contract wants."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
