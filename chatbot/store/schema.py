"""The versioned schema. Each migration brings the database from version N-1 to
N; `PRAGMA user_version` remembers where a database is, so an existing file is
upgraded in place and a new one is built by running them all."""

from __future__ import annotations

from collections.abc import Callable

from sqlite_utils import Database


# Long because it is version 1's DDL as it shipped, one table after another: a migration is never edited, only followed.
def _v1_core(db: Database) -> None:
    db.table("brands").create({"id": str, "name": str}, pk="id")
    db.table("users").create(
        {
            "id": int,
            "brand": str,
            "email": str,
            "name": str,
            "role": str,
            "password_hash": str,
            "created_at": str,
            "password_changed_at": str,
        },
        pk="id",
        foreign_keys=[("brand", "brands", "id")],
    )
    db.table("users").create_index(["brand", "email"], unique=True)
    db.table("sessions").create(
        {"token_hash": str, "user_id": int, "created_at": str, "expires_at": str},
        pk="token_hash",
        foreign_keys=[("user_id", "users", "id")],
    )
    db.table("sessions").create_index(["user_id"])
    db.table("login_failures").create({"id": int, "key": str, "at": str}, pk="id")
    db.table("login_failures").create_index(["key", "at"])

    db.table("orders").create(
        {
            "number": str,
            "brand": str,
            "user_id": int,
            "status": str,
            "items": str,
            "total_cents": int,
            "currency": str,
            "created_at": str,
            "updated_at": str,
            "notes": str,
        },
        pk="number",
        foreign_keys=[("user_id", "users", "id")],
    )
    db.table("orders").create_index(["user_id"])
    db.table("shipments").create(
        {
            "id": int,
            "order_number": str,
            "carrier": str,
            "tracking_number": str,
            "shipped_at": str,
            "estimated_delivery": str,
            "delivered_at": str,
        },
        pk="id",
        foreign_keys=[("order_number", "orders", "number")],
    )
    db.table("shipments").create_index(["order_number"])
    db.table("purchases").create(
        {
            "number": str,
            "brand": str,
            "user_id": int,
            "package": str,
            "amount_cents": int,
            "currency": str,
            "purchased_at": str,
            "status": str,
            "activated_at": str,
        },
        pk="number",
        foreign_keys=[("user_id", "users", "id")],
    )
    db.table("purchases").create_index(["user_id"])
    db.table("refunds").create(
        {
            "number": str,
            "brand": str,
            "user_id": int,
            "order_number": str,
            "purchase_number": str,
            "status": str,
            "amount_cents": int,
            "currency": str,
            "requested_at": str,
            "approved_at": str,
            "completed_at": str,
            "reason": str,
        },
        pk="number",
        foreign_keys=[("user_id", "users", "id")],
    )
    db.table("refunds").create_index(["user_id"])
    db.table("withdrawals").create(
        {
            "number": str,
            "brand": str,
            "user_id": int,
            "status": str,
            "amount_cents": int,
            "currency": str,
            "requested_at": str,
            "paid_at": str,
        },
        pk="number",
        foreign_keys=[("user_id", "users", "id")],
    )
    db.table("withdrawals").create_index(["user_id"])

    db.table("conversations").create(
        {
            "id": int,
            "brand": str,
            "user_id": int,
            "state": str,
            "created_at": str,
            "updated_at": str,
            "closed_at": str,
            "last_seq": int,
        },
        pk="id",
        foreign_keys=[("user_id", "users", "id")],
        defaults={"last_seq": 0},
    )
    db.table("conversations").create_index(["user_id", "state"])
    db.table("messages").create(
        {
            "id": int,
            "conversation_id": int,
            "seq": int,
            "sender_type": str,
            "sender_name": str,
            "sender_id": int,
            "text": str,
            "client_id": str,
            "intent": str,
            "confidence": float,
            "meta": str,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("conversation_id", "conversations", "id")],
    )
    # The unique indexes are what make "stored once" true under races and retries.
    db.table("messages").create_index(["conversation_id", "seq"], unique=True)
    db.table("messages").create_index(["conversation_id", "client_id"], unique=True)


