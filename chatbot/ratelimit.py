"""Token buckets: how many of something one key (a socket, a user, an
address) may do, refilled over time read from the injected clock. Checked
before any work is done, so a flood costs the server almost nothing.

The per-socket limits are synchronous and in this process (a socket lives on
one process). The per-user and per-address ones (`user_messages`, `uploads`,
`logins`) are `SharedLimiter`s, awaited: in this process's memory by default,
or, in a cluster, one bucket per key for every process on Redis
(chatbot/web/cluster_limits.py, handed in as `shared`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .clock import Clock
from .errors import ChatbotError


class RateLimited(ChatbotError):
    code, status = "rate_limited", 429


@dataclass(frozen=True)
class Limit:
    burst: int  # how many at once
    per_second: float  # refill rate


class Limiter:
    def __init__(self, clock: Clock, limit: Limit, max_keys: int = 100_000) -> None:
        self.clock = clock
        self.limit = limit
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, at)

    def hit(self, key: str, what: str = "requests") -> None:
        """Spend one token of `key`, or raise RateLimited."""
        now = self.clock.now().timestamp()
        tokens, at = self._buckets.get(key, (float(self.limit.burst), now))
        tokens = min(float(self.limit.burst), tokens + (now - at) * self.limit.per_second)
        if tokens < 1:
            wait = (1 - tokens) / self.limit.per_second
            raise RateLimited(f"too many {what}: try again in {max(1, round(wait))} s")
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            self._buckets.clear()  # bounded memory: forgetting is safe, it only forgives
        self._buckets[key] = (tokens - 1, now)

    def forget(self, key: str) -> None:
        self._buckets.pop(key, None)


class SharedLimiter(Protocol):
    """A limit whose key (a user, an address) may come to any process."""

    async def hit(self, key: str, what: str = "requests") -> None:
        """Spend one token of `key`, or raise RateLimited."""


class SharedLimiters(Protocol):
    """Where the shared limits keep their buckets."""

    def limiter(self, name: str, limit: Limit) -> SharedLimiter:
        """The limiter called `name` (unique among the product's limits)."""

    async def close(self) -> None:
        """Let go of what the buckets live in (a connection)."""


class LocalLimiter:
    """A `Limiter` behind the shared (async) interface: one process's buckets."""

    def __init__(self, limiter: Limiter) -> None:
        self.limiter = limiter

    async def hit(self, key: str, what: str = "requests") -> None:
        self.limiter.hit(key, what)


class LocalLimiters:
    """The embedded default: the shared limits in this process's memory."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def limiter(self, name: str, limit: Limit) -> LocalLimiter:
        return LocalLimiter(Limiter(self.clock, limit))

    async def close(self) -> None:
        return None


USER_MESSAGES = Limit(burst=30, per_second=0.5)  # all of a user's tabs
UPLOADS = Limit(burst=10, per_second=1 / 60)  # per user
LOGINS = Limit(burst=20, per_second=0.2)  # per client address


class Limits:
    """The product's limits, in one place (docs/security.md). `shared`: where
    the per-user and per-address buckets live; this process's memory unless
    given (a cluster's process gives chatbot/web/cluster_limits.RedisLimiters)."""

    def __init__(
        self,
        clock: Clock,
        socket_event_burst: int = 100,
        socket_strike_burst: int = 100,
        shared: SharedLimiters | None = None,
    ) -> None:
        self.shared: SharedLimiters = shared or LocalLimiters(clock)
        self.socket_messages = Limiter(clock, Limit(burst=10, per_second=2))  # one tab
        self.user_messages = self.shared.limiter("user_messages", USER_MESSAGES)
        self.uploads = self.shared.limiter("uploads", UPLOADS)
        self.logins = self.shared.limiter("logins", LOGINS)
        # Every event a socket sends, valid or not, spends one of these before anything else is done with it.
        self.socket_events = Limiter(clock, Limit(burst=socket_event_burst, per_second=10))
        # Every refused event (malformed, unknown, reserved, over a limit) spends one of these; a socket that
        # runs out is disconnected.
        self.socket_strikes = Limiter(clock, Limit(burst=socket_strike_burst, per_second=1))

    def forget_socket(self, sid: str) -> None:
        for limiter in (self.socket_messages, self.socket_events, self.socket_strikes):
            limiter.forget(sid)

    async def close(self) -> None:
        await self.shared.close()
