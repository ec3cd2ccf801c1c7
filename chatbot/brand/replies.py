"""replies.yaml: the brand's wording of its record and handoff answers, one
template per key of REPLY_FIELDS."""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .files import IntentFileError, line_at, load_yaml
from .settings import BrandSettings, RecordRules

# The wording of the record answers (chatbot/conversation/records.py) and of the handoff desk
# (chatbot/handoff.py): intents/<brand>/replies.yaml holds one template per key,
# and here is what the code fills in for each. A template may use any of its
# fields as {name}, and no others. The first part of a key says who needs it:
# "record" and "handoff" every brand, the others a brand keeping that kind of
# record (rules.records).
REPLY_FIELDS: dict[str, tuple[str, ...]] = {
    "record.not_found": ("kind", "number"),
    "record.recent": ("kind",),
    **{f"order.status.{s}": () for s in ("pending_payment", "paid", "processing", "shipped", "delivered", "cancelled")},
    "order.summary": ("number", "items", "total", "placed", "status"),
    "order.shipped": ("carrier", "shipped", "estimated"),
    "order.delivered": ("delivered",),
    "order.note": ("note",),
    "order.awaiting_payment": (),
    "order.changeable": (),
    "order.tracking": ("number", "carrier", "tracking", "shipped", "estimated"),
    "order.tracking_delivered": ("number", "delivered"),
    "order.tracking_delivered_undated": ("number",),
    "order.tracking_cancelled": ("number",),
    "order.tracking_not_shipped": ("number", "status"),
    "order.cancel_shipped": ("number", "return_window_days"),
    "order.change_shipped": ("number", "return_window_days"),
    "order.cancel_delivered": ("number", "return_window_days"),
    "order.change_delivered": ("number", "return_window_days"),
    "order.cancel_nothing": ("number", "status"),
    "order.change_nothing": ("number", "status"),
    "order.cancel_offer": ("number", "items", "total", "status"),
    "order.cancel_offer_unpaid": ("number", "items", "total", "status"),
    "order.change_offer": ("number", "items", "status"),
    "order.refund_exists": ("number", "refund", "stage"),
    "order.return_not_shipped": ("number",),
    "order.return_not_delivered": ("number", "status", "return_window_days"),
    "order.return_too_late": ("number", "delivered", "return_window_days"),
    # "why?" and "what can I do?" after a refusal (Step.why, Step.options)
    "order.why_shipped": ("number",),
    "order.why_delivered": ("number",),
    "order.options_shipped": ("return_window_days",),
    "order.options_delivered": ("return_window_days",),
    "order.why_too_late": ("number", "delivered", "days", "return_window_days"),
    "order.options_too_late": (),
    "order.return_offer": ("number", "items", "delivered", "total", "return_window_days"),
    "order.payment_pending": ("number",),
    "order.payment_pending_noted": ("number", "note"),
    "order.payment_through": ("number", "status"),
    "order.payment_cancelled": ("number",),
    "order.cancelled": ("number",),
    "order.already_cancelled": ("number",),
    "order.gone": (),
    "order.change_recorded": ("number", "request_id", "request"),
    "order.return_opened": ("number", "refund", "amount"),
    "order.qualifies_cancel": (),
    "order.qualifies_change": (),
    **{f"refund.status.{s}": () for s in ("requested", "approved", "processing", "completed", "rejected")},
    "refund.summary": ("number", "record", "amount", "stage", "dates"),
    "refund.requested_on": ("date",),
    "refund.approved_on": ("date",),
    "refund.completed_on": ("date",),
    "refund.reason": ("reason",),
    "refund.why_rejected": ("number", "reason"),
    "withdrawal.summary": ("number", "amount", "requested", "status"),
    "withdrawal.summary_paid": ("number", "amount", "requested", "status", "paid"),
    "purchase.rule_activated": (),
    "purchase.rule_cancelled": (),
    "purchase.rule_unpaid": (),
    "purchase.rule_too_late": ("days", "cancel_window_days"),
    "purchase.rule_eligible": ("days", "cancel_window_days", "processing_fee"),
    "purchase.invoice_unpaid": ("number",),
    "purchase.invoice": ("number", "package", "amount", "paid"),
    "purchase.active": ("number", "package", "activated"),
    "purchase.paid_not_active": ("number", "package", "paid"),
    "purchase.unpaid_not_active": ("number",),
    "purchase.cancelled_not_active": ("number",),
    "purchase.already_cancelled": ("number",),
    "purchase.already_cancelled_refund": ("number", "refund", "stage"),
    "purchase.not_refundable": ("number", "package", "amount", "rule"),
    "purchase.why_refused": ("number", "rule"),
    "purchase.options_refused": (),
    "purchase.why_fee": ("amount", "refund", "fee", "fee_percent"),
    "purchase.cancel_free": ("number", "rule"),
    "purchase.refund_offer": ("number", "package", "amount", "rule", "refund"),
    "purchase.refund_exists": ("number", "refund", "stage"),
    "purchase.cancelled": ("number", "refund", "amount"),
    "purchase.qualifies_cancel": (),
    "purchase.qualifies_refund": (),
    "handoff.queued": (),
    "handoff.outside_hours": (),
    "handoff.nobody_online": (),
    "handoff.offline": ("why", "hours"),
    "handoff.opens_again": ("when",),
    "handoff.opens_again_in_hours": ("when", "hours"),
    "handoff.leave_message": ("customer_email", "email", "reply_promise"),
    "handoff.phone": ("phone",),
    "handoff.ticket_opened": ("ticket", "customer_email", "email", "reply_promise"),
    "handoff.agent_joined": ("agent",),
    "handoff.released": (),
    "handoff.back_to_bot": (),
    "handoff.resolved": ("agent",),
    "handoff.agent_dropped": (),
    "handoff.breach_offer": ("minutes", "email", "reply_promise"),
}
# Which kind of record a key's first part needs (None: every brand).
REPLY_GROUPS: dict[str, str | None] = {
    "record": None,
    "handoff": None,
    "order": "orders",
    "refund": "refunds",
    "withdrawal": "withdrawals",
    "purchase": "purchases",
}


