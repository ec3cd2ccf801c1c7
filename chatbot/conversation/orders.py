"""The record answers of orders (chatbot/conversation/records.py): status,
tracking, cancel, change, return, a failed payment. Each only reads and
offers; the change itself is `changes.confirm`'s."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..clock import parse_iso
from .records_base import Context, Step, day, items_text, money, status_words


def order_status_words(ctx: Context, order: dict[str, Any]) -> str:
    return status_words(ctx.brand, "order", order["status"])


async def order_status(ctx: Context, order: dict[str, Any]) -> Step:
    status = order["status"]
    text = ctx.say(
        "order.summary",
        number=order["number"],
        items=items_text(order),
        total=money(order["total_cents"]),
        placed=day(order["created_at"]),
        status=order_status_words(ctx, order),
    )
    shipment = next(iter(await ctx.store.shipments_of(order["number"])), None)
    replies = []
    more = []
    if status == "shipped" and shipment:
        more.append(
            ctx.say(
                "order.shipped",
                carrier=shipment["carrier"],
                shipped=day(shipment["shipped_at"]),
                estimated=day(shipment["estimated_delivery"]),
            )
        )
        replies = ["Tracking details"]
    elif status == "delivered" and shipment:
        more.append(ctx.say("order.delivered", delivered=day(shipment["delivered_at"])))
        replies = ["Return an item"]
    elif status == "pending_payment":
        if order["notes"]:
            more.append(ctx.say("order.note", note=order["notes"]))
        more.append(ctx.say("order.awaiting_payment"))
    elif status in changeable(ctx):
        more.append(ctx.say("order.changeable"))
        replies = ["Cancel this order", "Change this order"]
    return Step(" ".join([text, *more]), replies, section=ctx.rules.section("order_status"))


async def delivery_tracking(ctx: Context, order: dict[str, Any]) -> Step:
    shipment = next(iter(await ctx.store.shipments_of(order["number"])), None)
    number = order["number"]
    section = ctx.rules.section("delivery_tracking")
    if order["status"] == "shipped" and shipment:
        return Step(
            ctx.say(
                "order.tracking",
                number=number,
                carrier=shipment["carrier"],
                tracking=shipment["tracking_number"],
                shipped=day(shipment["shipped_at"]),
                estimated=day(shipment["estimated_delivery"]),
            ),
            section=section,
        )
    if order["status"] == "delivered":
        # Without a shipment row the date is unknown: said without one, not guessed.
        if shipment and shipment["delivered_at"]:
            text = ctx.say("order.tracking_delivered", number=number, delivered=day(shipment["delivered_at"]))
        else:
            text = ctx.say("order.tracking_delivered_undated", number=number)
        return Step(text, ["Talk to a person", "Return an item"], section=section)
    if order["status"] == "cancelled":
        return Step(ctx.say("order.tracking_cancelled", number=number), section=section)
    return Step(
        ctx.say("order.tracking_not_shipped", number=number, status=order_status_words(ctx, order)), section=section
    )


def not_changeable(ctx: Context, order: dict[str, Any], verb: str) -> Step:
    """Why an order can't be cancelled (verb "cancel") or changed ("change") now."""
    status = order["status"]
    number = order["number"]
    section = ctx.rules.section("order_cancel" if verb == "cancel" else "order_modify")
    window = ctx.rules.return_window_days
    if status in ("shipped", "delivered"):
        return Step(
            ctx.say(f"order.{verb}_{status}", number=number, return_window_days=window),
            ["Tracking details", "Talk to a person"] if status == "shipped" else ["Return an item"],
            section=section,
            focus={"order": number},
            why=ctx.say(f"order.why_{status}", number=number),
            options=ctx.say(f"order.options_{status}", return_window_days=window),
        )
    return Step(
        ctx.say(f"order.{verb}_nothing", number=number, status=order_status_words(ctx, order)),
        section=section,
        focus={"order": number},
    )


def changeable(ctx: Context) -> tuple[str, ...]:
    return tuple(ctx.rules.changeable_statuses or ())


