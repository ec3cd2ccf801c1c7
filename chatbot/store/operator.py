"""The operator's data: intent and policy versions, evaluation runs, the
misses inbox and the analytics figures.

Both dialects: the analytics take the day as `substr` of the ISO text and
count with `count(*) FILTER (WHERE ...)`, which both speak; a duration is
SQLite's `julianday` difference, or PostgreSQL's `extract(epoch ...)` of the
text cast to timestamptz (_SECONDS). `ON CONFLICT ... DO UPDATE SET ... =
excluded...` is the same in both. A new intent version is the largest so far
plus one, under a lock of the table (sql.lock_table); a policy version is its
row's id. A save may name the version it was based on: under the same lock,
it is refused (VersionConflict) unless that is still the latest, so of two
edits from one version the second is refused instead of silently replacing
the first (compare-and-set; the unique index on (brand, intent, version) is
the backstop)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .sql import Connection, Row, atomic, insert, is_sqlite, isoformat, lock_table, row, rows


class VersionConflict(Exception):
    """A save based on a version that is no longer the latest: `latest` is the
    latest stored (its version, author_name and at), None when there is none."""

    def __init__(self, latest: Row | None, base_version: int) -> None:
        super().__init__(f"based on version {base_version}, the latest is {latest and latest['version']}")
        self.latest = latest
        self.base_version = base_version


def add_intent_version(conn: Connection, record: Row, base_version: int | None = None, first: Row | None = None) -> int:
    """Record a new version of an intent file; returns its number. With
    `base_version` (0: none stored yet), only if that is the latest. `first`:
    the file as it was before the first edit, stored as version 1 when the
    intent has no version yet, so it can be restored."""
    with atomic(conn):
        lock_table(conn, "intent_versions")  # two saves at once: versions n and n + 1, not n twice
        latest = _latest_intent_version(conn, record["brand"], record["intent"])
        top: int = latest["version"] if latest else 0
        if base_version is not None and base_version != top:
            raise VersionConflict(latest, base_version)
        if latest is None and first is not None:
            top = 1
            insert(conn, "intent_versions", {**first, "version": 1})
        insert(conn, "intent_versions", {**record, "version": top + 1})
        return top + 1


def _latest_intent_version(conn: Connection, brand: str, intent: str) -> Row | None:
    return row(
        conn,
        "SELECT * FROM intent_versions WHERE brand = ? AND intent = ? ORDER BY version DESC LIMIT 1",
        [brand, intent],
    )


def latest_intent_version(conn: Connection, brand: str, intent: str) -> Row | None:
    """The intent's latest stored version (its content None: retired), or None."""
    return _latest_intent_version(conn, brand, intent)


def latest_intent_versions(conn: Connection, brand: str) -> list[Row]:
    """The latest stored version of each of the brand's intents that has one."""
    return rows(
        conn,
        "SELECT v.* FROM intent_versions v JOIN (SELECT intent, max(version) AS version FROM intent_versions "
        "WHERE brand = ? GROUP BY intent) top ON top.intent = v.intent AND top.version = v.version "
        "WHERE v.brand = ? ORDER BY v.intent",
        [brand, brand],
    )


def intent_versions(conn: Connection, brand: str, intent: str) -> list[Row]:
    return rows(
        conn, "SELECT * FROM intent_versions WHERE brand = ? AND intent = ? ORDER BY version DESC", [brand, intent]
    )


def add_eval_run(conn: Connection, record: Row) -> int:
    run_id: int = insert(conn, "eval_runs", record)
    return run_id


def eval_runs(conn: Connection, brand: str, limit: int = 20) -> list[Row]:
    return rows(conn, "SELECT * FROM eval_runs WHERE brand = ? ORDER BY id DESC LIMIT ?", [brand, limit])


def add_policy_version(conn: Connection, record: Row, base_version: int | None = None) -> int:
    """Record a save of the policy: `content` the text it replaced, `saved` the
    text saved. Returns its version (the row's id). With `base_version` (0:
    none stored yet), only if that is the brand's latest."""
    with atomic(conn):
        lock_table(conn, "policy_versions")
        latest = latest_policy_version(conn, record["brand"])
        if base_version is not None and base_version != (latest["version"] if latest else 0):
            raise VersionConflict(latest, base_version)
        version_id: int = insert(conn, "policy_versions", record)
        return version_id