def replies_needed(rules: RecordRules) -> list[str]:
    """The reply keys a brand with these rules must word."""
    return [key for key in REPLY_FIELDS if (table := REPLY_GROUPS[key.split(".")[0]]) is None or table in rules.records]


@dataclass(frozen=True)
class Reply:
    """One template of replies.yaml."""

    key: str
    text: str
    section: str | None  # the policy section the wording rests on, for the policy editor's review list
    line: int


def _placeholders(text: str) -> list[str]:
    """The {names} of a template; anything but a plain name is refused, so a
    template cannot reach into the values it is given ({number.__class__})."""
    names = []
    for _, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(
                f"{{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}} is "
                "not a plain {name} placeholder (write {{ and }} for a brace)"
            )
        names.append(name)
    return names


def _reply(path: Path, data: Any, key: str, value: Any, settings: BrandSettings) -> Reply:
    """One entry of replies.yaml, checked: a known key, a text, a known
    section, and only the placeholders REPLY_FIELDS gives the key."""
    line = line_at(data, (key,)) or 1
    if key not in REPLY_FIELDS:
        raise IntentFileError(path, line, f"unknown reply {key!r}")
    section = None
    if isinstance(value, dict):
        unknown = set(value) - {"text", "section"}
        if unknown:
            raise IntentFileError(path, line, f"{key}: unknown field {sorted(unknown)[0]!r} (text, section)")
        line = line_at(data, (key, "text")) or line
        text, section = value.get("text"), value.get("section")
        if section is not None and str(section) not in settings.policy.sections:
            raise IntentFileError(
                path,
                line_at(data, (key, "section")) or line,
                f"{key}: section {section!r} is not a section of {settings.policy.title}",
            )
    else:
        text = value
    if not isinstance(text, str) or not text.strip():
        raise IntentFileError(path, line, f"{key}: the text is empty")
    try:
        names = _placeholders(text)
    except ValueError as e:
        raise IntentFileError(path, line, f"{key}: {e}") from None
    allowed = REPLY_FIELDS[key]
    for name in names:
        if name not in allowed:
            raise IntentFileError(
                path,
                line,
                f"{key}: unknown placeholder {{{name}}}; this reply can use "
                + (", ".join(f"{{{a}}}" for a in allowed) or "none"),
            )
    return Reply(key, " ".join(text.split()), str(section) if section is not None else None, line)


def load_replies(path: Path, settings: BrandSettings) -> dict[str, Reply]:
    """replies.yaml: `key: text`, or `key: {text: ..., section: "1.1"}` to
    name the policy section the wording rests on."""
    if not path.exists():
        raise IntentFileError(path, None, "missing: every brand words its record and handoff answers here")
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise IntentFileError(path, None, "a mapping of reply keys to templates is expected")
    replies = {key: _reply(path, data, key, value, settings) for key, value in data.items()}
    for key in replies_needed(settings.rules):
        if key not in replies:
            raise IntentFileError(path, None, f"missing reply {key}")
    return replies
