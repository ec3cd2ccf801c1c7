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

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Awaitable, Callable

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
    pending: dict[str, Any] | None = None   # what the bot waits for next, kept in the conversation
    section: str | None = None              # the policy section the answer rests on
    focus: dict[str, str] = field(default_factory=dict)   # records the conversation is now about
    wants_human: bool = False
    why: str | None = None          # the rule behind a refusal or an offer, for "why?"
    options: str | None = None      # what the customer can do instead, for "what can I do?"


@dataclass
class Context:
    user: User
    conversation_id: int
    store: Store
    clock: Clock
    brand: Brand        # the customer's brand: its rules and its wording

    @property
    def rules(self) -> RecordRules:
        return self.brand.settings.rules

    def say(self, key: str, **fields: Any) -> str:
        return self.brand.say(key, **fields)

    def audit(self, action: str) -> dict[str, Any]:
        return {"brand": self.user.brand, "user_id": self.user.id, "conversation_id": self.conversation_id,
                "action": action}


# Which kind of record each action needs.
RECORD_KIND = {
    "order_status": "order", "delivery_tracking": "order", "order_modify": "order", "order_cancel": "order",
    "return_request": "order", "payment_failed": "order", "refund_status": "refund",
    "settlement_withdrawal": "withdrawal", "billing_invoice": "purchase", "service_activation": "purchase",
    "service_cancel": "purchase", "refund_request": "purchase",
}
KIND_TABLE = {"order": "orders", "purchase": "purchases", "refund": "refunds", "withdrawal": "withdrawals"}
KIND_WORD = {"order": "order", "purchase": "purchase", "refund": "refund", "withdrawal": "withdrawal"}
ENTITY_KIND = {"order_number": "order", "purchase_number": "purchase", "refund_number": "refund",
               "withdrawal_number": "withdrawal"}


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
        return row["package"]
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
    return Step(text, [label(kind, r) for r in rows[:4]],
                pending={"await": "record", "action": action} if rows else None)


# -- orders ------------------------------------------------------------------------------

def _order_status(ctx: Context, order: dict[str, Any]) -> str:
    return status_words(ctx.brand, "order", order["status"])


async def order_status(ctx: Context, order: dict[str, Any]) -> Step:
    status = order["status"]
    text = ctx.say("order.summary", number=order["number"], items=items_text(order),
                   total=money(order["total_cents"]), placed=day(order["created_at"]),
                   status=_order_status(ctx, order))
    shipment = next(iter(await ctx.store.shipments_of(order["number"])), None)
    replies = []
    more = []
    if status == "shipped" and shipment:
        more.append(ctx.say("order.shipped", carrier=shipment["carrier"], shipped=day(shipment["shipped_at"]),
                            estimated=day(shipment["estimated_delivery"])))
        replies = ["Tracking details"]
    elif status == "delivered" and shipment:
        more.append(ctx.say("order.delivered", delivered=day(shipment["delivered_at"])))
        replies = ["Return an item"]
    elif status == "pending_payment":
        if order["notes"]:
            more.append(ctx.say("order.note", note=order["notes"]))
        more.append(ctx.say("order.awaiting_payment"))
    elif status in _changeable(ctx):
        more.append(ctx.say("order.changeable"))
        replies = ["Cancel this order", "Change this order"]
    return Step(" ".join([text, *more]), replies, section=ctx.rules.section("order_status"))


async def delivery_tracking(ctx: Context, order: dict[str, Any]) -> Step:
    shipment = next(iter(await ctx.store.shipments_of(order["number"])), None)
    number = order["number"]
    section = ctx.rules.section("delivery_tracking")
    if order["status"] == "shipped" and shipment:
        return Step(ctx.say("order.tracking", number=number, carrier=shipment["carrier"],
                            tracking=shipment["tracking_number"], shipped=day(shipment["shipped_at"]),
                            estimated=day(shipment["estimated_delivery"])), section=section)
    if order["status"] == "delivered":
        # Without a shipment row the date is unknown: said without one, not guessed.
        if shipment and shipment["delivered_at"]:
            text = ctx.say("order.tracking_delivered", number=number, delivered=day(shipment["delivered_at"]))
        else:
            text = ctx.say("order.tracking_delivered_undated", number=number)
        return Step(text, ["Talk to a person", "Return an item"], section=section)
    if order["status"] == "cancelled":
        return Step(ctx.say("order.tracking_cancelled", number=number), section=section)
    return Step(ctx.say("order.tracking_not_shipped", number=number, status=_order_status(ctx, order)),
                section=section)


