"""The customer's records (orders, shipments, refunds, purchases,
withdrawals), the changes the bot makes to them with their audit entries,
dispute cases and their attachments.

Both dialects: the next refund number reads `CAST(substr(number, 4) AS
INTEGER)`, which both spell the same (PostgreSQL refuses a number that is not
`RF-` and digits, where SQLite would read 0), under a lock of the refunds
table (sql.lock_table) so two processes never take the same one. Table names
in `record_of` come from a fixed set, never from a request."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from .sql import Connection, Row, atomic, changed, insert, isoformat, lock_row, lock_table, marks, row, rows, value

RECORD_TABLES = frozenset({"orders", "purchases", "refunds", "withdrawals"})


def orders_of(conn: Connection, user_id: int) -> list[Row]:
    return rows(conn, "SELECT * FROM orders WHERE user_id = ? ORDER BY created_at DESC", [user_id])


def shipments_of(conn: Connection, order_number: str) -> list[Row]:
    return rows(conn, "SELECT * FROM shipments WHERE order_number = ? ORDER BY id", [order_number])


def refunds_of(conn: Connection, user_id: int) -> list[Row]:
    return rows(conn, "SELECT * FROM refunds WHERE user_id = ? ORDER BY requested_at DESC", [user_id])


def purchases_of(conn: Connection, user_id: int) -> list[Row]:
    return rows(conn, "SELECT * FROM purchases WHERE user_id = ? ORDER BY purchased_at DESC", [user_id])


def withdrawals_of(conn: Connection, user_id: int) -> list[Row]:
    return rows(conn, "SELECT * FROM withdrawals WHERE user_id = ? ORDER BY requested_at DESC", [user_id])


def record_of(conn: Connection, table: str, number: str, user_id: int) -> Row | None:
    """One order, purchase, refund or withdrawal, only if it is the user's.
    Someone else's number and a number that does not exist look the same."""
    if table not in RECORD_TABLES:
        raise ValueError(table)
    return row(conn, f"SELECT * FROM {table} WHERE number = ? AND user_id = ?", [number, user_id])


def refunds_for(conn: Connection, *, order_number: str | None = None, purchase_number: str | None = None) -> list[Row]:
    column, record = ("order_number", order_number) if order_number else ("purchase_number", purchase_number)
    return rows(conn, f"SELECT * FROM refunds WHERE {column} = ? ORDER BY requested_at DESC", [record])


def audit_entries(conn: Connection, record: str | None = None) -> list[Row]:
    if record:
        return rows(conn, "SELECT * FROM audit_log WHERE record = ? ORDER BY id", [record])
    return rows(conn, "SELECT * FROM audit_log ORDER BY id")


def _audit(conn: Connection, audit: dict[str, Any], record: str | None, details: dict[str, Any], now: datetime) -> None:
    conn.execute(
        "INSERT INTO audit_log (brand, user_id, conversation_id, action, record, details, at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            audit["brand"],
            audit["user_id"],
            audit["conversation_id"],
            audit["action"],
            record,
            json.dumps(details),
            isoformat(now),
        ],
    )


def _next_refund_number(conn: Connection) -> str:
    top = value(conn, "SELECT max(CAST(substr(number, 4) AS INTEGER)) FROM refunds")
    return f"RF-{(top or 5000) + 1}"


def change_order_status(
    conn: Connection,
    number: str,
    user_id: int,
    *,
    to: str,
    allowed_from: tuple[str, ...],
    audit: dict[str, Any],
    now: datetime,
) -> bool:
    """Move an order to `to` if it is the user's and in `allowed_from`, with
    its audit entry, in one transaction. False when nothing changed (a
    second confirmation, or the status moved on meanwhile)."""
    with atomic(conn):
        if (
            changed(
                conn,
                f"UPDATE orders SET status = ?, updated_at = ? WHERE number = ? AND user_id = ? "
                f"AND status IN ({marks(allowed_from)})",
                [to, isoformat(now), number, user_id, *allowed_from],
            )
            != 1
        ):
            return False
        _audit(conn, audit, number, {"status": to}, now)
        return True


