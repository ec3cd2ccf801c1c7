"""The handoff queue, tickets and agents' notes.

Both dialects: `conversation_counts` counts with `count(*) FILTER (WHERE
...)`, which both speak. The partial unique index `handoffs_one_live`
(schema.py, schema_postgres.py) is what makes `create_handoff` safe under
races, and the conditional update of `move_handoff` what makes an accept
safe: on PostgreSQL, a second process's update waits for the first's commit
and then finds the state moved on (READ COMMITTED re-checks the row)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .conversations import add_message
from .sql import Connection, Row, atomic, changed, insert, isoformat, lock_row, marks, row, rows, value

HANDOFF_FIELDS = frozenset(
    {
        "state",
        "assigned_agent_id",
        "assigned_at",
        "first_response_at",
        "flagged_at",
        "breached_at",
        "customer_left_at",
        "abandoned_at",
        "ended_at",
        "rating",
        "rated_at",
    }
)


def check_fields(fields: dict[str, Any]) -> None:
    """Only known columns are ever named in an UPDATE."""
    if not set(fields) <= HANDOFF_FIELDS:
        raise ValueError(f"unknown handoff fields {set(fields) - HANDOFF_FIELDS}")


def create_handoff(conn: Connection, record: Row, conversation_state: str) -> tuple[Row, bool]:
    """Queue a conversation; the live handoff it already has comes back
    instead of a second one: (handoff, created)."""
    with atomic(conn):
        created = (
            changed(
                conn,
                "INSERT INTO handoffs (brand, conversation_id, user_id, reason, intent, confidence, "
                "state, queued_at) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?) ON CONFLICT DO NOTHING",
                [
                    record["brand"],
                    record["conversation_id"],
                    record["user_id"],
                    record["reason"],
                    record.get("intent"),
                    record.get("confidence"),
                    record["queued_at"],
                ],
            )
            == 1
        )
        if created:
            conn.execute(
                "UPDATE conversations SET state = ?, updated_at = ? WHERE id = ?",
                [conversation_state, record["queued_at"], record["conversation_id"]],
            )
        live = rows(
            conn,
            "SELECT * FROM handoffs WHERE conversation_id = ? AND state IN ('queued', 'assigned')",
            [record["conversation_id"]],
        )
        return live[0], created


def handoff(conn: Connection, handoff_id: int) -> Row | None:
    return row(conn, "SELECT * FROM handoffs WHERE id = ?", [handoff_id])


def live_handoff(conn: Connection, conversation_id: int) -> Row | None:
    return row(
        conn, "SELECT * FROM handoffs WHERE conversation_id = ? AND state IN ('queued', 'assigned')", [conversation_id]
    )


def last_handoff(conn: Connection, conversation_id: int) -> Row | None:
    return row(conn, "SELECT * FROM handoffs WHERE conversation_id = ? ORDER BY id DESC LIMIT 1", [conversation_id])


def live_handoffs(conn: Connection, brand: str | None = None) -> list[Row]:
    """Queued ones first in queue order (oldest handoff first), then the assigned ones."""
    where, args = ("AND brand = ?", [brand]) if brand else ("", [])
    return rows(
        conn,
        f"SELECT * FROM handoffs WHERE state IN ('queued', 'assigned') {where} "
        "ORDER BY state = 'assigned', queued_at, id",
        args,
    )


def move_handoff(
    conn: Connection,
    handoff_id: int,
    *,
    to: str,
    from_states: tuple[str, ...],
    conversation_state: str | None = None,
    agent_id: int | None = None,
    expect_agent: int | None = None,
    agent_cap: int | None = None,
    fields: dict[str, Any] | None = None,
) -> bool:
    """Change a handoff's state only if it is in `from_states` (and held by
    `expect_agent`, when given), with the conversation's state, in one
    transaction. This conditional update is what makes two agents
    accepting at the same instant safe: one row changes, once. With
    `agent_cap`, the move is refused when the agent already holds that many
    live chats, counted in the same statement: two processes assigning at
    once cannot both fill the last seat."""
    capped = agent_cap is not None and agent_id is not None
    sql, args = _move_statement(handoff_id, to, dict(fields or {}), from_states, agent_id, expect_agent, agent_cap)
    with atomic(conn):
        if capped:
            # PostgreSQL: the agent's row is held first, so the count above is taken after any other
            # assignment to them commits (READ COMMITTED: each statement sees what committed before it)
            lock_row(conn, "users", agent_id)
        if changed(conn, sql, args) != 1:
            return False
        if conversation_state:
            conn.execute(
                "UPDATE conversations SET state = ?, closed_at = CASE WHEN ? = 'closed' "
                "THEN ? ELSE closed_at END WHERE id = (SELECT conversation_id FROM handoffs "
                "WHERE id = ?)",
                [conversation_state, conversation_state, (fields or {}).get("ended_at"), handoff_id],
            )
        return True


def _move_statement(
    handoff_id: int,
    to: str,
    fields: dict[str, Any],
    from_states: tuple[str, ...],
    agent_id: int | None,
    expect_agent: int | None,
    agent_cap: int | None,
) -> tuple[str, list[Any]]:
    """move_handoff's conditional UPDATE: from one of `from_states`, held by
    `expect_agent` when given, and with `agent_cap`, only while `agent_id`
    holds fewer live chats than that."""
    check_fields(fields)
    fields["state"] = to
    if to == "assigned" or agent_id is not None:
        fields["assigned_agent_id"] = agent_id
    sets = ", ".join(f"{k} = ?" for k in fields)
    sql = f"UPDATE handoffs SET {sets} WHERE id = ? AND state IN ({marks(from_states)})"
    args = [*fields.values(), handoff_id, *from_states]
    if expect_agent is not None:
        sql += " AND assigned_agent_id = ?"
        args.append(expect_agent)
    if agent_cap is not None and agent_id is not None:
        sql += " AND (SELECT count(*) FROM handoffs WHERE assigned_agent_id = ? AND state = 'assigned') < ?"
        args += [agent_id, agent_cap]
    return sql, args


def move_handoff_saying(conn: Connection, handoff_id: int, message: Row, **move: Any) -> Row | None:
    """`move_handoff` and the system message it causes, in one transaction:
    the message is posted exactly when the move happens, once, whichever
    process made it. The stored message, or None when the move did not happen."""
    with atomic(conn):
        if not move_handoff(conn, handoff_id, **move):
            return None
        return _system_message(conn, handoff_id, message)


TIMER_STAMPS = frozenset({"flagged_at", "breached_at"})


def stamp_handoff(conn: Connection, handoff_id: int, stamp: str, at: datetime, message: Row | None) -> Row | None:
    """Set a first-response timer's stamp once: only while it is unset and
    the handoff is live and still waits for its first human reply. With
    `message`, the system message the timer causes is stored in the same
    transaction, so processes ticking at once (a paused old leader and the
    new one) post it once. The stored message ({} without one), or None
    when the stamp was set already or the wait is over."""
    if stamp not in TIMER_STAMPS:
        raise ValueError(f"not a timer stamp: {stamp}")
    with atomic(conn):
        stamped = changed(
            conn,
            f"UPDATE handoffs SET {stamp} = ? WHERE id = ? AND {stamp} IS NULL "
            "AND first_response_at IS NULL AND state IN ('queued', 'assigned')",
            [isoformat(at), handoff_id],
        )
        if stamped != 1:
            return None
        return _system_message(conn, handoff_id, message) if message else {}


def _system_message(conn: Connection, handoff_id: int, message: Row) -> Row:
    conversation_id = value(conn, "SELECT conversation_id FROM handoffs WHERE id = ?", [handoff_id])
    stored, _ = add_message(
        conn,
        conversation_id,
        sender_type="system",
        sender_name="System",
        sender_id=None,
        text=message["text"],
        now=message["now"],
        meta=message.get("meta"),
    )
    return stored


def update_handoff(conn: Connection, handoff_id: int, fields: dict[str, Any]) -> None:
    check_fields(fields)
    sets = ", ".join(f"{k} = ?" for k in fields)
    conn.execute(f"UPDATE handoffs SET {sets} WHERE id = ?", [*fields.values(), handoff_id])


def handoffs_since(conn: Connection, brand: str, since: datetime) -> list[Row]:
    return rows(
        conn, "SELECT * FROM handoffs WHERE brand = ? AND queued_at >= ? ORDER BY queued_at", [brand, isoformat(since)]
    )


def conversation_counts(conn: Connection, brand: str, since: datetime) -> dict[str, int]:
    """Conversations with customer messages since `since`, and how many of them never had a handoff."""
    found = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE NOT EXISTS "
        "(SELECT 1 FROM handoffs h WHERE h.conversation_id = c.id)) "
        "FROM conversations c WHERE c.brand = ? AND c.updated_at >= ? AND c.last_seq > 0",
        [brand, isoformat(since)],
    ).fetchone()
    return {"conversations": found[0] or 0, "bot_only": found[1] or 0}


def create_ticket(conn: Connection, record: Row) -> int:
    ticket_id: int = insert(conn, "tickets", record)
    return ticket_id


def tickets(conn: Connection, brand: str) -> list[Row]:
    return rows(conn, "SELECT * FROM tickets WHERE brand = ? ORDER BY id DESC", [brand])


def add_note(conn: Connection, record: Row) -> Row:
    note_id = insert(conn, "notes", record)
    return rows(conn, "SELECT * FROM notes WHERE id = ?", [note_id])[0]


def notes(conn: Connection, conversation_id: int) -> list[Row]:
    return rows(conn, "SELECT * FROM notes WHERE conversation_id = ? ORDER BY id", [conversation_id])