def _not_changeable(ctx: Context, order: dict[str, Any], verb: str) -> Step:
    """Why an order can't be cancelled (verb "cancel") or changed ("change") now."""
    status = order["status"]
    number = order["number"]
    section = ctx.rules.section("order_cancel" if verb == "cancel" else "order_modify")
    window = ctx.rules.return_window_days
    if status in ("shipped", "delivered"):
        return Step(ctx.say(f"order.{verb}_{status}", number=number, return_window_days=window),
                    ["Tracking details", "Talk to a person"] if status == "shipped" else ["Return an item"],
                    section=section, focus={"order": number}, why=ctx.say(f"order.why_{status}", number=number),
                    options=ctx.say(f"order.options_{status}", return_window_days=window))
    return Step(ctx.say(f"order.{verb}_nothing", number=number, status=_order_status(ctx, order)),
                section=section, focus={"order": number})


def _changeable(ctx: Context) -> tuple[str, ...]:
    return tuple(ctx.rules.changeable_statuses or ())


async def order_cancel(ctx: Context, order: dict[str, Any]) -> Step:
    if order["status"] not in _changeable(ctx):
        return _not_changeable(ctx, order, "cancel")
    # Neither the policy nor the data says where the money of a cancelled paid
    # order goes, so the offer says nothing of it; only that an unpaid one cost nothing.
    key = "order.cancel_offer_unpaid" if order["status"] == "pending_payment" else "order.cancel_offer"
    return Step(ctx.say(key, number=order["number"], items=items_text(order), total=money(order["total_cents"]),
                        status=_order_status(ctx, order)),
                ["Yes, cancel it", "No, keep it"],
                pending={"await": "confirm", "action": "order_cancel", "number": order["number"]},
                section=ctx.rules.section("order_cancel"))


async def order_modify(ctx: Context, order: dict[str, Any]) -> Step:
    if order["status"] not in _changeable(ctx):
        return _not_changeable(ctx, order, "change")
    return Step(ctx.say("order.change_offer", number=order["number"], items=items_text(order),
                        status=_order_status(ctx, order)),
                ["Never mind"],
                pending={"await": "change_details", "action": "order_modify", "number": order["number"]},
                section=ctx.rules.section("order_modify"))


def _refund_exists(ctx: Context, number: str, refund: dict[str, Any]) -> Step:
    return Step(ctx.say("order.refund_exists", number=number, refund=refund["number"],
                        stage=status_words(ctx.brand, "refund", refund["status"])),
                section=ctx.rules.section("refund_status"), focus={"refund": refund["number"]})


