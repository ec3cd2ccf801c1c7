"""Which process of a cluster runs the handoff timers: the leader.

One process alone always leads (`AlwaysLeader`). In a cluster, the leader is
the process holding a PostgreSQL advisory lock on a connection of its own
(`AdvisoryLockLeader`): the database releases the lock the moment that
connection ends, so a killed process, or one cut off from the database,
stops leading at once as far as the others can tell, and one of them takes
the lock at its next try (every `retry_seconds`). A lease in Redis (SET NX
with an expiry) was the other choice; it expires under a paused holder and
leaves two leaders with nothing to tell them apart.

Two leaders can still overlap briefly: an old leader paused past its
connection's end, or one whose connection broke between checks. That is why
every timer transition is a conditional update with its system message in
the same transaction (handoffs.stamp_handoff, handoffs.move_handoff_saying):
an overlap does the work twice and changes things once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

# The advisory lock's key: any constant the database's other users do not take ("chat" in ASCII).
LEADER_KEY = 0x63686174
RETRY_SECONDS = 2.0

Elected = Callable[[], Awaitable[None]]


class Leadership(Protocol):
    @property
    def leads(self) -> bool: ...
    async def run(self) -> None: ...


class AlwaysLeader:
    """One process: it leads from start to end."""

    leads = True

    async def run(self) -> None:
        """Nothing to contend for."""


class AdvisoryLockLeader:
    """Leads while it holds the advisory lock `key` of the database at `url`.
    `run()` contends until cancelled; `on_elected` is awaited each time this
    process becomes the leader, before it leads (the desk's recovery)."""

    def __init__(
        self,
        url: str,
        *,
        on_elected: Elected | None = None,
        retry_seconds: float = RETRY_SECONDS,
        key: int = LEADER_KEY,
    ) -> None:
        from .postgres import split_url  # psycopg: the optional cluster extra

        self._url, _ = split_url(url)  # synchronous_commit is the store's parameter, not libpq's
        self.on_elected = on_elected
        self.retry_seconds = retry_seconds
        self.key = key
        self.leads = False

    async def run(self) -> None:
        import psycopg

        while True:
            try:
                await self._contend()
            except (psycopg.Error, OSError, TimeoutError) as error:
                if self.leads:
                    log.warning("stopped leading the cluster's timers: %s", error)
                else:
                    log.debug("could not contend for leadership: %s", error)
            except Exception:  # whatever it was, a process that stops contending never leads again
                log.exception("contending for leadership failed; trying again")
            finally:
                self.leads = False
            await asyncio.sleep(self.retry_seconds)

    async def _contend(self) -> None:
        """One connection's life: try the lock until it is ours, then hold
        it, checking every `retry_seconds` that the connection still lives."""
        async with asyncio.timeout(self.retry_seconds * 2):
            conn = await _connect(self._url)
        async with conn:
            while not await self._try_lock(conn):
                await asyncio.sleep(self.retry_seconds)
            if self.on_elected is not None:
                await self.on_elected()
            self.leads = True
            log.info("leading the cluster's timers")
            while True:
                await asyncio.sleep(self.retry_seconds)
                async with asyncio.timeout(self.retry_seconds):
                    await conn.execute("SELECT 1")  # a connection that died took the lock with it

    async def _try_lock(self, conn: psycopg.AsyncConnection[Any]) -> bool:
        async with asyncio.timeout(self.retry_seconds):
            cursor = await conn.execute("SELECT pg_try_advisory_lock(%s)", [self.key])
            found = await cursor.fetchone()
        return bool(found and found[0])


async def _connect(url: str) -> psycopg.AsyncConnection[Any]:
    import psycopg

    return await psycopg.AsyncConnection.connect(url, autocommit=True)


@contextlib.asynccontextmanager
async def contending(leader: Leadership) -> AsyncIterator[Leadership]:
    """`leader` contends in the background until the block ends."""
    task = asyncio.create_task(leader.run())
    try:
        yield leader
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