# Long because it is one migration's DDL, read top to bottom like the schema it creates.
def _v2_dialogue_and_actions(db: Database) -> None:
    db.table("conversations").add_column("dialogue_state", str)
    db.table("audit_log").create(
        {
            "id": int,
            "brand": str,
            "user_id": int,
            "conversation_id": int,
            "action": str,
            "record": str,
            "details": str,
            "at": str,
        },
        pk="id",
        foreign_keys=[("user_id", "users", "id")],
    )
    db.table("audit_log").create_index(["record"])
    db.table("order_changes").create(
        {
            "id": int,
            "order_number": str,
            "user_id": int,
            "conversation_id": int,
            "request": str,
            "status": str,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("order_number", "orders", "number")],
    )
    db.table("cases").create(
        {
            "id": int,
            "brand": str,
            "user_id": int,
            "conversation_id": int,
            "kind": str,
            "order_number": str,
            "description": str,
            "status": str,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("user_id", "users", "id")],
    )
    db.table("attachments").create(
        {
            "id": int,
            "brand": str,
            "user_id": int,
            "conversation_id": int,
            "case_id": int,
            "filename": str,
            "content_type": str,
            "size": int,
            "sha256": str,
            "stored_as": str,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("user_id", "users", "id")],
    )


# Long because it is one migration's DDL, read top to bottom like the schema it creates.
def _v3_handoff(db: Database) -> None:
    db.table("handoffs").create(
        {
            "id": int,
            "brand": str,
            "conversation_id": int,
            "user_id": int,
            "reason": str,
            "intent": str,
            "confidence": float,
            "state": str,
            "queued_at": str,
            "assigned_agent_id": int,
            "assigned_at": str,
            "first_response_at": str,
            "flagged_at": str,
            "breached_at": str,
            "customer_left_at": str,
            "abandoned_at": str,
            "ended_at": str,
            "rating": int,
            "rated_at": str,
        },
        pk="id",
        foreign_keys=[("conversation_id", "conversations", "id")],
    )
    db.table("handoffs").create_index(["brand", "state", "queued_at"])
    # At most one live handoff per conversation, whoever asks at the same moment.
    db.execute(
        "CREATE UNIQUE INDEX handoffs_one_live ON handoffs (conversation_id) WHERE state IN ('queued', 'assigned')"
    )
    db.table("tickets").create(
        {
            "id": int,
            "brand": str,
            "conversation_id": int,
            "user_id": int,
            "email": str,
            "kind": str,
            "message": str,
            "transcript": str,
            "status": str,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("user_id", "users", "id")],
    )
    db.table("notes").create(
        {"id": int, "conversation_id": int, "agent_id": int, "agent_name": str, "text": str, "created_at": str},
        pk="id",
        foreign_keys=[("conversation_id", "conversations", "id")],
    )
    db.table("notes").create_index(["conversation_id"])


def _v4_supervisor_right(db: Database) -> None:
    db.table("users").add_column("is_supervisor", int, not_null_default=0)


def _v5_operator_tools(db: Database) -> None:
    db.table("intent_versions").create(
        {
            "id": int,
            "brand": str,
            "intent": str,
            "version": int,
            "author_id": int,
            "author_name": str,
            "at": str,
            "content": str,
            "note": str,
        },
        pk="id",
    )
    db.table("intent_versions").create_index(["brand", "intent", "version"], unique=True)
    db.table("eval_runs").create(
        {
            "id": int,
            "brand": str,
            "set_name": str,
            "at": str,
            "author_id": int,
            "accuracy": float,
            "oos_rejection": float,
            "report": str,
        },
        pk="id",
    )
    db.table("miss_reviews").create(
        {"id": int, "brand": str, "text_key": str, "action": str, "intent": str, "author_id": int, "at": str}, pk="id"
    )
    db.table("miss_reviews").create_index(["brand", "text_key"], unique=True)
    db.table("policy_versions").create({"id": int, "brand": str, "author_id": int, "at": str, "content": str}, pk="id")


def _v6_host_tokens(db: Database) -> None:
    db.table("used_token_ids").create({"brand": str, "jti": str, "expires_at": str}, pk=("brand", "jti"))


def _v7_saved_policy(db: Database) -> None:
    """The text a policy save wrote, beside the one it replaced: a cluster's
    processes bring their policy files to the latest one (operator/stored.py)."""
    db.table("policy_versions").add_column("saved", str)


MIGRATIONS: list[Callable[[Database], None]] = [
    _v1_core,
    _v2_dialogue_and_actions,
    _v3_handoff,
    _v4_supervisor_right,
    _v5_operator_tools,
    _v6_host_tokens,
    _v7_saved_policy,
]


def migrate(db: Database) -> int:
    """Run the migrations this database has not seen; returns the new version."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    for number, migration in enumerate(MIGRATIONS, start=1):
        if number <= version:
            continue
        with db.atomic():
            migration(db)
            db.execute(f"PRAGMA user_version = {number}")
    return len(MIGRATIONS)
