"""The methods the rest of the program calls, one family per class. Each is
one line: a repository function, sent down the engine's read or write path.
`Store` (store/__init__.py) is all of them on one engine."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from . import conversations, handoffs, operator, records, tables, users
from .engine import ThreadEngine
from .sql import Row

T = TypeVar("T")


class Facade:
    _engine: ThreadEngine

    async def _read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self._engine.read(partial(fn, **kwargs) if kwargs else fn, *args)

    async def _write(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self._engine.write(partial(fn, **kwargs) if kwargs else fn, *args)


class Tables(Facade):
    async def integrity_check(self) -> str:
        return await self._read(tables.integrity_check)

    async def is_empty(self) -> bool:
        return await self._read(tables.is_empty)

    async def seed(self, rows: dict[str, list[Row]]) -> bool:
        """Insert rows into an empty database in one transaction; returns whether it seeded."""
        return await self._write(tables.seed, rows)

    async def insert_rows(self, table: str, rows: list[Row]) -> None:
        await self._write(tables.insert_rows, table, rows)

    async def table_rows(self, table: str) -> list[Row]:
        return await self._read(tables.table_rows, table)


class Users(Facade):
    async def upsert_brand(self, brand_id: str, name: str) -> None:
        await self._write(users.upsert_brand, brand_id, name)

    async def user_by_email(self, brand: str, email: str) -> Row | None:
        return await self._read(users.user_by_email, brand, email)

    async def user(self, user_id: int) -> Row | None:
        return await self._read(users.user, user_id)

    async def create_user(self, row: Row) -> int:
        return await self._write(users.create_user, row)

    async def users_by_ids(self, ids: list[int]) -> list[Row]:
        return await self._read(users.users_by_ids, ids) if ids else []

    async def users_of_brand(self, brand: str, role: str) -> list[Row]:
        return await self._read(users.users_of_brand, brand, role)

    async def set_supervisor(self, user_id: int, allowed: bool) -> None:
        await self._write(users.set_supervisor, user_id, allowed)

    async def set_password_hash(self, user_id: int, password_hash: str, now: datetime) -> None:
        await self._write(users.set_password_hash, user_id, password_hash, now)

    async def create_session(self, token_hash: str, user_id: int, now: datetime, expires_at: datetime) -> None:
        await self._write(users.create_session, token_hash, user_id, now, expires_at)

    async def session_user(self, token_hash: str, now: datetime) -> Row | None:
        return await self._read(users.session_user, token_hash, now)

    async def delete_session(self, token_hash: str) -> None:
        await self._write(users.delete_session, token_hash)

    async def delete_user_sessions(self, user_id: int) -> None:
        await self._write(users.delete_user_sessions, user_id)

    async def use_token_id(self, brand: str, jti: str, expires_at: datetime, now: datetime) -> bool:
        """Remember a host token's id; False if it was seen before (a replay)."""
        return await self._write(users.use_token_id, brand, jti, expires_at, now)

    async def record_login_failure(self, key: str, at: datetime) -> None:
        await self._write(users.record_login_failure, key, at)

    async def count_login_failures(self, key: str, since: datetime) -> int:
        return await self._read(users.count_login_failures, key, since)

    async def clear_login_failures(self, key: str) -> None:
        await self._write(users.clear_login_failures, key)