def add_order_change(
    conn: Connection,
    number: str,
    user_id: int,
    request: str,
    *,
    allowed_from: tuple[str, ...],
    audit: dict[str, Any],
    now: datetime,
) -> int | None:
    """Record a change request on an order still in `allowed_from`; the id,
    or None if the order is not the user's or can no longer change.
    The same request twice from one conversation is recorded once (the
    order's row is held first, so also when two processes record it at once)."""
    with atomic(conn):
        lock_row(conn, "orders", number, column="number")
        if not row(
            conn,
            f"SELECT 1 AS found FROM orders WHERE number = ? AND user_id = ? AND status IN ({marks(allowed_from)})",
            [number, user_id, *allowed_from],
        ):
            return None
        existing = _order_change_id(conn, number, audit["conversation_id"], request)
        if existing is not None:
            return existing
        change_id: int = insert(
            conn,
            "order_changes",
            {
                "order_number": number,
                "user_id": user_id,
                "conversation_id": audit["conversation_id"],
                "request": request,
                "status": "requested",
                "created_at": isoformat(now),
            },
        )
        _audit(conn, audit, number, {"change_request": request}, now)
        return change_id


def _order_change_id(conn: Connection, number: str, conversation_id: int, request: str) -> int | None:
    """The change already recorded for this request from this conversation, if any."""
    found: int | None = value(
        conn,
        "SELECT id FROM order_changes WHERE order_number = ? AND conversation_id = ? AND request = ?",
        [number, conversation_id, request],
    )
    return found


def open_refund(
    conn: Connection,
    *,
    user_id: int,
    brand: str,
    amount_cents: int,
    now: datetime,
    audit: dict[str, Any],
    order_number: str | None = None,
    purchase_number: str | None = None,
    cancel_purchase: bool = False,
) -> tuple[Row, bool]:
    """Open a refund request for an order or purchase, with its audit entry
    (and, for a purchase, its cancellation), in one transaction. An open or
    finished refund for the same record is returned instead: (refund, created)."""
    column, record = ("order_number", order_number) if order_number else ("purchase_number", purchase_number)
    with atomic(conn):
        lock_table(conn, "refunds")  # the check for one already open, and the next number
        existing = row(conn, f"SELECT * FROM refunds WHERE {column} = ? AND status != 'rejected'", [record])
        if existing:
            return existing, False
        number = _next_refund_number(conn)
        refund = rows(
            conn,
            "INSERT INTO refunds (number, brand, user_id, order_number, purchase_number, status, "
            "amount_cents, currency, requested_at) VALUES (?, ?, ?, ?, ?, 'requested', ?, 'USD', ?) "
            "RETURNING *",
            [number, brand, user_id, order_number, purchase_number, amount_cents, isoformat(now)],
        )[0]
        if cancel_purchase:
            conn.execute(
                "UPDATE purchases SET status = 'cancelled' WHERE number = ? AND user_id = ?", [purchase_number, user_id]
            )
        _audit(conn, audit, record, {"refund": number, "amount_cents": amount_cents, "cancelled": cancel_purchase}, now)
        return refund, True


def create_case(conn: Connection, record: Row, audit: dict[str, Any], now: datetime) -> int:
    """A dispute case, with the conversation's attachments not yet on a case."""
    with atomic(conn):
        case_id: int = insert(
            conn,
            "cases",
            {
                "brand": record["brand"],
                "user_id": record["user_id"],
                "conversation_id": record["conversation_id"],
                "kind": record["kind"],
                "order_number": record.get("order_number"),
                "description": record["description"],
                "status": "open",
                "created_at": isoformat(now),
            },
        )
        conn.execute(
            "UPDATE attachments SET case_id = ? WHERE conversation_id = ? AND case_id IS NULL",
            [case_id, record["conversation_id"]],
        )
        _audit(conn, audit, record.get("order_number") or f"case-{case_id}", {"case": case_id}, now)
        return case_id


def cases(conn: Connection, brand: str) -> list[Row]:
    return rows(conn, "SELECT * FROM cases WHERE brand = ? ORDER BY id DESC", [brand])


def add_attachment(conn: Connection, record: Row) -> int:
    attachment_id: int = insert(conn, "attachments", record)
    return attachment_id


def attachments(conn: Connection, conversation_id: int) -> list[Row]:
    return rows(conn, "SELECT * FROM attachments WHERE conversation_id = ? ORDER BY id", [conversation_id])
