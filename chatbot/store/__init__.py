"""All SQL lives here. The rest of the program calls these async methods and
gets plain dicts back; it never sees a connection, so the store can later move
to a server database without touching the domain.

SQLite work runs on one dedicated thread that owns the connection: the event
loop never blocks on the disk, and writes are serialised, which is what makes
per-conversation `seq` numbers gapless.

Group commit: when calls queue up while the thread is busy, it runs them
together in one transaction, each inside its own savepoint (a call that fails
is rolled back alone), commits once, and only then hands every result back to
the event loop in one wake-up. Nothing is reported done before it is
committed; under load, one commit and one wake-up serve many messages
(docs/benchmarks.md)."""
from __future__ import annotations

import asyncio
import json
import queue
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, TypeVar

from sqlite_utils import Database

from ..clock import isoformat
from .schema import migrate

T = TypeVar("T")

MESSAGE_COLUMNS = ("id, conversation_id, seq, sender_type, sender_name, sender_id, text, client_id, "
                   "intent, confidence, meta, created_at")


_MESSAGE_KEYS = tuple(c.strip() for c in MESSAGE_COLUMNS.split(","))


def _message_row(row: sqlite3.Row | tuple) -> dict[str, Any]:
    message = dict(zip(_MESSAGE_KEYS, row))
    message["meta"] = json.loads(message["meta"]) if message["meta"] else {}
    return message


def dialogue_state_of(conversation: dict[str, Any]) -> dict[str, Any]:
    """The dialogue state stored in a conversation row (`Store.conversation`)."""
    raw = conversation.get("dialogue_state")
    return json.loads(raw) if raw else {}


@contextmanager
def atomic(db: Database) -> Iterator[None]:
    """A transaction, or a savepoint inside one: sqlite-utils' `Database.atomic`
    with one fixed savepoint name. Its random names cost a `urandom` call and
    two statements SQLite prepares afresh (the statement cache is keyed by
    text) on every store call of a group commit: a fifth of the store thread's
    time (bench/turns.py). SQLite nests savepoints of the same name: ROLLBACK
    TO and RELEASE act on the innermost."""
    conn = db.conn
    if conn.in_transaction:
        conn.execute("SAVEPOINT store_call")
        try:
            yield
        except BaseException:
            if conn.in_transaction:     # an error may have ended the transaction already
                conn.execute("ROLLBACK TO store_call")
                conn.execute("RELEASE store_call")
            raise
        conn.execute("RELEASE store_call")
        return
    conn.execute("BEGIN")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class StoreClosed(RuntimeError):
    """A call reached the store after it was closed (the server is stopping)."""


_CLOSE = object()   # queued by Store.close: the thread closes the connection and stops