class Conversations(Facade):
    async def open_conversation(self, brand: str, user_id: int, now: datetime) -> Row:
        """The user's conversation that is not closed, or a new one."""
        return await self._write(conversations.open_conversation, brand, user_id, now)

    async def conversation(self, conversation_id: int) -> Row | None:
        return await self._read(conversations.conversation, conversation_id)

    async def conversations_of(self, user_id: int, limit: int = 10) -> list[Row]:
        return await self._read(conversations.conversations_of, user_id, limit)

    async def set_conversation_state(self, conversation_id: int, state: str, now: datetime) -> None:
        await self._write(conversations.set_conversation_state, conversation_id, state, now)

    async def add_message(
        self,
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
        """Store a message with the next `seq`, committed before this returns
        (conversations.add_message): (message, created)."""
        return await self._write(
            conversations.add_message,
            conversation_id,
            sender_type=sender_type,
            sender_name=sender_name,
            sender_id=sender_id,
            text=text,
            now=now,
            client_id=client_id,
            intent=intent,
            confidence=confidence,
            meta=meta,
            dialogue_state=dialogue_state,
        )

    async def messages(
        self, conversation_id: int, *, after_seq: int | None = None, limit: int | None = None
    ) -> list[Row]:
        """Messages in `seq` order: those after `after_seq`, or the last `limit`."""
        return await self._read(conversations.messages, conversation_id, after_seq=after_seq, limit=limit)

    async def dialogue_state(self, conversation_id: int) -> dict[str, Any]:
        return await self._read(conversations.dialogue_state, conversation_id)

    async def set_dialogue_state(self, conversation_id: int, state: dict[str, Any]) -> None:
        await self._write(conversations.set_dialogue_state, conversation_id, state)


class Records(Facade):
    async def orders_of(self, user_id: int) -> list[Row]:
        return await self._read(records.orders_of, user_id)

    async def shipments_of(self, order_number: str) -> list[Row]:
        return await self._read(records.shipments_of, order_number)

    async def refunds_of(self, user_id: int) -> list[Row]:
        return await self._read(records.refunds_of, user_id)

    async def purchases_of(self, user_id: int) -> list[Row]:
        return await self._read(records.purchases_of, user_id)

    async def withdrawals_of(self, user_id: int) -> list[Row]:
        return await self._read(records.withdrawals_of, user_id)

    async def record_of(self, table: str, number: str, user_id: int) -> Row | None:
        """One order, purchase, refund or withdrawal, only if it is the user's."""
        return await self._read(records.record_of, table, number, user_id)

    async def refunds_for(self, *, order_number: str | None = None, purchase_number: str | None = None) -> list[Row]:
        return await self._read(records.refunds_for, order_number=order_number, purchase_number=purchase_number)

    async def audit_entries(self, record: str | None = None) -> list[Row]:
        return await self._read(records.audit_entries, record)

    async def change_order_status(
        self, number: str, user_id: int, *, to: str, allowed_from: tuple[str, ...], audit: dict[str, Any], now: datetime
    ) -> bool:
        return await self._write(
            records.change_order_status, number, user_id, to=to, allowed_from=allowed_from, audit=audit, now=now
        )

    async def add_order_change(
        self,
        number: str,
        user_id: int,
        request: str,
        *,
        allowed_from: tuple[str, ...],
        audit: dict[str, Any],
        now: datetime,
    ) -> int | None:
        return await self._write(
            records.add_order_change, number, user_id, request, allowed_from=allowed_from, audit=audit, now=now
        )

    async def open_refund(
        self,
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
        return await self._write(
            records.open_refund,
            user_id=user_id,
            brand=brand,
            amount_cents=amount_cents,
            now=now,
            audit=audit,
            order_number=order_number,
            purchase_number=purchase_number,
            cancel_purchase=cancel_purchase,
        )

    async def create_case(self, row: Row, audit: dict[str, Any], now: datetime) -> int:
        return await self._write(records.create_case, row, audit, now)

    async def cases(self, brand: str) -> list[Row]:
        return await self._read(records.cases, brand)

    async def add_attachment(self, row: Row) -> int:
        return await self._write(records.add_attachment, row)

    async def attachments(self, conversation_id: int) -> list[Row]:
        return await self._read(records.attachments, conversation_id)


class Handoffs(Facade):
    HANDOFF_FIELDS = handoffs.HANDOFF_FIELDS

    async def create_handoff(self, row: Row, conversation_state: str) -> tuple[Row, bool]:
        """Queue a conversation; its live handoff comes back instead of a second one: (handoff, created)."""
        return await self._write(handoffs.create_handoff, row, conversation_state)

    async def handoff(self, handoff_id: int) -> Row | None:
        return await self._read(handoffs.handoff, handoff_id)

    async def live_handoff(self, conversation_id: int) -> Row | None:
        return await self._read(handoffs.live_handoff, conversation_id)

    async def last_handoff(self, conversation_id: int) -> Row | None:
        return await self._read(handoffs.last_handoff, conversation_id)

    async def live_handoffs(self, brand: str | None = None) -> list[Row]:
        return await self._read(handoffs.live_handoffs, brand)

    async def move_handoff(
        self,
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
        """A conditional state change: one row changes, once (handoffs.move_handoff)."""
        return await self._write(
            handoffs.move_handoff,
            handoff_id,
            to=to,
            from_states=from_states,
            conversation_state=conversation_state,
            agent_id=agent_id,
            expect_agent=expect_agent,
            agent_cap=agent_cap,
            fields=fields,
        )

    async def move_handoff_saying(self, handoff_id: int, message: Row, **move: Any) -> Row | None:
        """A conditional state change and its system message, in one
        transaction; the stored message, or None when the move did not happen."""
        return await self._write(handoffs.move_handoff_saying, handoff_id, message, **move)

    async def stamp_handoff(self, handoff_id: int, stamp: str, at: datetime, message: Row | None = None) -> Row | None:
        """A first-response timer's stamp, set once, with its system message
        (handoffs.stamp_handoff); None when it was set already."""
        return await self._write(handoffs.stamp_handoff, handoff_id, stamp, at, message)

    async def update_handoff(self, handoff_id: int, **fields: Any) -> None:
        await self._write(handoffs.update_handoff, handoff_id, fields)

    async def handoffs_since(self, brand: str, since: datetime) -> list[Row]:
        return await self._read(handoffs.handoffs_since, brand, since)

    async def conversation_counts(self, brand: str, since: datetime) -> dict[str, int]:
        return await self._read(handoffs.conversation_counts, brand, since)

    async def create_ticket(self, row: Row) -> int:
        return await self._write(handoffs.create_ticket, row)

    async def tickets(self, brand: str) -> list[Row]:
        return await self._read(handoffs.tickets, brand)

    async def add_note(self, row: Row) -> Row:
        return await self._write(handoffs.add_note, row)

    async def notes(self, conversation_id: int) -> list[Row]:
        return await self._read(handoffs.notes, conversation_id)


class Operator(Facade):
    async def add_intent_version(self, row: Row, base_version: int | None = None, first: Row | None = None) -> int:
        """The new version's number; raises VersionConflict when `base_version` is not the latest."""
        return await self._write(operator.add_intent_version, row, base_version, first)

    async def intent_versions(self, brand: str, intent: str) -> list[Row]:
        return await self._read(operator.intent_versions, brand, intent)

    async def latest_intent_version(self, brand: str, intent: str) -> Row | None:
        return await self._read(operator.latest_intent_version, brand, intent)

    async def latest_intent_versions(self, brand: str) -> list[Row]:
        return await self._read(operator.latest_intent_versions, brand)

    async def add_eval_run(self, row: Row) -> int:
        return await self._write(operator.add_eval_run, row)

    async def eval_runs(self, brand: str, limit: int = 20) -> list[Row]:
        return await self._read(operator.eval_runs, brand, limit)

    async def add_policy_version(self, row: Row, base_version: int | None = None) -> int:
        """The new version (its id); raises VersionConflict when `base_version` is not the latest."""
        return await self._write(operator.add_policy_version, row, base_version)

    async def latest_policy_version(self, brand: str) -> Row | None:
        return await self._read(operator.latest_policy_version, brand)

    async def policy_versions(self, brand: str, limit: int = 20) -> list[Row]:
        return await self._read(operator.policy_versions, brand, limit)

    async def review_miss(self, row: Row) -> None:
        await self._write(operator.review_miss, row)

    async def reviewed_misses(self, brand: str) -> set[str]:
        return await self._read(operator.reviewed_misses, brand)

    async def customer_turns(self, brand: str, since: datetime) -> list[Row]:
        return await self._read(operator.customer_turns, brand, since)

    async def daily_figures(self, brand: str, since: datetime) -> dict[str, list[Row]]:
        return await self._read(operator.daily_figures, brand, since)
