"""The customer's own records and what the policy lets the bot do with them.

Each action looks up one record of the customer (never anyone else's: the
store only returns rows the user owns) and returns a `Step`: what to say, the
buttons to offer, and what the bot waits for next. Changes happen only in
`confirm()`, after the customer said yes, and each is audited and idempotent.

The rules are the brand's data, not code: `rules` in intents/<brand>/brand.yaml
(which order statuses may change, the return and cancellation windows, the
processing fee, the policy section each answer cites), and every sentence is a
template of intents/<brand>/replies.yaml, said through `Brand.say`. What the
rules are, per shared/spec/demo-data.md and the policies:
- cltiktok orders: modify or cancel while pending_payment, paid or processing;
  returns for delivered orders up to 30 days after delivery.
- ttr-e purchases: cancel with a refund only when not activated and within 14
  days of purchase; the refund is the amount less the processing fee."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from ..brands import Brand
from .changes import confirm
from .orders import delivery_tracking, order_cancel, order_modify, order_status, payment_failed, return_request
from .purchases import billing_invoice, purchase_refund, refund_request, refund_rule, service_activation, service_cancel
from .records_base import (
    DESCRIPTION_FILLER,
    ENTITY_KIND,
    KIND_TABLE,
    KIND_WORD,
    RECORD_KIND,
    Context,
    Step,
    candidates,
    day,
    described_as,
    items_text,
    label,
    money,
    not_found,
    status_words,
)

# What callers import from here: the answers live in orders.py and
# purchases.py, the changes in changes.py, what they share in records_base.py.
__all__ = [
    "ACTIONS",
    "DESCRIPTION_FILLER",
    "ENTITY_KIND",
    "KIND_TABLE",
    "KIND_WORD",
    "KNOWN_ACTIONS",
    "RECORD_KIND",
    "Context",
    "Step",
    "billing_invoice",
    "candidates",
    "confirm",
    "day",
    "delivery_tracking",
    "described_as",
    "items_text",
    "label",
    "money",
    "not_found",
    "only_one_qualifying",
    "order_cancel",
    "order_modify",
    "order_status",
    "payment_failed",
    "purchase_refund",
    "refund_request",
    "refund_rule",
    "refund_status",
    "return_request",
    "service_activation",
    "service_cancel",
    "settlement_withdrawal",
    "status_words",
]


async def refund_status(ctx: Context, refund: dict[str, Any]) -> Step:
    dates = [ctx.say("refund.requested_on", date=day(refund["requested_at"]))]
    if refund["approved_at"]:
        dates.append(ctx.say("refund.approved_on", date=day(refund["approved_at"])))
    if refund["completed_at"]:
        dates.append(ctx.say("refund.completed_on", date=day(refund["completed_at"])))
    text = ctx.say(
        "refund.summary",
        number=refund["number"],
        record=refund["order_number"] or refund["purchase_number"],
        amount=money(refund["amount_cents"]),
        stage=status_words(ctx.brand, "refund", refund["status"]),
        dates=", ".join(dates),
    )
    why = None
    if refund["status"] == "rejected" and refund["reason"]:
        text += " " + ctx.say("refund.reason", reason=refund["reason"])
        why = ctx.say("refund.why_rejected", number=refund["number"], reason=refund["reason"])
    return Step(text, section=ctx.rules.section("refund_status"), why=why)


async def settlement_withdrawal(ctx: Context, withdrawal: dict[str, Any]) -> Step:
    fields = {
        "number": withdrawal["number"],
        "amount": money(withdrawal["amount_cents"]),
        "requested": day(withdrawal["requested_at"]),
        "status": withdrawal["status"],
    }
    text = (
        ctx.say("withdrawal.summary_paid", **fields, paid=day(withdrawal["paid_at"]))
        if withdrawal["paid_at"]
        else ctx.say("withdrawal.summary", **fields)
    )
    return Step(text, section=ctx.rules.section("settlement_withdrawal"))


# Changes whose rule needs nothing but the record and the brand's rules: the
# reply key of what to say of the one that qualifies.
_QUALIFIES: dict[str, tuple[str, Callable[[Brand, dict[str, Any], datetime], bool]]] = {
    "order_cancel": (
        "order.qualifies_cancel",
        lambda brand, order, now: order["status"] in (brand.settings.rules.changeable_statuses or ()),
    ),
    "order_modify": (
        "order.qualifies_change",
        lambda brand, order, now: order["status"] in (brand.settings.rules.changeable_statuses or ()),
    ),
    "service_cancel": ("purchase.qualifies_cancel", lambda brand, purchase, now: refund_rule(purchase, now, brand)[0]),
    "refund_request": (
        "purchase.qualifies_refund",
        lambda brand, purchase, now: refund_rule(purchase, now, brand)[2] > 0,
    ),
}


def only_one_qualifying(
    action: str, rows: list[dict[str, Any]], now: datetime, brand: Brand
) -> tuple[dict[str, Any], str] | None:
    """The one record of several that a change can apply to, and what to say
    of it ("can still be cancelled"); None when the change has no such rule
    or more or fewer than one qualify (then the customer is asked which).
    The brand's rules decide."""
    if action not in _QUALIFIES or not rows:
        return None
    key, qualifies = _QUALIFIES[action]
    fitting = [row for row in rows if qualifies(brand, row, now)]
    return (fitting[0], brand.say(key)) if len(fitting) == 1 else None


ACTIONS: dict[str, Callable[[Context, dict[str, Any]], Awaitable[Step]]] = {
    "order_status": order_status,
    "delivery_tracking": delivery_tracking,
    "order_cancel": order_cancel,
    "order_modify": order_modify,
    "return_request": return_request,
    "payment_failed": payment_failed,
    "refund_status": refund_status,
    "settlement_withdrawal": settlement_withdrawal,
    "billing_invoice": billing_invoice,
    "service_activation": service_activation,
    "service_cancel": service_cancel,
    "refund_request": refund_request,
}
# What an intent file may name as its action: the record actions, and the
# flows the dialogue runs itself.
KNOWN_ACTIONS = set(ACTIONS) | {"dispute_case", "human_agent", "list_records", "leave_message"}