async def order_cancel(ctx: Context, order: dict[str, Any]) -> Step:
    if order["status"] not in changeable(ctx):
        return not_changeable(ctx, order, "cancel")
    # Neither the policy nor the data says where the money of a cancelled paid
    # order goes, so the offer says nothing of it; only that an unpaid one cost nothing.
    key = "order.cancel_offer_unpaid" if order["status"] == "pending_payment" else "order.cancel_offer"
    return Step(
        ctx.say(
            key,
            number=order["number"],
            items=items_text(order),
            total=money(order["total_cents"]),
            status=order_status_words(ctx, order),
        ),
        ["Yes, cancel it", "No, keep it"],
        pending={"await": "confirm", "action": "order_cancel", "number": order["number"]},
        section=ctx.rules.section("order_cancel"),
    )


async def order_modify(ctx: Context, order: dict[str, Any]) -> Step:
    if order["status"] not in changeable(ctx):
        return not_changeable(ctx, order, "change")
    return Step(
        ctx.say(
            "order.change_offer", number=order["number"], items=items_text(order), status=order_status_words(ctx, order)
        ),
        ["Never mind"],
        pending={"await": "change_details", "action": "order_modify", "number": order["number"]},
        section=ctx.rules.section("order_modify"),
    )


def refund_exists(ctx: Context, number: str, refund: dict[str, Any]) -> Step:
    return Step(
        ctx.say(
            "order.refund_exists",
            number=number,
            refund=refund["number"],
            stage=status_words(ctx.brand, "refund", refund["status"]),
        ),
        section=ctx.rules.section("refund_status"),
        focus={"refund": refund["number"]},
    )


def _return_not_delivered(ctx: Context, order: dict[str, Any], section: str, window: int) -> Step:
    """A return asked of an order not delivered: cancel it instead while it may change."""
    number = order["number"]
    if order["status"] in changeable(ctx):
        return Step(
            ctx.say("order.return_not_shipped", number=number),
            ["Cancel this order"],
            section=section,
            focus={"order": number},
        )
    return Step(
        ctx.say(
            "order.return_not_delivered",
            number=number,
            status=order_status_words(ctx, order),
            return_window_days=window,
        ),
        ["Tracking details"],
        section=section,
    )


def _return_too_late(
    ctx: Context, number: str, delivered_at: str, delivered: datetime, section: str, window: int
) -> Step:
    """A return asked after the return window closed."""
    return Step(
        ctx.say("order.return_too_late", number=number, delivered=day(delivered_at), return_window_days=window),
        ["Talk to a person"],
        section=section,
        why=ctx.say(
            "order.why_too_late",
            number=number,
            delivered=day(delivered_at),
            days=(ctx.clock.now() - delivered).days,
            return_window_days=window,
        ),
        options=ctx.say("order.options_too_late"),
    )


async def return_request(ctx: Context, order: dict[str, Any]) -> Step:
    number = order["number"]
    section = ctx.rules.section("return_request")
    window = ctx.rules.return_window_days or 0
    refunds = await ctx.store.refunds_for(order_number=number)
    open_refund = next((r for r in refunds if r["status"] != "rejected"), None)
    if open_refund:
        return refund_exists(ctx, number, open_refund)
    if order["status"] != "delivered":
        return _return_not_delivered(ctx, order, section, window)
    shipment = next(iter(await ctx.store.shipments_of(number)), None)
    delivered_at = shipment["delivered_at"] if shipment else None
    delivered = parse_iso(delivered_at) if delivered_at else None
    if delivered and ctx.clock.now() - delivered > timedelta(days=window):
        return _return_too_late(ctx, number, delivered_at, delivered, section, window)
    return Step(
        ctx.say(
            "order.return_offer",
            number=number,
            items=items_text(order),
            delivered=day(shipment and shipment["delivered_at"]),
            total=money(order["total_cents"]),
            return_window_days=window,
        ),
        ["Yes, open the return", "No"],
        pending={"await": "confirm", "action": "return_request", "number": number},
        section=section,
    )


async def payment_failed(ctx: Context, order: dict[str, Any]) -> Step:
    number = order["number"]
    section = ctx.rules.section("payment_failed")
    if order["status"] == "pending_payment":
        text = (
            ctx.say("order.payment_pending_noted", number=number, note=order["notes"])
            if order["notes"]
            else ctx.say("order.payment_pending", number=number)
        )
        return Step(text, ["Talk to a person", "Payment methods"], section=section)
    if order["status"] == "cancelled":
        # A cancelled order may never have been paid: "the payment went through" would be a guess.
        return Step(ctx.say("order.payment_cancelled", number=number), ["Talk to a person"], section=section)
    return Step(
        ctx.say("order.payment_through", number=number, status=order_status_words(ctx, order)),
        ["Talk to a person"],
        section=section,
    )