def _settle(outcomes: list[tuple[asyncio.Future, bool, Any]]) -> None:
    for future, ok, value in outcomes:
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class Store:
    MAX_BATCH = 64     # calls per group commit: bounds how long the first one waits for the last

    def __init__(self, path: Path | str, synchronous: str = "NORMAL", checkpoint_every: int = 100) -> None:
        self.path = str(path)
        self.synchronous = synchronous
        self.checkpoint_every = checkpoint_every
        self._batches_since_checkpoint = 0
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._db_handle: Database | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._serve_calls, name="store", daemon=True)
        self._thread.start()

    # -- plumbing -----------------------------------------------------------------

    def _db(self) -> Database:
        if self._db_handle is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db = Database(conn)
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives a crash of the process;
            # only a power loss can take the last commits back (docs/security.md).
            db.execute(f"PRAGMA synchronous={self.synchronous}")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA busy_timeout=5000")
            if self._checkpoints_apart():
                # Why: a checkpoint copies the WAL into the database and syncs
                # it; run from a commit (SQLite's own rule), the calls of that
                # commit wait for it. _checkpoint runs it after a batch's
                # results have gone back instead.
                db.execute("PRAGMA wal_autocheckpoint=0")
            self._db_handle = db
        return self._db_handle

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closing:
            raise StoreClosed("the store is closed")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._calls.put((fn, args, loop, future))
        return await future

    def _serve_calls(self) -> None:
        """The store's thread: take the calls waiting, run them as one group
        commit, and report them done after the commit; at _CLOSE, close the
        connection and stop."""
        while True:
            batch = [self._calls.get()]
            while len(batch) < self.MAX_BATCH and batch[-1][0] is not _CLOSE:
                try:
                    batch.append(self._calls.get_nowait())
                except queue.Empty:
                    break
            closing = batch[-1][0] is _CLOSE
            calls = batch[:-1] if closing else batch
            if calls:
                self._run_batch(calls)
                self._checkpoint()
            if closing:
                if self._db_handle is not None:
                    self._db_handle.close()
                    self._db_handle = None
                _, _, loop, future = batch[-1]
                loop.call_soon_threadsafe(_settle, [(future, True, None)])
                return

    def _run_batch(self, batch: list[tuple]) -> None:
        outcomes: list[tuple[Any, bool, Any]] = []
        try:
            db = self._db()
            grouped = len(batch) > 1 and not db.conn.in_transaction
            if grouped:
                db.execute("BEGIN")
            for fn, args, _, future in batch:
                try:
                    if grouped:
                        with atomic(db):            # a savepoint: a failing call is undone alone
                            outcomes.append((future, True, fn(db, *args)))
                    else:
                        outcomes.append((future, True, fn(db, *args)))
                except BaseException as e:  # noqa: BLE001 - handed to the caller
                    outcomes.append((future, False, e))
            if grouped:
                db.execute("COMMIT")
        except BaseException as e:  # noqa: BLE001 - the commit failed: nothing of the batch happened
            if self._db_handle is not None and self._db_handle.conn.in_transaction:
                self._db_handle.conn.rollback()
            outcomes = [(future, False, e) for _, _, _, future in batch]
        by_loop: dict[asyncio.AbstractEventLoop, list] = {}
        for (_, _, loop, _), outcome in zip(batch, outcomes):
            by_loop.setdefault(loop, []).append(outcome)
        for loop, settled in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, settled)
            except RuntimeError:       # that loop has closed: nobody is waiting any more
                pass

    async def open(self) -> int:
        """Create or upgrade the schema; returns its version."""
        return await self._call(migrate)

    def _checkpoints_apart(self) -> bool:
        return self.path != ":memory:" and self.checkpoint_every > 0

    def _checkpoint(self) -> None:
        """Every checkpoint_every batches, copy the WAL into the database, on
        this thread, between batches. Why not a thread of its own: its wake-ups
        made a third thread contend for the GIL, and the event loop stalled for
        6-16 ms at a time while the store wrote (bench/micro.py; 1-3 ms this
        way). PASSIVE never waits for readers; what it cannot copy yet is
        copied next time."""
        if not self._checkpoints_apart() or self._db_handle is None:
            return
        self._batches_since_checkpoint += 1
        if self._batches_since_checkpoint < self.checkpoint_every:
            return
        self._batches_since_checkpoint = 0
        try:
            self._db_handle.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass

    async def close(self) -> None:
        """Finish the calls already made, close the connection; later calls raise StoreClosed."""
        if self._closing:
            return
        self._closing = True
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._calls.put((_CLOSE, (), loop, future))
        await future
        await loop.run_in_executor(None, self._thread.join)

    async def integrity_check(self) -> str:
        return await self._call(lambda db: db.execute("PRAGMA integrity_check").fetchone()[0])

    # -- seeding --------------------------------------------------------------------

    async def is_empty(self) -> bool:
        return await self._call(lambda db: db.execute("SELECT count(*) FROM users").fetchone()[0] == 0)

    async def seed(self, tables: dict[str, list[dict[str, Any]]]) -> bool:
        """Insert rows into an empty database in one transaction; a database
        that already holds users is left alone. Returns whether it seeded."""
        def _seed(db: Database) -> bool:
            with atomic(db):
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

    async def use_token_id(self, brand: str, jti: str, expires_at: datetime, now: datetime) -> bool:
        """Remember a host token's id; False if it was seen before (a replay)."""
        def _use(db: Database) -> bool:
            with atomic(db):
                db.execute("DELETE FROM used_token_ids WHERE expires_at < ?", [isoformat(now)])
                cursor = db.execute("INSERT INTO used_token_ids (brand, jti, expires_at) VALUES (?, ?, ?) "
                                    "ON CONFLICT DO NOTHING", [brand, jti, isoformat(expires_at)])
                return cursor.rowcount == 1
        return await self._call(_use)

    async def set_password_hash(self, user_id: int, password_hash: str, now: datetime) -> None:
        await self._call(lambda db: db.execute(
            "UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?",
            [password_hash, isoformat(now), user_id]))

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
            with atomic(db):
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
                          meta: dict[str, Any] | None = None,
                          dialogue_state: dict[str, Any] | None = None) -> tuple[dict[str, Any], bool]:
        """Store a message with the next `seq` of its conversation, committed
        before this returns. A `client_id` seen before in the conversation is
        not stored again: the first message comes back with created=False.
        With `dialogue_state`, the conversation's state is saved in the same
        transaction."""
        stamp = isoformat(now)
        state = json.dumps(dialogue_state) if dialogue_state is not None else None

        def _add(db: Database) -> tuple[dict[str, Any], bool]:
            with atomic(db):
                inserted = db.execute(
                    f"INSERT INTO messages ({MESSAGE_COLUMNS.replace('id, ', '', 1)}) "
                    "VALUES (?, (SELECT last_seq + 1 FROM conversations WHERE id = ?), "
                    f"?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING {MESSAGE_COLUMNS}",
                    [conversation_id, conversation_id, sender_type, sender_name, sender_id, text, client_id,
                     intent, confidence, json.dumps(meta) if meta else None, stamp]).fetchall()
                if inserted:
                    db.execute("UPDATE conversations SET last_seq = last_seq + 1, updated_at = ?, "
                               "dialogue_state = coalesce(?, dialogue_state) WHERE id = ?",
                               [stamp, state, conversation_id])
                    return _message_row(inserted[0]), True
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

    async def record_of(self, table: str, number: str, user_id: int) -> dict[str, Any] | None:
        """One order, purchase, refund or withdrawal, only if it is the user's.
        Someone else's number and a number that does not exist look the same."""
        if table not in {"orders", "purchases", "refunds", "withdrawals"}:
            raise ValueError(table)
        return await self._call(lambda db: next(db.query(
            f"SELECT * FROM {table} WHERE number = ? AND user_id = ?", [number, user_id]), None))

    async def refunds_for(self, *, order_number: str | None = None,
                          purchase_number: str | None = None) -> list[dict[str, Any]]:
        column, value = ("order_number", order_number) if order_number else ("purchase_number", purchase_number)
        return await self._call(lambda db: list(db.query(
            f"SELECT * FROM refunds WHERE {column} = ? ORDER BY requested_at DESC", [value])))

    async def dialogue_state(self, conversation_id: int) -> dict[str, Any]:
        raw = await self._call(lambda db: db.execute(
            "SELECT dialogue_state FROM conversations WHERE id = ?", [conversation_id]).fetchone())
        return json.loads(raw[0]) if raw and raw[0] else {}

    async def set_dialogue_state(self, conversation_id: int, state: dict[str, Any]) -> None:
        await self._call(lambda db: db.execute(
            "UPDATE conversations SET dialogue_state = ? WHERE id = ?", [json.dumps(state), conversation_id]))

    async def audit_entries(self, record: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM audit_log", []
        if record:
            sql, args = sql + " WHERE record = ?", [record]
        return await self._call(lambda db: list(db.query(sql + " ORDER BY id", args)))

    @staticmethod
    def _audit(db: Database, audit: dict[str, Any], record: str, details: dict[str, Any], now: datetime) -> None:
        db.execute("INSERT INTO audit_log (brand, user_id, conversation_id, action, record, details, at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)",
                   [audit["brand"], audit["user_id"], audit["conversation_id"], audit["action"], record,
                    json.dumps(details), isoformat(now)])

    @staticmethod
    def _next_refund_number(db: Database) -> str:
        top = db.execute("SELECT max(CAST(substr(number, 4) AS INTEGER)) FROM refunds").fetchone()[0]
        return f"RF-{(top or 5000) + 1}"

    async def change_order_status(self, number: str, user_id: int, *, to: str, allowed_from: tuple[str, ...],
                                  audit: dict[str, Any], now: datetime) -> bool:
        """Move an order to `to` if it is the user's and in `allowed_from`, with
        its audit entry, in one transaction. False when nothing changed (a
        second confirmation, or the status moved on meanwhile)."""
        def _change(db: Database) -> bool:
            with atomic(db):
                marks = ",".join("?" * len(allowed_from))
                cursor = db.execute(
                    f"UPDATE orders SET status = ?, updated_at = ? WHERE number = ? AND user_id = ? "
                    f"AND status IN ({marks})", [to, isoformat(now), number, user_id, *allowed_from])
                if cursor.rowcount != 1:
                    return False
                self._audit(db, audit, number, {"status": to}, now)
                return True
        return await self._call(_change)

    async def add_order_change(self, number: str, user_id: int, request: str, *, allowed_from: tuple[str, ...],
                               audit: dict[str, Any], now: datetime) -> int | None:
        """Record a change request on an order still in `allowed_from`; the id,
        or None if the order is not the user's or can no longer change.
        The same request twice from one conversation is recorded once."""
        def _add(db: Database) -> int | None:
            with atomic(db):
                marks = ",".join("?" * len(allowed_from))
                if not db.execute(f"SELECT 1 FROM orders WHERE number = ? AND user_id = ? AND status IN ({marks})",
                                  [number, user_id, *allowed_from]).fetchone():
                    return None
                existing = db.execute("SELECT id FROM order_changes WHERE order_number = ? AND conversation_id = ? "
                                      "AND request = ?", [number, audit["conversation_id"], request]).fetchone()
                if existing:
                    return existing[0]
                cursor = db.execute(
                    "INSERT INTO order_changes (order_number, user_id, conversation_id, request, status, created_at) "
                    "VALUES (?, ?, ?, ?, 'requested', ?)", [number, user_id, audit["conversation_id"], request,
                                                            isoformat(now)])
                self._audit(db, audit, number, {"change_request": request}, now)
                return cursor.lastrowid
        return await self._call(_add)

    async def open_refund(self, *, user_id: int, brand: str, amount_cents: int, now: datetime,
                          audit: dict[str, Any], order_number: str | None = None,
                          purchase_number: str | None = None,
                          cancel_purchase: bool = False) -> tuple[dict[str, Any], bool]:
        """Open a refund request for an order or purchase, with its audit entry
        (and, for a purchase, its cancellation), in one transaction. An open or
        finished refund for the same record is returned instead: (refund, created)."""
        def _open(db: Database) -> tuple[dict[str, Any], bool]:
            column, record = ("order_number", order_number) if order_number else ("purchase_number", purchase_number)
            with atomic(db):
                existing = next(db.query(f"SELECT * FROM refunds WHERE {column} = ? AND status != 'rejected'",
                                         [record]), None)
                if existing:
                    return existing, False
                number = self._next_refund_number(db)
                db.execute(
                    "INSERT INTO refunds (number, brand, user_id, order_number, purchase_number, status, "
                    "amount_cents, currency, requested_at) VALUES (?, ?, ?, ?, ?, 'requested', ?, 'USD', ?)",
                    [number, brand, user_id, order_number, purchase_number, amount_cents, isoformat(now)])
                if cancel_purchase:
                    db.execute("UPDATE purchases SET status = 'cancelled' WHERE number = ? AND user_id = ?",
                               [purchase_number, user_id])
                self._audit(db, audit, record, {"refund": number, "amount_cents": amount_cents,
                                                "cancelled": cancel_purchase}, now)
                return next(db.query("SELECT * FROM refunds WHERE number = ?", [number])), True
        return await self._call(_open)

    async def create_case(self, row: dict[str, Any], audit: dict[str, Any], now: datetime) -> int:
        def _create(db: Database) -> int:
            with atomic(db):
                cursor = db.execute(
                    "INSERT INTO cases (brand, user_id, conversation_id, kind, order_number, description, status, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, 'open', ?)",
                    [row["brand"], row["user_id"], row["conversation_id"], row["kind"], row.get("order_number"),
                     row["description"], isoformat(now)])
                case_id = cursor.lastrowid
                db.execute("UPDATE attachments SET case_id = ? WHERE conversation_id = ? AND case_id IS NULL",
                           [case_id, row["conversation_id"]])
                self._audit(db, audit, row.get("order_number") or f"case-{case_id}", {"case": case_id}, now)
                return case_id
        return await self._call(_create)

    async def cases(self, brand: str) -> list[dict[str, Any]]:
        return await self._call(lambda db: list(db.query(
            "SELECT * FROM cases WHERE brand = ? ORDER BY id DESC", [brand])))

    async def add_attachment(self, row: dict[str, Any]) -> int:
        return await self._call(lambda db: db["attachments"].insert(row).last_pk)

    async def attachments(self, conversation_id: int) -> list[dict[str, Any]]:
        return await self._call(lambda db: list(db.query(
            "SELECT * FROM attachments WHERE conversation_id = ? ORDER BY id", [conversation_id])))

    # -- handoffs, tickets and notes ------------------------------------------------------------

    HANDOFF_FIELDS = {"state", "assigned_agent_id", "assigned_at", "first_response_at", "flagged_at",
                      "breached_at", "customer_left_at", "abandoned_at", "ended_at", "rating", "rated_at"}

    async def create_handoff(self, row: dict[str, Any], conversation_state: str) -> tuple[dict[str, Any], bool]:
        """Queue a conversation; the live handoff it already has comes back
        instead of a second one: (handoff, created)."""
        def _create(db: Database) -> tuple[dict[str, Any], bool]:
            with atomic(db):
                cursor = db.execute(
                    "INSERT INTO handoffs (brand, conversation_id, user_id, reason, intent, confidence, state, "
                    "queued_at) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?) ON CONFLICT DO NOTHING",
                    [row["brand"], row["conversation_id"], row["user_id"], row["reason"], row.get("intent"),
                     row.get("confidence"), row["queued_at"]])
                created = cursor.rowcount == 1
                if created:
                    db.execute("UPDATE conversations SET state = ?, updated_at = ? WHERE id = ?",
                               [conversation_state, row["queued_at"], row["conversation_id"]])
                live = next(db.query("SELECT * FROM handoffs WHERE conversation_id = ? AND state IN "
                                     "('queued', 'assigned')", [row["conversation_id"]]))
                return live, created
        return await self._call(_create)

    async def handoff(self, handoff_id: int) -> dict[str, Any] | None:
        return await self._call(lambda db: next(db.query("SELECT * FROM handoffs WHERE id = ?", [handoff_id]), None))

    async def live_handoff(self, conversation_id: int) -> dict[str, Any] | None:
        return await self._call(lambda db: next(db.query(
            "SELECT * FROM handoffs WHERE conversation_id = ? AND state IN ('queued', 'assigned')",
            [conversation_id]), None))

    async def last_handoff(self, conversation_id: int) -> dict[str, Any] | None:
        return await self._call(lambda db: next(db.query(
            "SELECT * FROM handoffs WHERE conversation_id = ? ORDER BY id DESC LIMIT 1", [conversation_id]), None))

    async def live_handoffs(self, brand: str | None = None) -> list[dict[str, Any]]:
        """Queued ones first in queue order (oldest handoff first), then the assigned ones."""
        where, args = ("AND brand = ?", [brand]) if brand else ("", [])
        return await self._call(lambda db: list(db.query(
            f"SELECT * FROM handoffs WHERE state IN ('queued', 'assigned') {where} "
            "ORDER BY state = 'assigned', queued_at, id", args)))

    async def move_handoff(self, handoff_id: int, *, to: str, from_states: tuple[str, ...],
                           conversation_state: str | None = None, agent_id: int | None = None,
                           expect_agent: int | None = None, fields: dict[str, Any] | None = None) -> bool:
        """Change a handoff's state only if it is in `from_states` (and held by
        `expect_agent`, when given), with the conversation's state, in one
        transaction. This conditional update is what makes two agents
        accepting at the same instant safe: one row changes, once."""
        fields = dict(fields or {})
        if not set(fields) <= self.HANDOFF_FIELDS:
            raise ValueError(f"unknown handoff fields {set(fields) - self.HANDOFF_FIELDS}")
        fields["state"] = to
        if to == "assigned" or agent_id is not None:
            fields["assigned_agent_id"] = agent_id

        def _move(db: Database) -> bool:
            sets = ", ".join(f"{k} = ?" for k in fields)
            marks = ",".join("?" * len(from_states))
            sql = f"UPDATE handoffs SET {sets} WHERE id = ? AND state IN ({marks})"
            args = [*fields.values(), handoff_id, *from_states]
            if expect_agent is not None:
                sql += " AND assigned_agent_id = ?"
                args.append(expect_agent)
            with atomic(db):
                if db.execute(sql, args).rowcount != 1:
                    return False
                if conversation_state:
                    db.execute("UPDATE conversations SET state = ?, closed_at = CASE WHEN ? = 'closed' "
                               "THEN ? ELSE closed_at END WHERE id = (SELECT conversation_id FROM handoffs "
                               "WHERE id = ?)", [conversation_state, conversation_state,
                                                 fields.get("ended_at"), handoff_id])
                return True
        return await self._call(_move)

    async def update_handoff(self, handoff_id: int, **fields: Any) -> None:
        if not set(fields) <= self.HANDOFF_FIELDS:
            raise ValueError(f"unknown handoff fields {set(fields) - self.HANDOFF_FIELDS}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        await self._call(lambda db: db.execute(f"UPDATE handoffs SET {sets} WHERE id = ?",
                                               [*fields.values(), handoff_id]))

    async def handoffs_since(self, brand: str, since: datetime) -> list[dict[str, Any]]:
        return await self._call(lambda db: list(db.query(
            "SELECT * FROM handoffs WHERE brand = ? AND queued_at >= ? ORDER BY queued_at",
            [brand, isoformat(since)])))

    async def conversation_counts(self, brand: str, since: datetime) -> dict[str, int]:
        """Conversations with customer messages since `since`, and how many of them never had a handoff."""
        def _counts(db: Database) -> dict[str, int]:
            row = db.execute(
                "SELECT count(*), sum(NOT EXISTS (SELECT 1 FROM handoffs h WHERE h.conversation_id = c.id)) "
                "FROM conversations c WHERE c.brand = ? AND c.updated_at >= ? AND c.last_seq > 0",
                [brand, isoformat(since)]).fetchone()
            return {"conversations": row[0] or 0, "bot_only": row[1] or 0}
        return await self._call(_counts)

    async def conversations_of(self, user_id: int, limit: int = 10) -> list[dict[str, Any]]:
        return await self._call(lambda db: list(db.query(
            "SELECT * FROM conversations WHERE user_id = ? ORDER BY id DESC LIMIT ?", [user_id, limit])))

    async def create_ticket(self, row: dict[str, Any]) -> int:
        return await self._call(lambda db: db["tickets"].insert(row).last_pk)

    async def tickets(self, brand: str) -> list[dict[str, Any]]:
        return await self._call(lambda db: list(db.query(
            "SELECT * FROM tickets WHERE brand = ? ORDER BY id DESC", [brand])))

    async def add_note(self, row: dict[str, Any]) -> dict[str, Any]:
        def _add(db: Database) -> dict[str, Any]:
            row_id = db["notes"].insert(row).last_pk
            return next(db.query("SELECT * FROM notes WHERE id = ?", [row_id]))
        return await self._call(_add)

    async def notes(self, conversation_id: int) -> list[dict[str, Any]]:
        return await self._call(lambda db: list(db.query(
            "SELECT * FROM notes WHERE conversation_id = ? ORDER BY id", [conversation_id])))

    async def set_supervisor(self, user_id: int, allowed: bool) -> None:
        await self._call(lambda db: db.execute("UPDATE users SET is_supervisor = ? WHERE id = ?",
                                               [int(allowed), user_id]))

    async def users_of_brand(self, brand: str, role: str) -> list[dict[str, Any]]:
        return await self._call(lambda db: list(db.query(
            "SELECT id, brand, email, name, role FROM users WHERE brand = ? AND role = ? ORDER BY id",
            [brand, role])))

    # -- operator tools: intent versions, evaluation runs, the misses inbox, analytics ---------

    async def add_intent_version(self, row: dict[str, Any]) -> int:
        """Record a new version of an intent file; returns its number."""
        def _add(db: Database) -> int:
            with atomic(db):
                top = db.execute("SELECT max(version) FROM intent_versions WHERE brand = ? AND intent = ?",
                                 [row["brand"], row["intent"]]).fetchone()[0]
                version = (top or 0) + 1
                db["intent_versions"].insert({**row, "version": version})
                return version
        return await self._call(_add)

    async def intent_versions(self, brand: str, intent: str) -> list[dict[str, Any]]:
        return await self._call(lambda db: list(db.query(
            "SELECT * FROM intent_versions WHERE brand = ? AND intent = ? ORDER BY version DESC", [brand, intent])))

    async def add_eval_run(self, row: dict[str, Any]) -> int:
        return await self._call(lambda db: db["eval_runs"].insert(row).last_pk)

    async def eval_runs(self, brand: str, limit: int = 20) -> list[dict[str, Any]]:
        return await self._call(lambda db: list(db.query(
            "SELECT * FROM eval_runs WHERE brand = ? ORDER BY id DESC LIMIT ?", [brand, limit])))

    async def add_policy_version(self, row: dict[str, Any]) -> int:
        return await self._call(lambda db: db["policy_versions"].insert(row).last_pk)

    async def policy_versions(self, brand: str, limit: int = 20) -> list[dict[str, Any]]:
        """The brand's earlier policy texts, newest first, with who replaced each."""
        return await self._call(lambda db: list(db.query(
            "SELECT v.id, v.at, v.content, u.name AS author_name FROM policy_versions v "
            "LEFT JOIN users u ON u.id = v.author_id WHERE v.brand = ? ORDER BY v.id DESC LIMIT ?",
            [brand, limit])))

    async def review_miss(self, row: dict[str, Any]) -> None:
        await self._call(lambda db: db.execute(
            "INSERT INTO miss_reviews (brand, text_key, action, intent, author_id, at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (brand, text_key) DO UPDATE SET action = excluded.action, intent = excluded.intent, "
            "author_id = excluded.author_id, at = excluded.at",
            [row["brand"], row["text_key"], row["action"], row.get("intent"), row["author_id"], row["at"]]))

    async def reviewed_misses(self, brand: str) -> set[str]:
        return await self._call(lambda db: {r[0] for r in db.execute(
            "SELECT text_key FROM miss_reviews WHERE brand = ?", [brand])})

    async def customer_turns(self, brand: str, since: datetime) -> list[dict[str, Any]]:
        """Each customer message with the reply that followed it and what came
        next: the raw material of the misses inbox."""
        def _turns(db: Database) -> list[dict[str, Any]]:
            return list(db.query(
                "SELECT m.id, m.conversation_id, m.seq, m.text, m.sender_id AS user_id, m.created_at, "
                "r.sender_type AS reply_type, r.intent AS reply_intent, r.confidence AS reply_confidence, "
                "(SELECT n.text FROM messages n WHERE n.conversation_id = m.conversation_id AND n.seq > m.seq "
                " AND n.sender_type = 'customer' ORDER BY n.seq LIMIT 1) AS next_text, "
                "(SELECT h.rating FROM handoffs h WHERE h.conversation_id = m.conversation_id "
                " AND h.rating IS NOT NULL ORDER BY h.id DESC LIMIT 1) AS rating, "
                "(SELECT min(h.queued_at) FROM handoffs h WHERE h.conversation_id = m.conversation_id "
                " AND h.queued_at >= m.created_at AND NOT EXISTS (SELECT 1 FROM messages later "
                "  WHERE later.conversation_id = m.conversation_id AND later.sender_type = 'customer' "
                "  AND later.seq > m.seq AND later.created_at <= h.queued_at)) AS handoff_after "
                "FROM messages m JOIN conversations c ON c.id = m.conversation_id "
                "LEFT JOIN messages r ON r.conversation_id = m.conversation_id AND r.seq = m.seq + 1 "
                "WHERE c.brand = ? AND m.sender_type = 'customer' AND m.created_at >= ? "
                "AND (m.client_id IS NULL OR m.client_id NOT LIKE 'attachment:%') ORDER BY m.id",
                [brand, isoformat(since)]))
        return await self._call(_turns)

    async def daily_figures(self, brand: str, since: datetime) -> dict[str, list[dict[str, Any]]]:
        """Per-day aggregates for the operator's analytics."""
        def _daily(db: Database) -> dict[str, list[dict[str, Any]]]:
            args = [brand, isoformat(since)]
            return {
                "conversations": list(db.query(
                    "SELECT substr(c.created_at, 1, 10) AS day, count(*) AS conversations, "
                    "sum(NOT EXISTS (SELECT 1 FROM handoffs h WHERE h.conversation_id = c.id)) AS bot_only "
                    "FROM conversations c WHERE c.brand = ? AND c.created_at >= ? AND c.last_seq > 0 "
                    "GROUP BY day ORDER BY day", args)),
                "bot_replies": list(db.query(
                    "SELECT substr(m.created_at, 1, 10) AS day, count(*) AS replies, "
                    "sum(m.intent IS NULL) AS fallbacks FROM messages m JOIN conversations c "
                    "ON c.id = m.conversation_id WHERE c.brand = ? AND m.created_at >= ? AND m.sender_type = 'bot' "
                    "GROUP BY day ORDER BY day", args)),
                "handoffs": list(db.query(
                    "SELECT substr(queued_at, 1, 10) AS day, count(*) AS handoffs, "
                    "sum(first_response_at IS NOT NULL AND (julianday(first_response_at) - julianday(queued_at)) "
                    "* 86400 <= 300) AS within_5, sum(first_response_at IS NOT NULL AND "
                    "(julianday(first_response_at) - julianday(queued_at)) * 86400 <= 600) AS within_10, "
                    "avg(rating) AS rating, count(rating) AS ratings "
                    "FROM handoffs WHERE brand = ? AND queued_at >= ? GROUP BY day ORDER BY day", args)),
                "reasons": list(db.query(
                    "SELECT coalesce(reason, 'unknown') AS reason, count(*) AS handoffs FROM handoffs "
                    "WHERE brand = ? AND queued_at >= ? GROUP BY reason ORDER BY handoffs DESC", args)),
                "top_intents": list(db.query(
                    "SELECT m.intent, count(*) AS replies FROM messages m JOIN conversations c "
                    "ON c.id = m.conversation_id WHERE c.brand = ? AND m.created_at >= ? AND m.sender_type = 'bot' "
                    "AND m.intent IS NOT NULL GROUP BY m.intent ORDER BY replies DESC LIMIT 10", args)),
            }
        return await self._call(_daily)

    async def insert_rows(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Add rows to a table (imports, fixtures); one transaction."""
        def _insert(db: Database) -> None:
            with atomic(db):
                db[table].insert_all(rows)
        await self._call(_insert)

    async def table_rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of one table: for seeding checks and tests."""
        if table not in {"brands", "users", "orders", "shipments", "refunds", "purchases", "withdrawals",
                         "conversations", "messages", "sessions", "audit_log", "order_changes", "cases",
                         "attachments", "handoffs", "tickets", "notes", "intent_versions", "eval_runs",
                         "miss_reviews", "policy_versions"}:
            raise ValueError(table)
        return await self._call(lambda db: list(db.query(f"SELECT * FROM {table}")))
