"""What the repositories need of a database connection, and no more.

The repository modules (users, conversations, records, handoffs, operator,
tables) are plain functions of a DB-API connection: they run SQL through
`conn.execute(sql, params)` and turn rows into dicts with the helpers here.
They never commit: the engine runs each call in a transaction (or a savepoint
of a group commit), and a call of several statements says so with `atomic`.

Two dialects, one seam. The connection is sqlite3's own, or psycopg's
wrapped by postgres.PostgresConnection, which rewrites the qmark (`?`)
placeholders to psycopg's `%s` on the way in (no statement has a `?` inside
a string literal) and answers `in_transaction`. The SQL is written once in
what both speak (`RETURNING`, `ON CONFLICT`, `count(*) FILTER`, SAVEPOINT);
where they differ, a helper here asks `is_sqlite` once:
- `lock_row` / `lock_table`: SQLite runs one writer at a time, so a
  read-modify-write in a transaction is safe there as it stands; PostgreSQL
  engines in several processes write at once, and these locks serialise them.
- `insert` / `insert_all` with explicit ids: PostgreSQL's identity counter is
  moved past them, as SQLite's rowid moves by itself.
The SQLite-only functions a query uses are named in its module's docstring,
with what it does on PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol


class Cursor(Protocol):
    """The part of a DB-API cursor the repositories use."""

    @property
    def description(self) -> Any: ...
    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """The part of a DB-API connection the repositories use: sqlite3's own,
    or postgres.PostgresConnection around psycopg's."""

    @property
    def in_transaction(self) -> bool: ...
    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any: ...


Row = dict[str, Any]


def _dicts(cursor: Cursor) -> list[Row]:
    keys = [d[0] for d in cursor.description or ()]
    return [dict(zip(keys, values, strict=True)) for values in cursor.fetchall()]


def rows(conn: Connection, sql: str, args: Sequence[Any] = ()) -> list[Row]:
    """Every row of a query, as dicts."""
    return _dicts(conn.execute(sql, args))


def row(conn: Connection, sql: str, args: Sequence[Any] = ()) -> Row | None:
    """The first row of a query, or None."""
    cursor = conn.execute(sql, args)
    values = cursor.fetchone()
    if values is None:
        return None
    return dict(zip([d[0] for d in cursor.description], values, strict=True))


def value(conn: Connection, sql: str, args: Sequence[Any] = ()) -> Any:
    """The first column of the first row, or None."""
    values = conn.execute(sql, args).fetchone()
    return values[0] if values else None


def changed(conn: Connection, sql: str, args: Sequence[Any] = ()) -> int:
    """Run a statement; how many rows it changed."""
    count: int = conn.execute(sql, args).rowcount
    return count


def marks(values: Sequence[Any]) -> str:
    """The placeholders of an IN (...) list."""
    return ",".join("?" * len(values))


def _cell(cell: Any) -> Any:
    """A dict or list is stored as its JSON text, as sqlite-utils did."""
    return json.dumps(cell) if isinstance(cell, (dict, list, tuple)) else cell


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    return f'INSERT INTO "{table}" ({names}) VALUES ({marks(columns)})'


def insert(conn: Connection, table: str, record: Row, key: str = "id") -> Any:
    """Insert one row (the table and column names come from code, never from
    a request); returns its `key` column."""
    sql = _insert_sql(table, list(record)) + f' RETURNING "{key}"'
    inserted = conn.execute(sql, [_cell(v) for v in record.values()]).fetchall()[0][0]
    if "id" in record:
        _count_past_given_ids(conn, table)
    return inserted


def insert_all(conn: Connection, table: str, records: Sequence[Row]) -> None:
    """Insert rows in their order; each run of rows with the same columns is
    one prepared statement (a column a row leaves out gets its default)."""
    start = 0
    while start < len(records):
        columns = list(records[start])
        end = start + 1
        while end < len(records) and list(records[end]) == columns:
            end += 1
        sql = _insert_sql(table, columns)
        for record in records[start:end]:
            conn.execute(sql, [_cell(record[c]) for c in columns])
        if "id" in columns:
            _count_past_given_ids(conn, table)
        start = end


def _count_past_given_ids(conn: Connection, table: str) -> None:
    """After rows were inserted with their ids given (the demo seed, imports),
    move PostgreSQL's identity counter past the largest, forward only, so the
    next row it numbers does not collide; SQLite's next rowid is max + 1 by itself."""
    if is_sqlite(conn):
        return
    counter = value(conn, "SELECT pg_get_serial_sequence(?, 'id')", [f'"{table}"'])
    if counter is None:  # an id the caller names, not a counted one (brands)
        return
    conn.execute(
        f'SELECT setval(?::regclass, greatest((SELECT max("id") FROM "{table}"), pg_sequence_last_value(?::regclass)))',
        [counter, counter],
    )


def is_sqlite(conn: Connection) -> bool:
    """The one question the helpers ask of the dialect (the module docstring)."""
    return isinstance(conn, sqlite3.Connection)


def lock_row(conn: Connection, table: str, key: Any, column: str = "id") -> None:
    """Hold a row until the transaction ends, before reading what a write
    depends on (the next `seq`, whether a conversation is open). SQLite runs
    one writer at a time: nothing to do. PostgreSQL: FOR NO KEY UPDATE, which
    waits for another process holding the row and then sees its commit, but
    does not block a foreign key's check of the row (FOR UPDATE would stall
    every insert that references it)."""
    if not is_sqlite(conn):
        conn.execute(f'SELECT 1 FROM "{table}" WHERE "{column}" = ? FOR NO KEY UPDATE', [key])


def lock_table(conn: Connection, table: str) -> None:
    """Serialise the writers of a table until the transaction ends, where a
    number is the largest so far plus one (refund numbers, intent versions)
    or a check covers the whole table (the seed); readers are not blocked.
    SQLite: one writer at a time already."""
    if not is_sqlite(conn):
        conn.execute(f'LOCK TABLE "{table}" IN SHARE ROW EXCLUSIVE MODE')


def in_transaction(conn: Connection) -> bool:
    """Read afresh each time: a statement may have begun or ended one."""
    return conn.in_transaction


@contextmanager
def atomic(conn: Connection) -> Iterator[None]:
    """A transaction, or a savepoint inside one. One fixed savepoint name:
    sqlite-utils' random names cost a `urandom` call and two statements SQLite
    prepares afresh (its statement cache is keyed by text) on every store call
    of a group commit, a fifth of the store thread's time (bench/turns.py).
    Savepoints of the same name nest: ROLLBACK TO and RELEASE act on the
    innermost."""
    if in_transaction(conn):
        conn.execute("SAVEPOINT store_call")
        try:
            yield
        except BaseException:
            if in_transaction(conn):  # an error may have ended the transaction already
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
        if in_transaction(conn):
            conn.execute("ROLLBACK")
        raise


def isoformat(moment: datetime) -> str:
    """A timestamp as the store writes it: ISO 8601 in UTC, milliseconds, a Z.
    The same text as chatbot.clock.isoformat (the wire contract's form), kept
    here so that the store imports nothing from the rest of chatbot
    (tests/test_store.py compares the two)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