async def return_request(ctx: Context, order: dict[str, Any]) -> Step:
    number = order["number"]
    section = ctx.rules.section("return_request")
    window = ctx.rules.return_window_days or 0
    refunds = await ctx.store.refunds_for(order_number=number)
    open_refund = next((r for r in refunds if r["status"] != "rejected"), None)
    if open_refund:
        return _refund_exists(ctx, number, open_refund)
    if order["status"] != "delivered":
        if order["status"] in _changeable(ctx):
            return Step(ctx.say("order.return_not_shipped", number=number), ["Cancel this order"],
                        section=section, focus={"order": number})
        return Step(ctx.say("order.return_not_delivered", number=number, status=_order_status(ctx, order),
                            return_window_days=window), ["Tracking details"], section=section)
    shipment = next(iter(await ctx.store.shipments_of(number)), None)
    delivered_at = shipment["delivered_at"] if shipment else None
    delivered = parse_iso(delivered_at) if delivered_at else None
    if delivered and ctx.clock.now() - delivered > timedelta(days=window):
        return Step(ctx.say("order.return_too_late", number=number, delivered=day(delivered_at),
                            return_window_days=window), ["Talk to a person"], section=section,
                    why=ctx.say("order.why_too_late", number=number, delivered=day(delivered_at),
                                days=(ctx.clock.now() - delivered).days, return_window_days=window),
                    options=ctx.say("order.options_too_late"))
    return Step(ctx.say("order.return_offer", number=number, items=items_text(order),
                        delivered=day(shipment and shipment["delivered_at"]), total=money(order["total_cents"]),
                        return_window_days=window),
                ["Yes, open the return", "No"],
                pending={"await": "confirm", "action": "return_request", "number": number}, section=section)


async def payment_failed(ctx: Context, order: dict[str, Any]) -> Step:
    number = order["number"]
    section = ctx.rules.section("payment_failed")
    if order["status"] == "pending_payment":
        text = (ctx.say("order.payment_pending_noted", number=number, note=order["notes"]) if order["notes"]
                else ctx.say("order.payment_pending", number=number))
        return Step(text, ["Talk to a person", "Payment methods"], section=section)
    if order["status"] == "cancelled":
        # A cancelled order may never have been paid: "the payment went through" would be a guess.
        return Step(ctx.say("order.payment_cancelled", number=number), ["Talk to a person"], section=section)
    return Step(ctx.say("order.payment_through", number=number, status=_order_status(ctx, order)),
                ["Talk to a person"], section=section)


async def refund_status(ctx: Context, refund: dict[str, Any]) -> Step:
    dates = [ctx.say("refund.requested_on", date=day(refund["requested_at"]))]
    if refund["approved_at"]:
        dates.append(ctx.say("refund.approved_on", date=day(refund["approved_at"])))
    if refund["completed_at"]:
        dates.append(ctx.say("refund.completed_on", date=day(refund["completed_at"])))
    text = ctx.say("refund.summary", number=refund["number"],
                   record=refund["order_number"] or refund["purchase_number"], amount=money(refund["amount_cents"]),
                   stage=status_words(ctx.brand, "refund", refund["status"]), dates=", ".join(dates))
    why = None
    if refund["status"] == "rejected" and refund["reason"]:
        text += " " + ctx.say("refund.reason", reason=refund["reason"])
        why = ctx.say("refund.why_rejected", number=refund["number"], reason=refund["reason"])
    return Step(text, section=ctx.rules.section("refund_status"), why=why)


async def settlement_withdrawal(ctx: Context, withdrawal: dict[str, Any]) -> Step:
    fields = {"number": withdrawal["number"], "amount": money(withdrawal["amount_cents"]),
              "requested": day(withdrawal["requested_at"]), "status": withdrawal["status"]}
    text = (ctx.say("withdrawal.summary_paid", **fields, paid=day(withdrawal["paid_at"])) if withdrawal["paid_at"]
            else ctx.say("withdrawal.summary", **fields))
    return Step(text, section=ctx.rules.section("settlement_withdrawal"))


# -- purchases ---------------------------------------------------------------------------

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
    return True, brand.say("purchase.rule_eligible", days=age.days, cancel_window_days=window,
                           processing_fee=rules.fee_text), refund


async def billing_invoice(ctx: Context, purchase: dict[str, Any]) -> Step:
    number = purchase["number"]
    section = ctx.rules.section("billing_invoice")
    if purchase["status"] == "awaiting_payment":
        return Step(ctx.say("purchase.invoice_unpaid", number=number), section=section)
    return Step(ctx.say("purchase.invoice", number=number, package=purchase["package"],
                        amount=money(purchase["amount_cents"]), paid=day(purchase["purchased_at"])),
                ["Talk to a person"], section=section)


