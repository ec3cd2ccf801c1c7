"""Brands, users, sessions, host-token ids and login throttling.

Both dialects: the e-mail lookup compares `lower(email)`, which in SQLite
folds ASCII letters only, as `COLLATE NOCASE` did; PostgreSQL folds every
letter."""

from __future__ import annotations

from datetime import datetime

from .sql import Connection, Row, atomic, changed, insert, isoformat, marks, row, rows, value


def upsert_brand(conn: Connection, brand_id: str, name: str) -> None:
    conn.execute(
        "INSERT INTO brands (id, name) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name",
        [brand_id, name],
    )


def user_by_email(conn: Connection, brand: str, email: str) -> Row | None:
    return row(conn, "SELECT * FROM users WHERE brand = ? AND lower(email) = lower(?)", [brand, email])


def user(conn: Connection, user_id: int) -> Row | None:
    return row(conn, "SELECT * FROM users WHERE id = ?", [user_id])


def create_user(conn: Connection, record: Row) -> int:
    user_id: int = insert(conn, "users", record)
    return user_id


def users_by_ids(conn: Connection, ids: list[int]) -> list[Row]:
    if not ids:
        return []
    return rows(conn, f"SELECT * FROM users WHERE id IN ({marks(ids)})", ids)


def users_of_brand(conn: Connection, brand: str, role: str) -> list[Row]:
    return rows(
        conn, "SELECT id, brand, email, name, role FROM users WHERE brand = ? AND role = ? ORDER BY id", [brand, role]
    )


def set_supervisor(conn: Connection, user_id: int, allowed: bool) -> None:
    conn.execute("UPDATE users SET is_supervisor = ? WHERE id = ?", [int(allowed), user_id])


def set_password_hash(conn: Connection, user_id: int, password_hash: str, now: datetime) -> None:
    conn.execute(
        "UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?",
        [password_hash, isoformat(now), user_id],
    )


def create_session(conn: Connection, token_hash: str, user_id: int, now: datetime, expires_at: datetime) -> None:
    conn.execute(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
        [token_hash, user_id, isoformat(now), isoformat(expires_at)],
    )


def session_user(conn: Connection, token_hash: str, now: datetime) -> Row | None:
    return row(
        conn,
        "SELECT users.* FROM sessions JOIN users ON users.id = sessions.user_id "
        "WHERE sessions.token_hash = ? AND sessions.expires_at > ?",
        [token_hash, isoformat(now)],
    )


def delete_session(conn: Connection, token_hash: str) -> None:
    conn.execute("DELETE FROM sessions WHERE token_hash = ?", [token_hash])


def delete_user_sessions(conn: Connection, user_id: int) -> None:
    conn.execute("DELETE FROM sessions WHERE user_id = ?", [user_id])


def use_token_id(conn: Connection, brand: str, jti: str, expires_at: datetime, now: datetime) -> bool:
    """Remember a host token's id; False if it was seen before (a replay)."""
    with atomic(conn):
        conn.execute("DELETE FROM used_token_ids WHERE expires_at < ?", [isoformat(now)])
        return (
            changed(
                conn,
                "INSERT INTO used_token_ids (brand, jti, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [brand, jti, isoformat(expires_at)],
            )
            == 1
        )


def record_login_failure(conn: Connection, key: str, at: datetime) -> None:
    conn.execute("INSERT INTO login_failures (key, at) VALUES (?, ?)", [key, isoformat(at)])


def count_login_failures(conn: Connection, key: str, since: datetime) -> int:
    count: int = value(conn, "SELECT count(*) FROM login_failures WHERE key = ? AND at > ?", [key, isoformat(since)])
    return count


def clear_login_failures(conn: Connection, key: str) -> None:
    conn.execute("DELETE FROM login_failures WHERE key = ?", [key])
