"""All SQL lives here. The rest of the program calls `Store`'s async methods
and gets plain dicts back; it never sees a connection, so the store runs on a
server database without touching the domain.

Two back ends, one set of repositories: `Store(path)` is a SQLite file (the
default: nothing to install or run); `Store("postgresql://user:pass@host/db")`
is a PostgreSQL database that several processes can share (the `cluster`
extra installs psycopg; postgres.py says what the URL may carry).

The parts:
  engine.py          the engine both share: one connection on one thread,
                     group commit, the open/close lifecycle; and the SQLite
                     engine (the file, checkpoints, migrations)
  postgres.py        the PostgreSQL engine, and the connection that lets the
                     repositories' SQL run on it (the one dialect seam)
  schema.py          the versioned schema (the migrations), SQLite's
  schema_postgres.py the same versions on PostgreSQL
  sql.py             the helpers the repositories share, and what differs
                     between the two dialects
  users.py, conversations.py, records.py, handoffs.py, operator.py, tables.py
                     the repositories: plain functions of a connection, all the SQL
  facade.py          `Store`'s methods, one line each: a repository function on
                     the engine's read or write path

Lifecycle: `Store(path)` starts nothing. `await store.open()` starts the
store's thread and brings the schema up to date; `await store.close()`
finishes the calls already made and stops it. `async with Store(path) as
store:` does both. The server opens and closes it in a `cleanup_ctx`
(web/app.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from .conversations import MESSAGE_COLUMNS, dialogue_state_of
from .engine import SQLiteEngine, StoreClosed, StoreNotOpen, ThreadEngine
from .facade import Conversations, Handoffs, Operator, Records, Tables, Users
from .operator import VersionConflict
from .sql import atomic

__all__ = [
    "MESSAGE_COLUMNS",
    "Store",
    "StoreClosed",
    "StoreNotOpen",
    "VersionConflict",
    "atomic",
    "dialogue_state_of",
]

T = TypeVar("T")


class Store(Tables, Users, Conversations, Records, Handoffs, Operator):
    def __init__(self, path: Path | str, synchronous: str = "NORMAL", checkpoint_every: int = 100) -> None:
        """`path`: a SQLite file (`synchronous` and `checkpoint_every` are its
        settings), or a postgresql:// URL."""
        self._engine: ThreadEngine
        if isinstance(path, str) and path.startswith(("postgresql://", "postgres://")):
            self._engine = _postgres_engine(path)
        else:
            self._engine = SQLiteEngine(path, synchronous=synchronous, checkpoint_every=checkpoint_every)
        self.path = self._engine.path  # a URL without its password

    async def open(self) -> int:
        """Start the store's thread, create or upgrade the schema; returns its version."""
        return await self._engine.open()

    async def close(self) -> None:
        """Finish the calls already made, close the connection and stop the
        thread; later calls raise StoreClosed."""
        await self._engine.close()

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def is_open(self) -> bool:
        return self._engine.is_open

    @property
    def _thread(self) -> threading.Thread | None:
        """The store's thread (bench/turns.py reads its CPU clock)."""
        return self._engine.thread

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(connection, *args)` on the write path (tests drive the engine with it)."""
        return await self._engine.write(fn, *args)


def _postgres_engine(url: str) -> ThreadEngine:
    """Imported only for a URL: psycopg is the optional `cluster` extra, and
    the embedded default never needs it."""
    try:
        from .postgres import PostgresEngine
    except ImportError as e:
        raise ImportError(
            "a postgresql:// store needs psycopg: pip install -r requirements-cluster.lock (or '.[cluster]')"
        ) from e
    return PostgresEngine(url)
