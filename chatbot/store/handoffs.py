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

from .sql import Connection, Row, atomic, changed, insert, isoformat, marks, row, rows

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
    fields: dict[str, Any] | None = None,
) -> bool:
    """Change a handoff's state only if it is in `from_states` (and held by
    `expect_agent`, when given), with the conversation's state, in one
    transaction. This conditional update is what makes two agents
    accepting at the same instant safe: one row changes, once."""
    fields = dict(fields or {})
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
    with atomic(conn):
        if changed(conn, sql, args) != 1:
            return False
        if conversation_state:
            conn.execute(
                "UPDATE conversations SET state = ?, closed_at = CASE WHEN ? = 'closed' "
                "THEN ? ELSE closed_at END WHERE id = (SELECT conversation_id FROM handoffs "
                "WHERE id = ?)",
                [conversation_state, conversation_state, fields.get("ended_at"), handoff_id],
            )
        return True


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
