"""Conversations, their messages (with the gapless `seq`) and the dialogue
state stored with them.

Both dialects: `add_message` relies on `INSERT ... ON CONFLICT DO NOTHING
RETURNING`, which both speak, and on holding the conversation's row while
it numbers (its UPDATE holds it: several PostgreSQL engines write at once). The
dialogue state is JSON text (a `jsonb` column would want the same
`json.dumps`/`json.loads` at the edges)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .sql import Connection, Row, atomic, isoformat, lock_row, row, rows

MESSAGE_COLUMNS = (
    "id, conversation_id, seq, sender_type, sender_name, sender_id, text, client_id, "
    "intent, confidence, meta, created_at"
)
_MESSAGE_KEYS = tuple(c.strip() for c in MESSAGE_COLUMNS.split(","))


def _message_row(values: Sequence[Any]) -> Row:
    message = dict(zip(_MESSAGE_KEYS, values, strict=True))
    message["meta"] = json.loads(message["meta"]) if message["meta"] else {}
    return message


def dialogue_state_of(conversation: Row) -> dict[str, Any]:
    """The dialogue state stored in a conversation row (`Store.conversation`)."""
    raw = conversation.get("dialogue_state")
    return json.loads(raw) if raw else {}


def open_conversation(conn: Connection, brand: str, user_id: int, now: datetime) -> Row:
    """The user's conversation that is not closed, or a new one. The user's
    row is held first: two processes opening one at once make one."""
    with atomic(conn):
        lock_row(conn, "users", user_id)
        current = row(
            conn,
            "SELECT * FROM conversations WHERE user_id = ? AND brand = ? AND state != 'closed' "
            "ORDER BY id DESC LIMIT 1",
            [user_id, brand],
        )
        if current:
            return current
        stamp = isoformat(now)
        return rows(
            conn,
            "INSERT INTO conversations (brand, user_id, state, created_at, updated_at, last_seq) "
            "VALUES (?, ?, 'bot', ?, ?, 0) RETURNING *",
            [brand, user_id, stamp, stamp],
        )[0]


def conversation(conn: Connection, conversation_id: int) -> Row | None:
    return row(conn, "SELECT * FROM conversations WHERE id = ?", [conversation_id])


def conversations_of(conn: Connection, user_id: int, limit: int = 10) -> list[Row]:
    return rows(conn, "SELECT * FROM conversations WHERE user_id = ? ORDER BY id DESC LIMIT ?", [user_id, limit])


def set_conversation_state(conn: Connection, conversation_id: int, state: str, now: datetime) -> None:
    stamp = isoformat(now)
    conn.execute(
        "UPDATE conversations SET state = ?, updated_at = ?, "
        "closed_at = CASE WHEN ? = 'closed' THEN ? ELSE closed_at END WHERE id = ?",
        [state, stamp, state, stamp, conversation_id],
    )


def add_message(
    conn: Connection,
    conversation_id: int,
    *,
    sender_type: str,
    sender_name: str,
    sender_id: int | None,
    text: str,
    now: datetime,
    client_id: str | None = None,
    intent: str | None = None,
    confidence: float | None = None,
    meta: dict[str, Any] | None = None,
    dialogue_state: dict[str, Any] | None = None,
) -> tuple[Row, bool]:
    """Store a message with the next `seq` of its conversation. A `client_id`
    seen before in the conversation is not stored again: the first message
    comes back with created=False. With `dialogue_state`, the conversation's
    state is saved in the same transaction. The conversation's row is
    counted up first, which holds it (on PostgreSQL, another process adding
    to it waits, then numbers after this one's commit: gapless, nothing lost
    or doubled); a repeated `client_id` undoes the count. Four statements
    with BEGIN and COMMIT: each is a round trip to a server database."""
    stamp = isoformat(now)
    meta_json = json.dumps(meta) if meta else None
    state = json.dumps(dialogue_state) if dialogue_state is not None else None
    values = [sender_type, sender_name, sender_id, text, client_id, intent, confidence, meta_json, stamp]
    try:
        with atomic(conn):
            seq = _advance_conversation(conn, conversation_id, stamp, state)
            message = _insert(conn, conversation_id, seq, values)
            if message is None:
                raise _StoredBefore  # undoes the count and the state
            return message, True
    except _StoredBefore:
        return _message_with_client_id(conn, conversation_id, client_id), False


class _StoredBefore(Exception):
    """The message's `client_id` is stored already (add_message)."""


def _insert(conn: Connection, conversation_id: int, seq: int | None, values: list[Any]) -> Row | None:
    """Insert a message numbered `seq`; `values` are its columns after `seq`,
    in MESSAGE_COLUMNS order. None when a unique index refused it (its
    `client_id` is stored already)."""
    inserted = conn.execute(
        f"INSERT INTO messages ({MESSAGE_COLUMNS.replace('id, ', '', 1)}) "
        f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING {MESSAGE_COLUMNS}",
        [conversation_id, seq, *values],
    ).fetchall()
    return _message_row(inserted[0]) if inserted else None


def _advance_conversation(conn: Connection, conversation_id: int, stamp: str, state: str | None) -> int | None:
    """The conversation's next `seq`, counted in its `last_seq`, and its
    dialogue state (JSON) saved when one is given. None: no such conversation."""
    counted = conn.execute(
        "UPDATE conversations SET last_seq = last_seq + 1, updated_at = ?, "
        "dialogue_state = coalesce(?, dialogue_state) WHERE id = ? RETURNING last_seq",
        [stamp, state, conversation_id],
    ).fetchone()
    return int(counted[0]) if counted else None


def _message_with_client_id(conn: Connection, conversation_id: int, client_id: str | None) -> Row:
    first = conn.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND client_id = ?",
        [conversation_id, client_id],
    ).fetchone()
    return _message_row(first)


def messages(
    conn: Connection, conversation_id: int, *, after_seq: int | None = None, limit: int | None = None
) -> list[Row]:
    """Messages in `seq` order: those after `after_seq`, or the last `limit` (all without one)."""
    if after_seq is not None:
        found = conn.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND seq > ? ORDER BY seq",
            [conversation_id, after_seq],
        ).fetchall()
    else:
        last = " LIMIT ?" if limit else ""
        found = conn.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY seq DESC{last}",
            [conversation_id, *([limit] if limit else [])],
        ).fetchall()
        found.reverse()
    return [_message_row(r) for r in found]


def dialogue_state(conn: Connection, conversation_id: int) -> dict[str, Any]:
    found = conn.execute("SELECT dialogue_state FROM conversations WHERE id = ?", [conversation_id]).fetchone()
    return json.loads(found[0]) if found and found[0] else {}


def set_dialogue_state(conn: Connection, conversation_id: int, state: dict[str, Any]) -> None:
    conn.execute("UPDATE conversations SET dialogue_state = ? WHERE id = ?", [json.dumps(state), conversation_id])