async def service_activation(ctx: Context, purchase: dict[str, Any]) -> Step:
    number = purchase["number"]
    status = purchase["status"]
    if status == "active":
        text = ctx.say("purchase.active", number=number, package=purchase["package"],
                       activated=day(purchase["activated_at"]))
    elif status == "paid":
        text = ctx.say("purchase.paid_not_active", number=number, package=purchase["package"],
                       paid=day(purchase["purchased_at"]))
    elif status == "awaiting_payment":
        text = ctx.say("purchase.unpaid_not_active", number=number)
    else:
        text = ctx.say("purchase.cancelled_not_active", number=number)
    return Step(text, section=ctx.rules.section("service_activation"))


async def purchase_refund(ctx: Context, purchase: dict[str, Any], action: str) -> Step:
    number = purchase["number"]
    section = ctx.rules.section(action)
    eligible, rule, refund = refund_rule(purchase, ctx.clock.now(), ctx.brand)
    if purchase["status"] == "cancelled":
        refunds = await ctx.store.refunds_for(purchase_number=number)
        text = (ctx.say("purchase.already_cancelled_refund", number=number, refund=refunds[0]["number"],
                        stage=status_words(ctx.brand, "refund", refunds[0]["status"])) if refunds
                else ctx.say("purchase.already_cancelled", number=number))
        return Step(text, section=section, focus={"purchase": number})
    package, amount = purchase["package"], money(purchase["amount_cents"])
    if not eligible:
        return Step(ctx.say("purchase.not_refundable", number=number, package=package, amount=amount, rule=rule),
                    ["Talk to a person"], section=section, focus={"purchase": number},
                    why=ctx.say("purchase.why_refused", number=number, rule=rule),
                    options=ctx.say("purchase.options_refused"))
    if refund == 0:
        return Step(ctx.say("purchase.cancel_free", number=number, rule=rule), ["Yes, cancel it", "No"],
                    pending={"await": "confirm", "action": action, "number": number, "refund_cents": 0},
                    section=section)
    return Step(ctx.say("purchase.refund_offer", number=number, package=package, amount=amount, rule=rule,
                        refund=money(refund)),
                ["Yes, cancel and refund", "No"],
                pending={"await": "confirm", "action": action, "number": number, "refund_cents": refund},
                section=section,
                why=ctx.say("purchase.why_fee", amount=amount, refund=money(refund),
                            fee=money(purchase["amount_cents"] - refund),
                            fee_percent=ctx.rules.fee_text))


# Changes whose rule needs nothing but the record and the brand's rules: the
# reply key of what to say of the one that qualifies.
_QUALIFIES: dict[str, tuple[str, Callable[[Brand, dict[str, Any], datetime], bool]]] = {
    "order_cancel": ("order.qualifies_cancel",
                     lambda brand, order, now: order["status"] in (brand.settings.rules.changeable_statuses or ())),
    "order_modify": ("order.qualifies_change",
                     lambda brand, order, now: order["status"] in (brand.settings.rules.changeable_statuses or ())),
    "service_cancel": ("purchase.qualifies_cancel", lambda brand, purchase, now: refund_rule(purchase, now, brand)[0]),
    "refund_request": ("purchase.qualifies_refund",
                       lambda brand, purchase, now: refund_rule(purchase, now, brand)[2] > 0),
}


def only_one_qualifying(action: str, rows: list[dict[str, Any]], now: datetime,
                        brand: Brand) -> tuple[dict[str, Any], str] | None:
    """The one record of several that a change can apply to, and what to say
    of it ("can still be cancelled"); None when the change has no such rule
    or more or fewer than one qualify (then the customer is asked which).
    The brand's rules decide."""
    if action not in _QUALIFIES or not rows:
        return None
    key, qualifies = _QUALIFIES[action]
    fitting = [row for row in rows if qualifies(brand, row, now)]
    return (fitting[0], brand.say(key)) if len(fitting) == 1 else None


async def service_cancel(ctx: Context, purchase: dict[str, Any]) -> Step:
    return await purchase_refund(ctx, purchase, "service_cancel")


