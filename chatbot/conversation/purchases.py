"""The record answers of purchases (chatbot/conversation/records.py): the
invoice, the activation, cancelling with a refund by the brand's cancel window
and processing fee. Each only reads and offers; the change itself is
`changes.confirm`'s."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..brands import Brand
from ..clock import parse_iso
from .records_base import Context, Step, day, money, status_words


def refund_rule(purchase: dict[str, Any], now: datetime, brand: Brand) -> tuple[bool, str, int]:
    """(eligible, the rule that applied, refund in cents) for a purchase, by
    the brand's cancel window and processing fee."""
    rules = brand.settings.rules
    window = rules.cancel_window_days or 0
    age = now - parse_iso(purchase["purchased_at"])
    if purchase["status"] == "active":
        return False, brand.say("purchase.rule_activated"), 0
    if purchase["status"] == "cancelled":
        return False, brand.say("purchase.rule_cancelled"), 0
    if purchase["status"] == "awaiting_payment":
        return True, brand.say("purchase.rule_unpaid"), 0
    if age > timedelta(days=window):
        return False, brand.say("purchase.rule_too_late", days=age.days, cancel_window_days=window), 0
    refund = round(purchase["amount_cents"] * (1 - (rules.processing_fee or 0)))
    return (
        True,
        brand.say("purchase.rule_eligible", days=age.days, cancel_window_days=window, processing_fee=rules.fee_text),
        refund,
    )


async def billing_invoice(ctx: Context, purchase: dict[str, Any]) -> Step:
    number = purchase["number"]
    section = ctx.rules.section("billing_invoice")
    if purchase["status"] == "awaiting_payment":
        return Step(ctx.say("purchase.invoice_unpaid", number=number), section=section)
    return Step(
        ctx.say(
            "purchase.invoice",
            number=number,
            package=purchase["package"],
            amount=money(purchase["amount_cents"]),
            paid=day(purchase["purchased_at"]),
        ),
        ["Talk to a person"],
        section=section,
    )


async def service_activation(ctx: Context, purchase: dict[str, Any]) -> Step:
    number = purchase["number"]
    status = purchase["status"]
    if status == "active":
        text = ctx.say(
            "purchase.active", number=number, package=purchase["package"], activated=day(purchase["activated_at"])
        )
    elif status == "paid":
        text = ctx.say(
            "purchase.paid_not_active", number=number, package=purchase["package"], paid=day(purchase["purchased_at"])
        )
    elif status == "awaiting_payment":
        text = ctx.say("purchase.unpaid_not_active", number=number)
    else:
        text = ctx.say("purchase.cancelled_not_active", number=number)
    return Step(text, section=ctx.rules.section("service_activation"))


async def _already_cancelled(ctx: Context, number: str, section: str) -> Step:
    """A purchase cancelled already, and its refund if it has one."""
    refunds = await ctx.store.refunds_for(purchase_number=number)
    text = (
        ctx.say(
            "purchase.already_cancelled_refund",
            number=number,
            refund=refunds[0]["number"],
            stage=status_words(ctx.brand, "refund", refunds[0]["status"]),
        )
        if refunds
        else ctx.say("purchase.already_cancelled", number=number)
    )
    return Step(text, section=section, focus={"purchase": number})


def _not_refundable(ctx: Context, number: str, package: str, amount: str, rule: str, section: str) -> Step:
    """A purchase the brand's rules do not refund, with the rule that applied."""
    return Step(
        ctx.say("purchase.not_refundable", number=number, package=package, amount=amount, rule=rule),
        ["Talk to a person"],
        section=section,
        focus={"purchase": number},
        why=ctx.say("purchase.why_refused", number=number, rule=rule),
        options=ctx.say("purchase.options_refused"),
    )


async def purchase_refund(ctx: Context, purchase: dict[str, Any], action: str) -> Step:
    number = purchase["number"]
    section = ctx.rules.section(action)
    eligible, rule, refund = refund_rule(purchase, ctx.clock.now(), ctx.brand)
    if purchase["status"] == "cancelled":
        return await _already_cancelled(ctx, number, section)
    package, amount = purchase["package"], money(purchase["amount_cents"])
    if not eligible:
        return _not_refundable(ctx, number, package, amount, rule, section)
    if refund == 0:
        return Step(
            ctx.say("purchase.cancel_free", number=number, rule=rule),
            ["Yes, cancel it", "No"],
            pending={"await": "confirm", "action": action, "number": number, "refund_cents": 0},
            section=section,
        )
    return Step(
        ctx.say(
            "purchase.refund_offer", number=number, package=package, amount=amount, rule=rule, refund=money(refund)
        ),
        ["Yes, cancel and refund", "No"],
        pending={"await": "confirm", "action": action, "number": number, "refund_cents": refund},
        section=section,
        why=ctx.say(
            "purchase.why_fee",
            amount=amount,
            refund=money(refund),
            fee=money(purchase["amount_cents"] - refund),
            fee_percent=ctx.rules.fee_text,
        ),
    )


async def service_cancel(ctx: Context, purchase: dict[str, Any]) -> Step:
    return await purchase_refund(ctx, purchase, "service_cancel")


async def refund_request(ctx: Context, purchase: dict[str, Any]) -> Step:
    return await purchase_refund(ctx, purchase, "refund_request")
