"""One turn at a time per conversation across a cluster's processes.

A customer's tabs usually share a process (the balancer's affinity,
docs/deployment.md), where ChatService's own lock keeps a conversation's
turns in order. Tabs on two processes could otherwise run two turns of one
conversation at once, and the later save of the dialogue state would undo
the earlier one (a question the bot asked, forgotten). So while the
cluster's presence (handoff/presence.py) shows a tab of the conversation on
another process, each turn also holds a Redis lock named after the
conversation: redis-py's own `Lock` (SET NX with an expiry, released only
by its holder), two commands a turn, spent only where the race can happen.

It fails open: with Redis away the turn goes ahead under the process's own
lock, as the chat matters more than this rare race. The expiry bounds how
long a crashed holder blocks the conversation."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import redis.asyncio
from redis.exceptions import LockError, RedisError

from ..handoff.presence import PresenceBoard

log = logging.getLogger(__name__)

HOLD_SECONDS = 30.0  # longer than any turn; a crashed holder's lock lapses after it
WAIT_SECONDS = 10.0  # a turn waits this long for the other process's, then goes ahead


class RedisTurnGuard:
    def __init__(
        self,
        redis_url: str,
        board: PresenceBoard | None = None,
        *,
        hold_seconds: float = HOLD_SECONDS,
        wait_seconds: float = WAIT_SECONDS,
    ):
        """`board`: lock only while it shows a tab elsewhere (None: always)."""
        self.redis = redis.asyncio.Redis.from_url(redis_url)
        self.board = board
        self.hold_seconds = hold_seconds
        self.wait_seconds = wait_seconds

    @contextlib.asynccontextmanager
    async def __call__(self, conversation_id: int) -> AsyncIterator[None]:
        if self.board is not None and not self.board.tabs_elsewhere(conversation_id):
            yield  # every tab is here: this process's own lock keeps the turns in order
            return
        lock = self.redis.lock(
            f"chatbot:turn:{conversation_id}", timeout=self.hold_seconds, blocking_timeout=self.wait_seconds
        )
        held = False
        try:
            held = await lock.acquire()
            if not held:
                log.warning(
                    "conversation %d: another turn held it %.0f s; going ahead", conversation_id, self.wait_seconds
                )
        except (RedisError, OSError) as error:
            log.warning("turn lock of conversation %d unavailable (%s); going ahead", conversation_id, error)
        try:
            yield
        finally:
            if held:
                with contextlib.suppress(LockError, RedisError, OSError):  # lapsed, or Redis away: nothing to undo
                    await lock.release()

    async def close(self) -> None:
        await self.redis.aclose()
