"""The PostgreSQL engine: the SQLite engine's machinery (engine.ThreadEngine:
one connection on one thread, group commit, the same lifecycle) on a
psycopg 3 connection, so the repositories' functions run unchanged.

`Store("postgresql://user:password@host:port/database")` makes one. The
credentials come from the URL (or libpq's own PGPASSWORD / .pgpass) and never
from code. One parameter of the URL is the store's, not libpq's:
`synchronous_commit` (on, the default, or off, local, remote_write,
remote_apply). With `on`, a commit waits until the database host has flushed
it, so an acknowledged message survives a crash of that host; `off` keeps
today's SQLite promise (it survives a crash of the chatbot's process, and a
crash of the database host can take back the last moments). It is set on
the connection whatever the server's default is.

Several processes may share one database: each runs its own engine, and the
repositories lock what they read before writing (sql.lock_row,
sql.lock_table). Two engines' group commits can still lock rows in opposite
orders; PostgreSQL then aborts one (a deadlock), and that engine rolls the
group back and runs its calls again one transaction each."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors
from psycopg.pq import TransactionStatus
from psycopg.types.numeric import FloatLoader

from . import schema_postgres
from .engine import Call, Outcome, ThreadEngine
from .sql import Connection

COMMIT_LEVELS = frozenset({"on", "off", "local", "remote_write", "remote_apply"})
# A group's call that failed this way failed because of another process's
# transaction, not its own doing: worth running again on its own.
TRANSIENT = (errors.DeadlockDetected, errors.SerializationFailure, errors.LockNotAvailable)
ATTEMPTS = 5


@functools.lru_cache(maxsize=1024)
def _format_style(sql: str) -> str:
    """qmark to psycopg's placeholders: a literal % doubled (LIKE 'x:%'), each ? a %s."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresConnection:
    """psycopg's connection as the repositories expect one (sql.Connection):
    qmark placeholders, and `in_transaction`. The one dialect seam."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw
        # Statements that may have changed something for good: COMMITs, and any
        # statement outside a transaction (autocommitted). A call that failed
        # with none of them since it began left nothing behind: it may run again.
        self.settled = 0

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        if sql == "COMMIT" or (sql != "BEGIN" and not self.in_transaction):
            self.settled += 1
        return self.raw.execute(_format_style(sql), parameters)


def split_url(url: str) -> tuple[str, str]:
    """(the URL for libpq, the synchronous_commit it asks for)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    asked = [v for k, v in query if k == "synchronous_commit"]
    if not asked:
        return url, "on"
    level = asked[-1].lower()
    if level not in COMMIT_LEVELS:
        raise ValueError(f"synchronous_commit={level!r}: one of {', '.join(sorted(COMMIT_LEVELS))}")
    # quote: libpq decodes %20 in a URL, not +
    rest = urlencode([(k, v) for k, v in query if k != "synchronous_commit"], quote_via=quote)
    return urlunsplit(parts._replace(query=rest)), level


def without_password(url: str) -> str:
    """The URL to show (logs, `Store.path`): the password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}:***@{host}"))


class PostgresEngine(ThreadEngine):
    def __init__(self, url: str) -> None:
        super().__init__()
        self._url, self.synchronous_commit = split_url(url)
        self.path = without_password(url)
        self._conn: PostgresConnection | None = None

    def _connection(self) -> PostgresConnection:
        if self._conn is None or self._conn.raw.closed:
            # autocommit: the engine and `atomic` say BEGIN and COMMIT themselves, as on SQLite
            raw = psycopg.connect(self._url, autocommit=True)
            # avg() answers numeric; SQLite answers a float, and so does this connection
            raw.adapters.register_loader("numeric", FloatLoader)
            # READ COMMITTED whatever the server's default: the locks and conditional
            # updates of the repositories are written for it (a statement sees the
            # commits it waited for)
            raw.execute(
                "SELECT set_config('synchronous_commit', %s, false), "
                "set_config('default_transaction_isolation', 'read committed', false)",
                [self.synchronous_commit],
            )
            self._conn = PostgresConnection(raw)
        return self._conn

    def _migrate(self, conn: Connection) -> int:
        return schema_postgres.migrate(conn)

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.raw.close()
            self._conn = None

    def _after_batch(self) -> None:
        """A connection the server dropped is made again for the next batch."""
        if self._conn is not None and self._conn.raw.broken:
            self._close_connection()

    def _retry_alone(self, error: BaseException) -> bool:
        return isinstance(error, TRANSIENT)

    def _run_alone(self, conn: Connection, call: Call) -> Outcome:
        """As the call's own statements say, with no transaction around it:
        each round trip saved is CPU here and on the database (a write's
        `atomic` is its transaction, a read needs none). A deadlock's victim
        runs again from the start when nothing of it was committed yet."""
        fn, args, _, future = call
        assert isinstance(conn, PostgresConnection)
        attempt = 1
        while True:
            settled = conn.settled
            try:
                return future, True, fn(conn, *args)
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                if attempt == ATTEMPTS or not isinstance(e, TRANSIENT) or conn.settled != settled:
                    return future, False, e
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                attempt += 1
