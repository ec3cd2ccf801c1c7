"""All SQL lives here. The rest of the program calls these async methods and
gets plain dicts back; it never sees a connection, so the store can later move
to a server database without touching the domain.

SQLite work runs on one dedicated thread that owns the connection: the event
loop never blocks on the disk, and writes are serialised, which is what makes
per-conversation `seq` numbers gapless."""
from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, TypeVar

from sqlite_utils import Database

from ..clock import isoformat
from .schema import migrate

T = TypeVar("T")

MESSAGE_COLUMNS = ("id, conversation_id, seq, sender_type, sender_name, sender_id, text, client_id, "
                   "intent, confidence, meta, created_at")


def _message_row(row: sqlite3.Row | tuple) -> dict[str, Any]:
    keys = [c.strip() for c in MESSAGE_COLUMNS.split(",")]
    message = dict(zip(keys, row))
    message["meta"] = json.loads(message["meta"]) if message["meta"] else {}
    return message


class Store:
    def __init__(self, path: Path | str, synchronous: str = "NORMAL") -> None:
        self.path = str(path)
        self.synchronous = synchronous
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self._local = threading.local()

    # -- plumbing -----------------------------------------------------------------

    def _db(self) -> Database:
        db = getattr(self._local, "db", None)
        if db is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None)
            db = Database(conn)
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives a crash of the process;
            # only a power loss can take the last commits back (docs/security.md).
            db.execute(f"PRAGMA synchronous={self.synchronous}")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA busy_timeout=5000")
            self._local.db = db
        return db

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self._db(), *args))

    async def open(self) -> int:
        """Create or upgrade the schema; returns its version."""
        return await self._call(migrate)

    async def close(self) -> None:
        def _close(db: Database) -> None:
            db.close()
            self._local.db = None
        await self._call(_close)
        self._executor.shutdown(wait=True)

    async def integrity_check(self) -> str:
        return await self._call(lambda db: db.execute("PRAGMA integrity_check").fetchone()[0])

    # -- seeding --------------------------------------------------------------------

    async def is_empty(self) -> bool:
        return await self._call(lambda db: db.execute("SELECT count(*) FROM users").fetchone()[0] == 0)

    async def seed(self, tables: dict[str, list[dict[str, Any]]]) -> bool:
        """Insert rows into an empty database in one transaction; a database
        that already holds users is left alone. Returns whether it seeded."""
        def _seed(db: Database) -> bool:
            with db.atomic():
                if db.execute("SELECT count(*) FROM users").fetchone()[0]:
                    return False
                for table, rows in tables.items():
                    if rows:
                        db[table].insert_all(rows)
            return True
        return await self._call(_seed)

    # -- brands and users -------------------------------------------------------------

    async def upsert_brand(self, brand_id: str, name: str) -> None:
        await self._call(lambda db: db["brands"].upsert({"id": brand_id, "name": name}, pk="id"))

    async def user_by_email(self, brand: str, email: str) -> dict[str, Any] | None:
        return await self._call(lambda db: next(db.query(
            "SELECT * FROM users WHERE brand = ? AND email = ? COLLATE NOCASE", [brand, email]), None))

    async def user(self, user_id: int) -> dict[str, Any] | None:
        return await self._call(lambda db: next(db.query("SELECT * FROM users WHERE id = ?", [user_id]), None))

    async def create_user(self, row: dict[str, Any]) -> int:
        return await self._call(lambda db: db["users"].insert(row).last_pk)

    async def users_by_ids(self, ids: list[int]) -> list[dict[str, Any]]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        return await self._call(lambda db: list(db.query(f"SELECT * FROM users WHERE id IN ({marks})", ids)))

    # -- sessions and login throttling -------------------------------------------------

    async def create_session(self, token_hash: str, user_id: int, now: datetime, expires_at: datetime) -> None:
        await self._call(lambda db: db.execute(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
            [token_hash, user_id, isoformat(now), isoformat(expires_at)]))

    async def session_user(self, token_hash: str, now: datetime) -> dict[str, Any] | None:
        return await self._call(lambda db: next(db.query(
            "SELECT users.* FROM sessions JOIN users ON users.id = sessions.user_id "
            "WHERE sessions.token_hash = ? AND sessions.expires_at > ?", [token_hash, isoformat(now)]), None))

    async def delete_session(self, token_hash: str) -> None:
        await self._call(lambda db: db.execute("DELETE FROM sessions WHERE token_hash = ?", [token_hash]))

    async def delete_user_sessions(self, user_id: int) -> None:
        await self._call(lambda db: db.execute("DELETE FROM sessions WHERE user_id = ?", [user_id]))

    async def record_login_failure(self, key: str, at: datetime) -> None:
        await self._call(lambda db: db.execute(
            "INSERT INTO login_failures (key, at) VALUES (?, ?)", [key, isoformat(at)]))

    async def count_login_failures(self, key: str, since: datetime) -> int:
        return await self._call(lambda db: db.execute(
            "SELECT count(*) FROM login_failures WHERE key = ? AND at > ?", [key, isoformat(since)]).fetchone()[0])

    async def clear_login_failures(self, key: str) -> None:
        await self._call(lambda db: db.execute("DELETE FROM login_failures WHERE key = ?", [key]))

    # -- conversations and messages -------------------------------------------------------

    async def open_conversation(self, brand: str, user_id: int, now: datetime) -> dict[str, Any]:
        """The user's conversation that is not closed, or a new one."""
        def _open(db: Database) -> dict[str, Any]:
            with db.atomic():
                row = next(db.query(
                    "SELECT * FROM conversations WHERE user_id = ? AND brand = ? AND state != 'closed' "
                    "ORDER BY id DESC LIMIT 1", [user_id, brand]), None)
                if row:
                    return row
                stamp = isoformat(now)
                cursor = db.execute(
                    "INSERT INTO conversations (brand, user_id, state, created_at, updated_at, last_seq) "
                    "VALUES (?, ?, 'bot', ?, ?, 0)", [brand, user_id, stamp, stamp])
                return next(db.query("SELECT * FROM conversations WHERE id = ?", [cursor.lastrowid]))
        return await self._call(_open)

    async def conversation(self, conversation_id: int) -> dict[str, Any] | None:
        return await self._call(lambda db: next(db.query(
            "SELECT * FROM conversations WHERE id = ?", [conversation_id]), None))

    async def set_conversation_state(self, conversation_id: int, state: str, now: datetime) -> None:
        stamp = isoformat(now)
        await self._call(lambda db: db.execute(
            "UPDATE conversations SET state = ?, updated_at = ?, "
            "closed_at = CASE WHEN ? = 'closed' THEN ? ELSE closed_at END WHERE id = ?",
            [state, stamp, state, stamp, conversation_id]))

    async def add_message(self, conversation_id: int, *, sender_type: str, sender_name: str,
                          sender_id: int | None, text: str, now: datetime, client_id: str | None = None,
                          intent: str | None = None, confidence: float | None = None,
                          meta: dict[str, Any] | None = None) -> tuple[dict[str, Any], bool]:
        """Store a message with the next `seq` of its conversation, committed
        before this returns. A `client_id` seen before in the conversation is
        not stored again: the first message comes back with created=False."""
        def _add(db: Database) -> tuple[dict[str, Any], bool]:
            with db.atomic():
                cursor = db.execute(
                    f"INSERT INTO messages ({MESSAGE_COLUMNS.replace('id, ', '', 1)}) "
                    "VALUES (?, (SELECT last_seq + 1 FROM conversations WHERE id = ?), "
                    "?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [conversation_id, conversation_id, sender_type, sender_name, sender_id, text, client_id,
                     intent, confidence, json.dumps(meta) if meta else None, isoformat(now)])
                if cursor.rowcount == 1:
                    db.execute("UPDATE conversations SET last_seq = last_seq + 1, updated_at = ? WHERE id = ?",
                               [isoformat(now), conversation_id])
                    row = db.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?",
                                     [cursor.lastrowid]).fetchone()
                    return _message_row(row), True
                row = db.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? "
                                 "AND client_id = ?", [conversation_id, client_id]).fetchone()
                return _message_row(row), False
        return await self._call(_add)

    async def messages(self, conversation_id: int, *, after_seq: int | None = None,
                       limit: int | None = None) -> list[dict[str, Any]]:
        """Messages in `seq` order: those after `after_seq`, or the last `limit`."""
        def _messages(db: Database) -> list[dict[str, Any]]:
            if after_seq is not None:
                rows = db.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? "
                                  "AND seq > ? ORDER BY seq", [conversation_id, after_seq]).fetchall()
            else:
                rows = db.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? "
                                  "ORDER BY seq DESC LIMIT ?", [conversation_id, limit or -1]).fetchall()
                rows.reverse()
            return [_message_row(r) for r in rows]
        return await self._call(_messages)

    # -- the customer's records --------------------------------------------------------------

    async def orders_of(self, user_id: int) -> list[dict[str, Any]]:
        return await self._call(lambda db: list(db.query(
            "SELECT * FROM orders WHERE user_id = ? ORDER BY created_at DESC", [user_id])))

    async def shipments_of(self, order_number: str) -> list[dict[str, Any]]:
        return await self._call(lambda db: list(db.query(
            "SELECT * FROM shipments WHERE order_number = ? ORDER BY id", [order_number])))

    async def refunds_of(self, user_id: int) -> list[dict[str, Any]]:
        return await self._call(lambda db: list(db.query(
            "SELECT * FROM refunds WHERE user_id = ? ORDER BY requested_at DESC", [user_id])))

    async def purchases_of(self, user_id: int) -> list[dict[str, Any]]:
        return await self._call(lambda db: list(db.query(
            "SELECT * FROM purchases WHERE user_id = ? ORDER BY purchased_at DESC", [user_id])))

    async def withdrawals_of(self, user_id: int) -> list[dict[str, Any]]:
        return await self._call(lambda db: list(db.query(
            "SELECT * FROM withdrawals WHERE user_id = ? ORDER BY requested_at DESC", [user_id])))

    async def table_rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of one table: for seeding checks and tests."""
        if table not in {"brands", "users", "orders", "shipments", "refunds", "purchases", "withdrawals",
                         "conversations", "messages", "sessions"}:
            raise ValueError(table)
        return await self._call(lambda db: list(db.query(f"SELECT * FROM {table}")))
