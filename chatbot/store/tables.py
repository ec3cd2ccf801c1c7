"""Whole tables: the demo seed, imports and fixtures, reads for tests, and
the integrity check.

`PRAGMA integrity_check` is SQLite's. PostgreSQL has no equivalent worth a
call from here (page checksums, where the cluster has them, and amcheck are
its operator's tools): there the check answers "ok" once the server answers."""

from __future__ import annotations

from .sql import Connection, Row, atomic, insert_all, is_sqlite, lock_table, rows, value

TABLES = frozenset(
    {
        "brands",
        "users",
        "orders",
        "shipments",
        "refunds",
        "purchases",
        "withdrawals",
        "conversations",
        "messages",
        "sessions",
        "audit_log",
        "order_changes",
        "cases",
        "attachments",
        "handoffs",
        "tickets",
        "notes",
        "intent_versions",
        "eval_runs",
        "miss_reviews",
        "policy_versions",
    }
)


def is_empty(conn: Connection) -> bool:
    return bool(value(conn, "SELECT count(*) FROM users") == 0)


def seed(conn: Connection, tables: dict[str, list[Row]]) -> bool:
    """Insert rows into an empty database in one transaction; a database
    that already holds users is left alone. Returns whether it seeded."""
    with atomic(conn):
        lock_table(conn, "users")  # two processes starting on one empty database seed it once
        if value(conn, "SELECT count(*) FROM users"):
            return False
        for table, records in tables.items():
            if records:
                insert_all(conn, table, records)
    return True


def insert_rows(conn: Connection, table: str, records: list[Row]) -> None:
    """Add rows to a table (imports, fixtures); one transaction."""
    with atomic(conn):
        insert_all(conn, table, records)


def table_rows(conn: Connection, table: str) -> list[Row]:
    """Every row of one table: for seeding checks and tests."""
    if table not in TABLES:
        raise ValueError(table)
    return rows(conn, f"SELECT * FROM {table}")


def integrity_check(conn: Connection) -> str:
    return str(value(conn, "PRAGMA integrity_check" if is_sqlite(conn) else "SELECT 'ok'"))
