"""What every record answer is made of (chatbot/conversation/records.py): the
`Step` it returns, the `Context` it runs in, the kinds of record, the
customer's records of a kind, and how amounts, dates and records read."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..auth import User
from ..brands import Brand, RecordRules
from ..clock import Clock, parse_iso
from ..store import Store


def money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


def day(iso: str | None) -> str:
    return parse_iso(iso).strftime("%b %d, %Y").replace(" 0", " ") if iso else "unknown"


def items_text(order: dict[str, Any]) -> str:
    items = json.loads(order["items"] or "[]")
    return ", ".join(f"{i['name']} x{i['quantity']}" if i.get("quantity", 1) > 1 else i["name"] for i in items)


def status_words(brand: Brand, kind: str, status: str) -> str:
    """How a record's status reads ("being processed"); a status the brand
    has no words for reads as itself."""
    key = f"{kind}.status.{status}"
    return brand.say(key) if key in brand.replies else status


@dataclass
class Step:
    text: str
    quick_replies: list[str] = field(default_factory=list)
    pending: dict[str, Any] | None = None  # what the bot waits for next, kept in the conversation
    section: str | None = None  # the policy section the answer rests on
    focus: dict[str, str] = field(default_factory=dict)  # records the conversation is now about
    wants_human: bool = False
    why: str | None = None  # the rule behind a refusal or an offer, for "why?"
    options: str | None = None  # what the customer can do instead, for "what can I do?"


@dataclass
class Context:
    user: User
    conversation_id: int
    store: Store
    clock: Clock
    brand: Brand  # the customer's brand: its rules and its wording

    @property
    def rules(self) -> RecordRules:
        return self.brand.settings.rules

    def say(self, key: str, **fields: Any) -> str:
        return self.brand.say(key, **fields)

    def audit(self, action: str) -> dict[str, Any]:
        return {
            "brand": self.user.brand,
            "user_id": self.user.id,
            "conversation_id": self.conversation_id,
            "action": action,
        }


# Which kind of record each action needs.
RECORD_KIND = {
    "order_status": "order",
    "delivery_tracking": "order",
    "order_modify": "order",
    "order_cancel": "order",
    "return_request": "order",
    "payment_failed": "order",
    "refund_status": "refund",
    "settlement_withdrawal": "withdrawal",
    "billing_invoice": "purchase",
    "service_activation": "purchase",
    "service_cancel": "purchase",
    "refund_request": "purchase",
}
KIND_TABLE = {"order": "orders", "purchase": "purchases", "refund": "refunds", "withdrawal": "withdrawals"}
KIND_WORD = {"order": "order", "purchase": "purchase", "refund": "refund", "withdrawal": "withdrawal"}
ENTITY_KIND = {
    "order_number": "order",
    "purchase_number": "purchase",
    "refund_number": "refund",
    "withdrawal_number": "withdrawal",
}


async def candidates(ctx: Context, kind: str) -> list[dict[str, Any]]:
    """The customer's records of a kind, newest first."""
    if kind == "order":
        rows = await ctx.store.orders_of(ctx.user.id)
    elif kind == "purchase":
        rows = await ctx.store.purchases_of(ctx.user.id)
    elif kind == "refund":
        rows = await ctx.store.refunds_of(ctx.user.id)
    else:
        rows = await ctx.store.withdrawals_of(ctx.user.id)
    return rows


# Words of what a record is that name nothing in particular: "phone case x2", "ALL IN ONE"
DESCRIPTION_FILLER = frozenset({"and", "the", "for", "with", "all", "one", "package", "management"})


def described_as(kind: str, row: dict[str, Any]) -> str:
    """What a record is, in the words a customer may use for it: an order's
    items, a purchase's package (refunds and withdrawals are only amounts)."""
    if kind == "order":
        return items_text(row)
    if kind == "purchase":
        package: str = row["package"]
        return package
    return ""


def label(kind: str, row: dict[str, Any]) -> str:
    """A quick-reply button naming one record."""
    return f"{row['number']} · {described_as(kind, row) or money(row['amount_cents'])}"


async def not_found(ctx: Context, kind: str, number: str, action: str) -> Step:
    """The one answer for a number that is not the customer's, whether it exists or not."""
    rows = await candidates(ctx, kind)
    text = ctx.say("record.not_found", kind=KIND_WORD[kind], number=number)
    if rows:
        text += " " + ctx.say("record.recent", kind=KIND_WORD[kind])
    return Step(
        text, [label(kind, r) for r in rows[:4]], pending={"await": "record", "action": action} if rows else None
    )