async def refund_request(ctx: Context, purchase: dict[str, Any]) -> Step:
    return await purchase_refund(ctx, purchase, "refund_request")


ACTIONS: dict[str, Callable[[Context, dict[str, Any]], Awaitable[Step]]] = {
    "order_status": order_status, "delivery_tracking": delivery_tracking, "order_cancel": order_cancel,
    "order_modify": order_modify, "return_request": return_request, "payment_failed": payment_failed,
    "refund_status": refund_status, "settlement_withdrawal": settlement_withdrawal,
    "billing_invoice": billing_invoice, "service_activation": service_activation,
    "service_cancel": service_cancel, "refund_request": refund_request,
}
# What an intent file may name as its action: the record actions, and the
# flows the dialogue runs itself.
KNOWN_ACTIONS = set(ACTIONS) | {"dispute_case", "human_agent", "list_records", "leave_message"}


# -- changes, after the customer confirmed ----------------------------------------------------

async def confirm(ctx: Context, pending: dict[str, Any]) -> Step:
    """Carry out a confirmed change. Safe to call twice: the second time
    reports what was already done."""
    action, number = pending["action"], pending["number"]
    now = ctx.clock.now()
    if action == "order_cancel":
        section = ctx.rules.section("order_cancel")
        changed = await ctx.store.change_order_status(number, ctx.user.id, to="cancelled",
                                                      allowed_from=_changeable(ctx),
                                                      audit=ctx.audit("order_cancel"), now=now)
        order = await ctx.store.record_of("orders", number, ctx.user.id)
        if changed:
            return Step(ctx.say("order.cancelled", number=number), section=section, focus={"order": number})
        if order and order["status"] == "cancelled":
            return Step(ctx.say("order.already_cancelled", number=number), section=section)
        return _not_changeable(ctx, order, "cancel") if order else Step(ctx.say("order.gone"))
    if action == "order_modify":
        change_id = await ctx.store.add_order_change(number, ctx.user.id, pending["request"],
                                                     allowed_from=_changeable(ctx),
                                                     audit=ctx.audit("order_modify"), now=now)
        if change_id is None:
            order = await ctx.store.record_of("orders", number, ctx.user.id)
            return _not_changeable(ctx, order, "change") if order else Step(ctx.say("order.gone"))
        return Step(ctx.say("order.change_recorded", number=number, request_id=change_id, request=pending["request"]),
                    section=ctx.rules.section("order_modify"), focus={"order": number})
    if action == "return_request":
        order = await ctx.store.record_of("orders", number, ctx.user.id)
        refund, created = await ctx.store.open_refund(user_id=ctx.user.id, brand=ctx.user.brand,
                                                      amount_cents=order["total_cents"], order_number=number,
                                                      audit=ctx.audit("return_request"), now=now)
        if not created:
            return _refund_exists(ctx, number, refund)
        return Step(ctx.say("order.return_opened", number=number, refund=refund["number"],
                            amount=money(refund["amount_cents"])),
                    ["Refund status"], section=ctx.rules.section("return_request"),
                    focus={"refund": refund["number"], "order": number})
    if action in ("service_cancel", "refund_request"):
        refund, created = await ctx.store.open_refund(user_id=ctx.user.id, brand=ctx.user.brand,
                                                      amount_cents=pending["refund_cents"], purchase_number=number,
                                                      cancel_purchase=True, audit=ctx.audit(action), now=now)
        if not created:
            return Step(ctx.say("purchase.refund_exists", number=number, refund=refund["number"],
                                stage=status_words(ctx.brand, "refund", refund["status"])),
                        section=ctx.rules.section(action))
        return Step(ctx.say("purchase.cancelled", number=number, refund=refund["number"],
                            amount=money(refund["amount_cents"])),
                    ["Refund status"], section=ctx.rules.section(action),
                    focus={"refund": refund["number"], "purchase": number})
    raise ValueError(f"nothing to confirm for {action}")
