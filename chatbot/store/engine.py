"""The SQLite engine: one connection on one dedicated thread, group commit,
checkpoints, and the schema's migrations.

The event loop never blocks on the disk, and writes are serialised, which is
what makes per-conversation `seq` numbers gapless.

Group commit: when calls queue up while the thread is busy, it runs them
together in one transaction, each inside its own savepoint (a call that fails
is rolled back alone), commits once, and only then hands every result back to
the event loop in one wake-up. Nothing is reported done before it is
committed; under load, one commit and one wake-up serve many messages
(docs/benchmarks.md).

Lifecycle: nothing runs before `await open()` (which starts the thread and
brings the schema up to date) and nothing after `await close()` (which
finishes the calls already made, closes the connection and joins the thread).
A call outside that window raises `StoreNotOpen` or `StoreClosed`.

A second engine (PostgreSQL) offers the same `open`, `close`, `read` and
`write`: the repositories' functions are handed its connection instead."""

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
from .sql import atomic

T = TypeVar("T")


class StoreClosed(RuntimeError):
    """A call reached the store after it was closed (the server is stopping)."""


class StoreNotOpen(StoreClosed):
    """A call reached the store before `open()`."""


Outcome = tuple["asyncio.Future[Any]", bool, Any]
Call = tuple[Callable[..., Any], tuple[Any, ...], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


def _close_marker(conn: sqlite3.Connection) -> None:
    """Queued by close(): the thread closes the connection and stops."""


def _settle(outcomes: list[Outcome]) -> None:
    for future, ok, value in outcomes:
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class SQLiteEngine:
    MAX_BATCH = 64  # calls per group commit: bounds how long the first one waits for the last

    def __init__(self, path: Path | str, synchronous: str = "NORMAL", checkpoint_every: int = 100) -> None:
        self.path = str(path)
        self.synchronous = synchronous
        self.checkpoint_every = checkpoint_every
        self._batches_since_checkpoint = 0
        self._calls: queue.SimpleQueue[Call] = queue.SimpleQueue()
        self._conn: sqlite3.Connection | None = None
        self._state = "new"  # new -> opening -> open -> closed
        self.thread: threading.Thread | None = None

    @property
    def is_open(self) -> bool:
        return self._state == "open"

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
        """Run `fn(connection, *args)` on the store's thread. SQLite reads share
        the writer's queue (one connection, one thread); a server database may
        send them to a pool instead."""
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

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> int:
        return schema.migrate(Database(conn, recursive_triggers=False, execute_plugins=False))

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
                self._checkpoint()
            if closing:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                self._hand_back(batch[-1:], [(batch[-1][3], True, None)])
                return

    def _run_batch(self, batch: list[Call]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        try:
            conn = self._connection()
            grouped = len(batch) > 1 and not conn.in_transaction
            if grouped:
                conn.execute("BEGIN")
            for fn, args, _, future in batch:
                try:
                    if grouped:
                        with atomic(conn):  # a savepoint: a failing call is undone alone
                            outcomes.append((future, True, fn(conn, *args)))
                    else:
                        outcomes.append((future, True, fn(conn, *args)))
                except BaseException as e:  # noqa: BLE001 - handed to the caller
                    outcomes.append((future, False, e))
            if grouped:
                conn.execute("COMMIT")
        except BaseException as e:  # noqa: BLE001 - the commit failed: nothing of the batch happened
            if self._conn is not None and self._conn.in_transaction:
                self._conn.rollback()
            outcomes = [(future, False, e) for _, _, _, future in batch]
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
