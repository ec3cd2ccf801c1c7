"""The engines: one connection on one dedicated thread, group commit, and
the open/close lifecycle. `ThreadEngine` is what both share; `SQLiteEngine`
adds the file, its checkpoints and its migrations. The PostgreSQL engine
(postgres.py) is the same machinery on a psycopg connection.

The event loop never blocks on the database, and one engine's writes are
serialised. On SQLite that is what makes per-conversation `seq` numbers
gapless; a server database shared by several engines needs the row lock the
repositories take (sql.lock_row).

Group commit: when calls queue up while the thread is busy, it runs them
together in one transaction, each inside its own savepoint (a call that fails
is rolled back alone), commits once, and only then hands every result back to
the event loop in one wake-up. Nothing is reported done before it is
committed; under load, one commit and one wake-up serve many messages
(docs/benchmarks.md). When a call of the group fails with an error that only
another engine's transaction caused (`_retry_alone`: a deadlock between two
PostgreSQL engines' groups), the whole group is rolled back and its calls are
run again one transaction each.

Lifecycle: nothing runs before `await open()` (which starts the thread and
brings the schema up to date) and nothing after `await close()` (which
finishes the calls already made, closes the connection and joins the thread).
A call outside that window raises `StoreNotOpen` or `StoreClosed`."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

from . import schema
from .sql import Connection, atomic

T = TypeVar("T")


class StoreClosed(RuntimeError):
    """A call reached the store after it was closed (the server is stopping)."""


class StoreNotOpen(StoreClosed):
    """A call reached the store before `open()`."""


Outcome = tuple["asyncio.Future[Any]", bool, Any]
Call = tuple[Callable[..., Any], tuple[Any, ...], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


def _close_marker(conn: Connection) -> None:
    """Queued by close(): the thread closes the connection and stops."""


def _settle(outcomes: list[Outcome]) -> None:
    for future, ok, value in outcomes:
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class ThreadEngine:
    """The lifecycle, the queue of calls and the group commit; a subclass
    says how to connect, migrate and close."""

    MAX_BATCH = 64  # calls per group commit: bounds how long the first one waits for the last
    path: str

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[Call] = queue.SimpleQueue()
        self._state = "new"  # new -> opening -> open -> closed
        self.thread: threading.Thread | None = None

    @property
    def is_open(self) -> bool:
        return self._state == "open"

    # -- what a subclass provides ---------------------------------------------------------

    def _connection(self) -> Connection:
        """The thread's connection, made on first use."""
        raise NotImplementedError

    def _migrate(self, conn: Any) -> int:
        """Create or upgrade the schema; returns its version."""
        raise NotImplementedError

    def _close_connection(self) -> None:
        raise NotImplementedError

    def _after_batch(self) -> None:
        """Runs on the thread after a batch's results have gone back."""

    def _retry_alone(self, error: BaseException) -> bool:
        """Whether a call of a group that failed this way should be run
        again in a transaction of its own (and the group rolled back)."""
        return False

    def _run_alone(self, conn: Connection, call: Call) -> Outcome:
        """One call outside a group commit."""
        fn, args, _, future = call
        try:
            return future, True, fn(conn, *args)
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            return future, False, e

    # -- lifecycle ---------------------------------------------------------------------

    async def open(self) -> int:
        """Start the thread, create or upgrade the schema; returns its version."""
        if self._state != "new":
            raise RuntimeError(f"the store is {self._state}: open it once")
        self._state = "opening"
        self.thread = threading.Thread(target=self._serve_calls, name="store", daemon=True)
        self.thread.start()
        try:
            version: int = await self._submit(self._migrate)
        except BaseException:
            await self.close()
            raise
        self._state = "open"
        return version

    async def close(self) -> None:
        """Finish the calls already made, close the connection and join the
        thread; later calls raise StoreClosed. Closing twice is harmless."""
        state, self._state = self._state, "closed"
        if state in ("new", "closed") or self.thread is None:
            return
        await self._submit(_close_marker)
        await asyncio.get_running_loop().run_in_executor(None, self.thread.join)

    # -- the read and write paths ----------------------------------------------------------

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(connection, *args)` on the store's thread. Reads share the
        writer's queue (one connection, one thread), so a read made after a
        write sees it; a server database may send them to a pool instead."""
        return await self.write(fn, *args)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(connection, *args)` on the store's thread; the result comes
        back only after it is committed."""
        if self._state != "open":
            raise (
                StoreClosed("the store is closed")
                if self._state == "closed"
                else StoreNotOpen("the store is not open: call open() first")
            )
        return await self._submit(fn, *args)

    async def _submit(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._calls.put((fn, args, loop, future))
        return await future

    # -- the thread ---------------------------------------------------------------------

    def _serve_calls(self) -> None:
        """The store's thread: take the calls waiting, run them as one group
        commit, and report them done after the commit; at the close marker,
        close the connection and stop."""
        while True:
            batch = [self._calls.get()]
            while len(batch) < self.MAX_BATCH and batch[-1][0] is not _close_marker:
                try:
                    batch.append(self._calls.get_nowait())
                except queue.Empty:
                    break
            closing = batch[-1][0] is _close_marker
            calls = batch[:-1] if closing else batch
            if calls:
                self._hand_back(calls, self._run_batch(calls))
                self._after_batch()
            if closing:
                self._close_connection()
                self._hand_back(batch[-1:], [(batch[-1][3], True, None)])
                return

    def _run_batch(self, batch: list[Call]) -> list[Outcome]:
        conn: Connection | None = None
        try:
            conn = self._connection()
            if len(batch) > 1 and not conn.in_transaction:
                grouped = self._run_grouped(conn, batch)
                if grouped is not None:
                    return grouped
            return [self._run_alone(conn, call) for call in batch]
        except BaseException as e:  # noqa: BLE001 - the commit failed: nothing of the batch happened
            if conn is not None:
                with contextlib.suppress(Exception):  # a lost connection cannot roll back, nor needs to
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
            return [(future, False, e) for _, _, _, future in batch]

    def _run_grouped(self, conn: Connection, batch: list[Call]) -> list[Outcome] | None:
        """The batch in one transaction, each call in a savepoint (a failing
        call is undone alone). None: rolled back whole, to be run call by call."""
        outcomes: list[Outcome] = []
        conn.execute("BEGIN")
        for fn, args, _, future in batch:
            try:
                with atomic(conn):
                    outcomes.append((future, True, fn(conn, *args)))
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                if self._retry_alone(e):
                    conn.execute("ROLLBACK")
                    return None
                outcomes.append((future, False, e))
        conn.execute("COMMIT")
        return outcomes

    @staticmethod
    def _hand_back(batch: list[Call], outcomes: list[Outcome]) -> None:
        """One wake-up per event loop for the whole batch."""
        by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
        for (_, _, loop, _), outcome in zip(batch, outcomes, strict=True):
            by_loop.setdefault(loop, []).append(outcome)
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
                loop.call_soon_threadsafe(_settle, settled)


class SQLiteEngine(ThreadEngine):
    """A SQLite file in WAL mode, checkpointed between batches."""

    def __init__(self, path: Path | str, synchronous: str = "NORMAL", checkpoint_every: int = 100) -> None:
        super().__init__()
        self.path = str(path)
        self.synchronous = synchronous
        self.checkpoint_every = checkpoint_every
        self._batches_since_checkpoint = 0
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            Database(conn)  # sqlite-utils prepares the connection as the migrations expect
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives a crash of the process;
            # only a power loss can take the last commits back (docs/security.md).
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=5000")
            if self._checkpoints_apart():
                # Why: a checkpoint copies the WAL into the database and syncs
                # it; run from a commit (SQLite's own rule), the calls of that
                # commit wait for it. _checkpoint runs it after a batch's
                # results have gone back instead.
                conn.execute("PRAGMA wal_autocheckpoint=0")
            self._conn = conn
        return self._conn

    def _migrate(self, conn: sqlite3.Connection) -> int:
        return schema.migrate(Database(conn, recursive_triggers=False, execute_plugins=False))

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _after_batch(self) -> None:
        self._checkpoint()

    def _checkpoints_apart(self) -> bool:
        return self.path != ":memory:" and self.checkpoint_every > 0

    def _checkpoint(self) -> None:
        """Every checkpoint_every batches, copy the WAL into the database, on
        this thread, between batches. Why not a thread of its own: its wake-ups
        made a third thread contend for the GIL, and the event loop stalled for
        6-16 ms at a time while the store wrote (bench/micro.py; 1-3 ms this
        way). PASSIVE never waits for readers; what it cannot copy yet is
        copied next time."""
        if not self._checkpoints_apart() or self._conn is None:
            return
        self._batches_since_checkpoint += 1
        if self._batches_since_checkpoint < self.checkpoint_every:
            return
        self._batches_since_checkpoint = 0
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
