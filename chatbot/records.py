"""The customer's own records and what the policy lets the bot do with them.

Each action looks up one record of the customer (never anyone else's: the
store only returns rows the user owns) and returns a `Step`: what to say, the
buttons to offer, and what the bot waits for next. Changes happen only in
`confirm()`, after the customer said yes, and each is audited and idempotent.

The rules are the policies' and shared/spec/demo-data.md's:
- cltiktok orders: modify or cancel while pending_payment, paid or processing;
  returns for delivered orders up to 30 days after delivery.
- ttr-e purchases: cancel with a refund only when not activated and within 14
  days of purchase; the refund is the amount less the processing fee."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Awaitable, Callable

from .auth import User
from .clock import Clock, parse_iso
from .store import Store

CHANGEABLE = ("pending_payment", "paid", "processing")
RETURN_WINDOW_DAYS = 30
CANCEL_WINDOW_DAYS = 14
PROCESSING_FEE = 0.05

ORDER_STATUS_WORDS = {
    "pending_payment": "waiting for payment", "paid": "paid and waiting to be processed",
    "processing": "being processed (packed for shipping)", "shipped": "shipped", "delivered": "delivered",
    "cancelled": "cancelled",
}
REFUND_STAGES = {
    "requested": "requested, waiting for review", "approved": "approved, about to be paid back",
    "processing": "approved and being paid back to your original payment method",
    "completed": "completed: the money has been paid back", "rejected": "rejected",
}
PURCHASE_STATUS_WORDS = {
    "awaiting_payment": "waiting for payment", "paid": "paid, not yet activated", "active": "active",
    "cancelled": "cancelled",
}


def money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


def day(iso: str | None) -> str:
    return parse_iso(iso).strftime("%b %d, %Y").replace(" 0", " ") if iso else "unknown"


def items_text(order: dict[str, Any]) -> str:
    items = json.loads(order["items"] or "[]")
    return ", ".join(f"{i['name']} x{i['quantity']}" if i.get("quantity", 1) > 1 else i["name"] for i in items)


@dataclass
class Step:
    text: str
    quick_replies: list[str] = field(default_factory=list)
    pending: dict[str, Any] | None = None   # what the bot waits for next, kept in the conversation
    section: str | None = None              # the policy section the answer rests on
    focus: dict[str, str] = field(default_factory=dict)   # records the conversation is now about
    wants_human: bool = False


@dataclass
class Context:
    user: User
    conversation_id: int
    store: Store
    clock: Clock

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
        return await ctx.store.orders_of(ctx.user.id)
    if kind == "purchase":
        return await ctx.store.purchases_of(ctx.user.id)
    if kind == "refund":
        return await ctx.store.refunds_of(ctx.user.id)
    return await ctx.store.withdrawals_of(ctx.user.id)


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
    text = f"I couldn't find {KIND_WORD[kind]} {number} on your account. Please check the number."
    if rows:
        text += f" Here are your recent {KIND_WORD[kind]}s:"
    return Step(text, [label(kind, r) for r in rows[:4]],
                pending={"await": "record", "action": action} if rows else None)


# -- cltiktok orders ---------------------------------------------------------------------

async def order_status(ctx: Context, order: dict[str, Any]) -> Step:
    status = order["status"]
    text = (f"Order {order['number']} ({items_text(order)}, {money(order['total_cents'])}), placed on "
            f"{day(order['created_at'])}, is {ORDER_STATUS_WORDS.get(status, status)}.")
    shipment = next(iter(await ctx.store.shipments_of(order["number"])), None)
    replies = []
    if status == "shipped" and shipment:
        text += (f" It shipped with {shipment['carrier']} on {day(shipment['shipped_at'])}; estimated delivery "
                 f"{day(shipment['estimated_delivery'])}.")
        replies = ["Tracking details"]
    elif status == "delivered" and shipment:
        text += f" It was delivered on {day(shipment['delivered_at'])}."
        replies = ["Return an item"]
    elif status == "pending_payment":
        if order["notes"]:
            text += f" Note: {order['notes']}."
        text += " It will be processed once the payment goes through."
    elif status in ("paid", "processing"):
        text += " It can still be changed or cancelled before it ships."
        replies = ["Cancel this order", "Change this order"]
    return Step(text, replies, section="1.1")


async def delivery_tracking(ctx: Context, order: dict[str, Any]) -> Step:
    shipment = next(iter(await ctx.store.shipments_of(order["number"])), None)
    number = order["number"]
    if order["status"] == "shipped" and shipment:
        return Step(f"Order {number} is on its way with {shipment['carrier']}, tracking number "
                    f"{shipment['tracking_number']}. It shipped on {day(shipment['shipped_at'])} and the estimated "
                    f"delivery date is {day(shipment['estimated_delivery'])}.", section="1.1")
    if order["status"] == "delivered":
        when = day(shipment["delivered_at"]) if shipment else "recently"
        return Step(f"Order {number} was delivered on {when}. If it didn't reach you, tell me and I'll connect "
                    "you with a person.", ["Talk to a person", "Return an item"], section="1.1")
    if order["status"] == "cancelled":
        return Step(f"Order {number} was cancelled, so it won't be shipped.", section="1.1")
    return Step(f"Order {number} hasn't shipped yet: it is {ORDER_STATUS_WORDS[order['status']]}. You'll get the "
                "carrier and tracking number as soon as it ships.", section="1.1")


def _not_changeable(order: dict[str, Any], verb: str) -> Step:
    status = order["status"]
    number = order["number"]
    if status == "shipped":
        return Step(f"Order {number} has already shipped, so it can no longer be {verb}: orders can only be "
                    "changed or cancelled before they ship. You can track it, and once it is delivered you can "
                    "return it within 30 days.", ["Tracking details", "Talk to a person"], section="1.1",
                    focus={"order": number})
    if status == "delivered":
        return Step(f"Order {number} has already been delivered, so it can no longer be {verb}. You can ask for "
                    "a return instead (within 30 days of delivery).", ["Return an item"], section="1.1",
                    focus={"order": number})
    return Step(f"Order {number} is {ORDER_STATUS_WORDS.get(status, status)}, so there is nothing to "
                f"{'cancel' if verb == 'cancelled' else 'change'}.", section="1.1", focus={"order": number})


async def order_cancel(ctx: Context, order: dict[str, Any]) -> Step:
    if order["status"] not in CHANGEABLE:
        return _not_changeable(order, "cancelled")
    charged = order["status"] != "pending_payment"
    refund_note = (f" The {money(order['total_cents'])} you paid goes back to your original payment method."
                   if charged else " Nothing has been charged for it yet.")
    return Step(f"Order {order['number']} ({items_text(order)}, {money(order['total_cents'])}) is "
                f"{ORDER_STATUS_WORDS[order['status']]}, so it can still be cancelled.{refund_note} "
                "Shall I cancel it?", ["Yes, cancel it", "No, keep it"],
                pending={"await": "confirm", "action": "order_cancel", "number": order["number"]}, section="1.1")


async def order_modify(ctx: Context, order: dict[str, Any]) -> Step:
    if order["status"] not in CHANGEABLE:
        return _not_changeable(order, "changed")
    return Step(f"Order {order['number']} ({items_text(order)}) is {ORDER_STATUS_WORDS[order['status']]}, so it "
                "can still be changed. What would you like to change (address, size, colour, quantity or item)?",
                ["Never mind"],
                pending={"await": "change_details", "action": "order_modify", "number": order["number"]},
                section="1.1")


async def return_request(ctx: Context, order: dict[str, Any]) -> Step:
    number = order["number"]
    refunds = await ctx.store.refunds_for(order_number=number)
    open_refund = next((r for r in refunds if r["status"] != "rejected"), None)
    if open_refund:
        return Step(f"There is already a refund for order {number}: {open_refund['number']}, "
                    f"{REFUND_STAGES[open_refund['status']]}.", section="1.3", focus={"refund": open_refund["number"]})
    if order["status"] != "delivered":
        if order["status"] in CHANGEABLE:
            return Step(f"Order {number} hasn't shipped yet, so there's nothing to return: you can cancel it "
                        "instead.", ["Cancel this order"], section="1.1", focus={"order": number})
        return Step(f"Order {number} is {ORDER_STATUS_WORDS.get(order['status'])}; returns open once an order "
                    "is delivered (up to 30 days after delivery).", ["Tracking details"], section="1.1")
    shipment = next(iter(await ctx.store.shipments_of(number)), None)
    delivered = parse_iso(shipment["delivered_at"]) if shipment and shipment["delivered_at"] else None
    if delivered and ctx.clock.now() - delivered > timedelta(days=RETURN_WINDOW_DAYS):
        return Step(f"Order {number} was delivered on {day(shipment['delivered_at'])}, more than "
                    f"{RETURN_WINDOW_DAYS} days ago, so it is past the return window. If you think something is "
                    "wrong with it, I can connect you with a person.", ["Talk to a person"], section="1.1")
    return Step(f"Order {number} ({items_text(order)}) was delivered on {day(shipment and shipment['delivered_at'])}, "
                f"within the {RETURN_WINDOW_DAYS}-day return window. I can open a return and refund request for "
                f"{money(order['total_cents'])}. Shall I go ahead?", ["Yes, open the return", "No"],
                pending={"await": "confirm", "action": "return_request", "number": number}, section="1.1")


async def payment_failed(ctx: Context, order: dict[str, Any]) -> Step:
    number = order["number"]
    if order["status"] == "pending_payment":
        note = f" ({order['notes']})" if order["notes"] else ""
        return Step(f"Order {number} is still waiting for payment{note}. Nothing has been charged for it. You can "
                    "retry the payment from the order page, or pay with another supported method. If you see a "
                    "charge anyway, tell me and I'll get a person to check the transaction.",
                    ["Talk to a person", "Payment methods"], section="1.3")
    return Step(f"The payment for order {number} went through: the order is "
                f"{ORDER_STATUS_WORDS.get(order['status'])}. If you were charged twice or see an unexpected "
                "charge, I can connect you with a person to check the transaction.", ["Talk to a person"],
                section="1.3")


async def refund_status(ctx: Context, refund: dict[str, Any]) -> Step:
    record = refund["order_number"] or refund["purchase_number"]
    text = (f"Refund {refund['number']} for {record} ({money(refund['amount_cents'])}) is "
            f"{REFUND_STAGES.get(refund['status'], refund['status'])}. Requested on {day(refund['requested_at'])}")
    if refund["approved_at"]:
        text += f", approved on {day(refund['approved_at'])}"
    if refund["completed_at"]:
        text += f", completed on {day(refund['completed_at'])}"
    text += "."
    if refund["status"] == "rejected" and refund["reason"]:
        text += f" Reason: {refund['reason']}."
    return Step(text, section="1.3" if ctx.user.brand == "cltiktok" else "2")


async def settlement_withdrawal(ctx: Context, withdrawal: dict[str, Any]) -> Step:
    text = (f"Withdrawal {withdrawal['number']} of {money(withdrawal['amount_cents'])}, requested on "
            f"{day(withdrawal['requested_at'])}, is {withdrawal['status']}")
    text += f" (paid on {day(withdrawal['paid_at'])})." if withdrawal["paid_at"] else "."
    return Step(text, section="1.4")


# -- ttr-e purchases ----------------------------------------------------------------------

def refund_rule(purchase: dict[str, Any], now: datetime) -> tuple[bool, str, int]:
    """(eligible, the rule that applied, refund in cents) for a purchase."""
    age = now - parse_iso(purchase["purchased_at"])
    if purchase["status"] == "active":
        return False, ("it has been activated, and the policy says: \"Once the service has been activated or "
                       "work has commenced, refunds will not be issued.\""), 0
    if purchase["status"] == "cancelled":
        return False, "it is already cancelled", 0
    if purchase["status"] == "awaiting_payment":
        return True, "nothing has been paid yet, so it can be cancelled at no cost", 0
    if age > timedelta(days=CANCEL_WINDOW_DAYS):
        return False, (f"it was bought {age.days} days ago, and the policy allows cancellation only \"within 14 "
                       "days of your purchase date if the service has not yet been activated.\""), 0
    refund = round(purchase["amount_cents"] * (1 - PROCESSING_FEE))
    return True, (f"it was bought {age.days} days ago and is not activated, so it is within the 14-day window; "
                  f"the refund is the amount less the {PROCESSING_FEE:.0%} processing fee"), refund


async def billing_invoice(ctx: Context, purchase: dict[str, Any]) -> Step:
    number = purchase["number"]
    if purchase["status"] == "awaiting_payment":
        return Step(f"Purchase {number} hasn't been paid yet; the electronic invoice is sent on successful "
                    "payment.", section="1")
    return Step(f"Purchase {number} ({purchase['package']}, {money(purchase['amount_cents'])}) was paid on "
                f"{day(purchase['purchased_at'])}. The electronic invoice detailing the services was issued on "
                "payment and sent to your account email. If you can't find it, I can connect you with a person.",
                ["Talk to a person"], section="1")


async def service_activation(ctx: Context, purchase: dict[str, Any]) -> Step:
    number = purchase["number"]
    status = purchase["status"]
    if status == "active":
        text = f"Purchase {number} ({purchase['package']}) is active since {day(purchase['activated_at'])}."
    elif status == "paid":
        text = (f"Purchase {number} ({purchase['package']}) is paid (on {day(purchase['purchased_at'])}) and not "
                "activated yet. Access is granted once the payment is confirmed; our team will activate it.")
    elif status == "awaiting_payment":
        text = f"Purchase {number} is waiting for payment; access is granted only after payment is confirmed."
    else:
        text = f"Purchase {number} was cancelled, so it won't be activated."
    return Step(text, section="1")


async def purchase_refund(ctx: Context, purchase: dict[str, Any], action: str) -> Step:
    number = purchase["number"]
    eligible, rule, refund = refund_rule(purchase, ctx.clock.now())
    if purchase["status"] == "cancelled":
        refunds = await ctx.store.refunds_for(purchase_number=number)
        done = f" Its refund {refunds[0]['number']} is {REFUND_STAGES[refunds[0]['status']]}." if refunds else ""
        return Step(f"Purchase {number} is already cancelled.{done}", section="2", focus={"purchase": number})
    if not eligible:
        return Step(f"Purchase {number} ({purchase['package']}, {money(purchase['amount_cents'])}) can't be "
                    f"cancelled for a refund: {rule}", ["Talk to a person"], section="2", focus={"purchase": number})
    if refund == 0:
        return Step(f"Purchase {number}: {rule}. Shall I cancel it?", ["Yes, cancel it", "No"],
                    pending={"await": "confirm", "action": action, "number": number, "refund_cents": 0},
                    section="2")
    return Step(f"Purchase {number} ({purchase['package']}, {money(purchase['amount_cents'])}) qualifies: {rule}. "
                f"You would get {money(refund)} back. Shall I cancel it and request the refund?",
                ["Yes, cancel and refund", "No"],
                pending={"await": "confirm", "action": action, "number": number, "refund_cents": refund},
                section="2")


# Changes whose rule needs nothing but the record: what to say of the one that qualifies.
_QUALIFIES: dict[str, tuple[str, Callable[[dict[str, Any], datetime], bool]]] = {
    "order_cancel": ("can still be cancelled", lambda order, now: order["status"] in CHANGEABLE),
    "order_modify": ("can still be changed", lambda order, now: order["status"] in CHANGEABLE),
    "service_cancel": ("can still be cancelled", lambda purchase, now: refund_rule(purchase, now)[0]),
    "refund_request": ("qualifies for a refund", lambda purchase, now: refund_rule(purchase, now)[2] > 0),
}


def only_one_qualifying(action: str, rows: list[dict[str, Any]], now: datetime) -> tuple[dict[str, Any], str] | None:
    """The one record of several that a change can apply to, and what to say
    of it ("can still be cancelled"); None when the change has no such rule
    or more or fewer than one qualify (then the customer is asked which)."""
    if action not in _QUALIFIES:
        return None
    phrase, qualifies = _QUALIFIES[action]
    fitting = [row for row in rows if qualifies(row, now)]
    return (fitting[0], phrase) if len(fitting) == 1 else None


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
KNOWN_ACTIONS = set(ACTIONS) | {"dispute", "human_agent"}


# -- changes, after the customer confirmed ----------------------------------------------------

async def confirm(ctx: Context, pending: dict[str, Any]) -> Step:
    """Carry out a confirmed change. Safe to call twice: the second time
    reports what was already done."""
    action, number = pending["action"], pending["number"]
    now = ctx.clock.now()
    if action == "order_cancel":
        changed = await ctx.store.change_order_status(number, ctx.user.id, to="cancelled", allowed_from=CHANGEABLE,
                                                      audit=ctx.audit("order_cancel"), now=now)
        order = await ctx.store.record_of("orders", number, ctx.user.id)
        if changed:
            paid = "" if pending.get("unpaid") else " Any payment goes back to your original payment method."
            return Step(f"Done: order {number} is cancelled.{paid}", section="1.1", focus={"order": number})
        if order and order["status"] == "cancelled":
            return Step(f"Order {number} is already cancelled.", section="1.1")
        return _not_changeable(order, "cancelled") if order else Step("I couldn't find that order any more.")
    if action == "order_modify":
        change_id = await ctx.store.add_order_change(number, ctx.user.id, pending["request"], allowed_from=CHANGEABLE,
                                                     audit=ctx.audit("order_modify"), now=now)
        if change_id is None:
            order = await ctx.store.record_of("orders", number, ctx.user.id)
            return _not_changeable(order, "changed") if order else Step("I couldn't find that order any more.")
        return Step(f"Your change request for order {number} is recorded (request #{change_id}): "
                    f"\"{pending['request']}\". The store applies it before the order ships, and you'll see it on "
                    "the order page.", section="1.1", focus={"order": number})
    if action == "return_request":
        order = await ctx.store.record_of("orders", number, ctx.user.id)
        refund, created = await ctx.store.open_refund(user_id=ctx.user.id, brand=ctx.user.brand,
                                                      amount_cents=order["total_cents"], order_number=number,
                                                      audit=ctx.audit("return_request"), now=now)
        if not created:
            return Step(f"There is already a refund for order {number}: {refund['number']}, "
                        f"{REFUND_STAGES[refund['status']]}.", section="1.3", focus={"refund": refund["number"]})
        return Step(f"Your return is open: refund request {refund['number']} for {money(refund['amount_cents'])}. "
                    "Next, our team reviews it; once approved, the money goes back to your original payment method. "
                    "You can ask me for its status any time.", ["Refund status"], section="1.1",
                    focus={"refund": refund["number"], "order": number})
    if action in ("service_cancel", "refund_request"):
        refund, created = await ctx.store.open_refund(user_id=ctx.user.id, brand=ctx.user.brand,
                                                      amount_cents=pending["refund_cents"], purchase_number=number,
                                                      cancel_purchase=True, audit=ctx.audit(action), now=now)
        if not created:
            return Step(f"Purchase {number} is already cancelled; refund {refund['number']} is "
                        f"{REFUND_STAGES[refund['status']]}.", section="2")
        return Step(f"Done: purchase {number} is cancelled and refund {refund['number']} of "
                    f"{money(refund['amount_cents'])} is requested. Our team reviews it and pays it back to your "
                    "original payment method.", ["Refund status"], section="2",
                    focus={"refund": refund["number"], "purchase": number})
    raise ValueError(f"nothing to confirm for {action}")