def latest_policy_version(conn: Connection, brand: str) -> Row | None:
    """The brand's latest policy save (version, author_name, at, saved), or None."""
    return row(
        conn,
        "SELECT v.id AS version, v.at, v.saved, u.name AS author_name FROM policy_versions v "
        "LEFT JOIN users u ON u.id = v.author_id WHERE v.brand = ? ORDER BY v.id DESC LIMIT 1",
        [brand],
    )


def policy_versions(conn: Connection, brand: str, limit: int = 20) -> list[Row]:
    """The brand's earlier policy texts, newest first, with who replaced each."""
    return rows(
        conn,
        "SELECT v.id, v.at, v.content, u.name AS author_name FROM policy_versions v "
        "LEFT JOIN users u ON u.id = v.author_id WHERE v.brand = ? ORDER BY v.id DESC LIMIT ?",
        [brand, limit],
    )


def review_miss(conn: Connection, record: Row) -> None:
    conn.execute(
        "INSERT INTO miss_reviews (brand, text_key, action, intent, author_id, at) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (brand, text_key) DO UPDATE SET action = excluded.action, intent = excluded.intent, "
        "author_id = excluded.author_id, at = excluded.at",
        [
            record["brand"],
            record["text_key"],
            record["action"],
            record.get("intent"),
            record["author_id"],
            record["at"],
        ],
    )


def reviewed_misses(conn: Connection, brand: str) -> set[str]:
    return {r[0] for r in conn.execute("SELECT text_key FROM miss_reviews WHERE brand = ?", [brand]).fetchall()}


_CUSTOMER_TURNS = (
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
    "AND (m.client_id IS NULL OR m.client_id NOT LIKE 'attachment:%') ORDER BY m.id"
)


def customer_turns(conn: Connection, brand: str, since: datetime) -> list[Row]:
    """Each customer message with the reply that followed it and what came
    next: the raw material of the misses inbox."""
    return rows(conn, _CUSTOMER_TURNS, [brand, isoformat(since)])


# Seconds from a handoff's queueing to its first response, in each dialect.
_SECONDS = {
    "sqlite": "(julianday(first_response_at) - julianday(queued_at)) * 86400",
    "postgresql": "extract(epoch FROM first_response_at::timestamptz - queued_at::timestamptz)",
}
_DAILY: dict[str, str] = {
    "conversations": "SELECT substr(c.created_at, 1, 10) AS day, count(*) AS conversations, "
    "count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM handoffs h WHERE h.conversation_id = c.id)) AS bot_only "
    "FROM conversations c WHERE c.brand = ? AND c.created_at >= ? AND c.last_seq > 0 "
    "GROUP BY day ORDER BY day",
    "bot_replies": "SELECT substr(m.created_at, 1, 10) AS day, count(*) AS replies, "
    "count(*) FILTER (WHERE m.intent IS NULL) AS fallbacks FROM messages m JOIN conversations c "
    "ON c.id = m.conversation_id WHERE c.brand = ? AND m.created_at >= ? AND m.sender_type = 'bot' "
    "GROUP BY day ORDER BY day",
    "handoffs": "SELECT substr(queued_at, 1, 10) AS day, count(*) AS handoffs, "
    "count(*) FILTER (WHERE first_response_at IS NOT NULL AND {seconds} <= 300) AS within_5, "
    "count(*) FILTER (WHERE first_response_at IS NOT NULL AND {seconds} <= 600) AS within_10, "
    "avg(rating) AS rating, count(rating) AS ratings "
    "FROM handoffs WHERE brand = ? AND queued_at >= ? GROUP BY day ORDER BY day",
    "reasons": "SELECT coalesce(reason, 'unknown') AS reason, count(*) AS handoffs FROM handoffs "
    "WHERE brand = ? AND queued_at >= ? GROUP BY reason ORDER BY handoffs DESC",
    "top_intents": "SELECT m.intent, count(*) AS replies FROM messages m JOIN conversations c "
    "ON c.id = m.conversation_id WHERE c.brand = ? AND m.created_at >= ? AND m.sender_type = 'bot' "
    "AND m.intent IS NOT NULL GROUP BY m.intent ORDER BY replies DESC LIMIT 10",
}


def daily_figures(conn: Connection, brand: str, since: datetime) -> dict[str, list[Row]]:
    """Per-day aggregates for the operator's analytics."""
    args: list[Any] = [brand, isoformat(since)]
    seconds = _SECONDS["sqlite" if is_sqlite(conn) else "postgresql"]
    return {name: rows(conn, sql.format(seconds=seconds), args) for name, sql in _DAILY.items()}
