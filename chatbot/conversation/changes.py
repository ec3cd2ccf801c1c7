"""The changes to a customer's records, carried out once the customer said
yes (chatbot/conversation/records.py): each is audited and idempotent."""

from __future__ import annotations

from typing import Any

from .orders import changeable, not_changeable, refund_exists
from .records_base import Context, Step, money, status_words


async def confirm(ctx: Context, pending: dict[str, Any]) -> Step:
    """Carry out a confirmed change. Safe to call twice: the second time
    reports what was already done."""
    action, number = pending["action"], pending["number"]
    if action == "order_cancel":
        return await _cancel_order(ctx, number)
    if action == "order_modify":
        return await _change_order(ctx, number, pending["request"])
    if action == "return_request":
        return await _open_return(ctx, number)
    if action in ("service_cancel", "refund_request"):
        return await _cancel_purchase(ctx, action, number, pending["refund_cents"])
    raise ValueError(f"nothing to confirm for {action}")


async def _cancel_order(ctx: Context, number: str) -> Step:
    now = ctx.clock.now()
    section = ctx.rules.section("order_cancel")
    changed = await ctx.store.change_order_status(
        number, ctx.user.id, to="cancelled", allowed_from=changeable(ctx), audit=ctx.audit("order_cancel"), now=now
    )
    order = await ctx.store.record_of("orders", number, ctx.user.id)
    if changed:
        return Step(ctx.say("order.cancelled", number=number), section=section, focus={"order": number})
    if order and order["status"] == "cancelled":
        return Step(ctx.say("order.already_cancelled", number=number), section=section)
    return not_changeable(ctx, order, "cancel") if order else Step(ctx.say("order.gone"))


async def _change_order(ctx: Context, number: str, request: str) -> Step:
    now = ctx.clock.now()
    change_id = await ctx.store.add_order_change(
        number, ctx.user.id, request, allowed_from=changeable(ctx), audit=ctx.audit("order_modify"), now=now
    )
    if change_id is None:
        order = await ctx.store.record_of("orders", number, ctx.user.id)
        return not_changeable(ctx, order, "change") if order else Step(ctx.say("order.gone"))
    return Step(
        ctx.say("order.change_recorded", number=number, request_id=change_id, request=request),
        section=ctx.rules.section("order_modify"),
        focus={"order": number},
    )


async def _open_return(ctx: Context, number: str) -> Step:
    now = ctx.clock.now()
    order = await ctx.store.record_of("orders", number, ctx.user.id)
    refund, created = await ctx.store.open_refund(
        user_id=ctx.user.id,
        brand=ctx.user.brand,
        amount_cents=order["total_cents"],
        order_number=number,
        audit=ctx.audit("return_request"),
        now=now,
    )
    if not created:
        return refund_exists(ctx, number, refund)
    return Step(
        ctx.say("order.return_opened", number=number, refund=refund["number"], amount=money(refund["amount_cents"])),
        ["Refund status"],
        section=ctx.rules.section("return_request"),
        focus={"refund": refund["number"], "order": number},
    )


async def _cancel_purchase(ctx: Context, action: str, number: str, refund_cents: int) -> Step:
    now = ctx.clock.now()
    refund, created = await ctx.store.open_refund(
        user_id=ctx.user.id,
        brand=ctx.user.brand,
        amount_cents=refund_cents,
        purchase_number=number,
        cancel_purchase=True,
        audit=ctx.audit(action),
        now=now,
    )
    if not created:
        return Step(
            ctx.say(
                "purchase.refund_exists",
                number=number,
                refund=refund["number"],
                stage=status_words(ctx.brand, "refund", refund["status"]),
            ),
            section=ctx.rules.section(action),
        )
    return Step(
        ctx.say("purchase.cancelled", number=number, refund=refund["number"], amount=money(refund["amount_cents"])),
        ["Refund status"],
        section=ctx.rules.section(action),
        focus={"refund": refund["number"], "purchase": number},
    )
