"""A brand is data: `intents/<brand>/brand.yaml` (hours, service levels,
contacts, matcher thresholds, the rules of its records), its policy document,
the wording of its record and handoff answers (`replies.yaml`), and one YAML
file per intent. This module reads and validates them; nothing here is
per-brand code."""
from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from .nlu import OUT_OF_SCOPE, SHARED_OUT_OF_SCOPE

CONVERSATION_INTENTS = ("greet", "goodbye", "thanks", "affirm", "deny", "human_agent", "bot_capabilities")


class IntentFileError(Exception):
    """An intent or brand file that cannot be used, with where it went wrong."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        super().__init__(f"{path}:{line or 1}: {message}")
        self.path, self.line, self.message = path, line, message


class PolicySettings(BaseModel):
    file: str = "policy.txt"
    title: str
    sections: dict[str, str] = {}


class HoursSettings(BaseModel):
    timezone: str
    days: list[int] = [1, 2, 3, 4, 5]
    open: str = "09:00"
    close: str = "18:00"


class ServiceLevelSettings(BaseModel):
    first_response_target_seconds: int = 300
    first_response_breach_seconds: int = 600
    agent_chat_cap: int = 3
    agent_grace_seconds: int = 60
    customer_grace_seconds: int = 300
    # Until there are resolved chats to measure, the wait estimate and Erlang C use this.
    mean_handle_seconds: int = 300


class ContactSettings(BaseModel):
    email: str
    email_reply_promise: str = ""
    phone: str | None = None
    address: str | None = None


class EmbedSettings(BaseModel):
    """The brand's own websites that embed the widget."""
    origins: list[str] = []
    # Name of the environment variable holding the HS256 secret the brand's
    # backend signs customer tokens with (never the secret itself in a file).
    secret_env: str | None = None


class NluSettings(BaseModel):
    threshold: float = Field(0.5, ge=0, le=1)
    margin: float = Field(0.05, ge=0, le=1)


RecordTable = Literal["orders", "purchases", "refunds", "withdrawals"]

# The record answers of chatbot/conversation/records.py (its ACTIONS), by the kind of record
# each reads: a brand that keeps a kind of record names the policy section each
# of its answers cites (rules.sections).
RECORD_ANSWERS: dict[str, tuple[str, ...]] = {
    "orders": ("order_status", "delivery_tracking", "order_cancel", "order_modify", "return_request",
               "payment_failed"),
    "refunds": ("refund_status",),
    "withdrawals": ("settlement_withdrawal",),
    "purchases": ("billing_invoice", "service_activation", "service_cancel", "refund_request"),
}
# The rules a kind of record cannot do without.
RULES_NEEDED: dict[str, tuple[str, ...]] = {
    "orders": ("changeable_statuses", "return_window_days"),
    "purchases": ("cancel_window_days", "processing_fee"),
}


class RecordRules(BaseModel):
    """What the policy lets the bot do with the customer's records."""
    model_config = ConfigDict(extra="forbid")   # a misspelt rule must not silently fall back

    # The kinds of record the brand keeps, and the customer roles that have
    # them: the agent console shows these beside a conversation, and
    # replies.yaml must word their answers.
    records: dict[RecordTable, list[Literal["customer", "merchant"]]] = {}
    # Order statuses in which an order may still be changed or cancelled.
    changeable_statuses: list[str] | None = None
    # Days after delivery an order may be returned.
    return_window_days: int | None = Field(None, ge=0)
    # Days after purchase a not-yet-activated service may be cancelled for a refund.
    cancel_window_days: int | None = Field(None, ge=0)
    # Share of the amount kept on a refund (0.05 is 5%).
    processing_fee: float | None = Field(None, ge=0, lt=1)
    # The policy section each record answer cites (RECORD_ANSWERS).
    sections: dict[str, str] = {}

    @model_validator(mode="after")
    def _complete(self) -> RecordRules:
        known = {answer for answers in RECORD_ANSWERS.values() for answer in answers}
        for answer in self.sections:
            if answer not in known:
                raise ValueError(f"sections: {answer!r} is not a record answer ({', '.join(sorted(known))})")
        for table in self.records:
            for rule in RULES_NEEDED.get(table, ()):
                if getattr(self, rule) is None:
                    raise ValueError(f"{rule} is needed: the brand keeps {table}")
            for answer in RECORD_ANSWERS[table]:
                if answer not in self.sections:
                    raise ValueError(f"sections.{answer} is needed: the brand keeps {table}")
        return self

    def section(self, answer: str) -> str:
        return self.sections[answer]

    @property
    def fee_text(self) -> str:
        """The processing fee as the customer reads it: 0.05 is "5%", 0.025 "2.5%"."""
        return f"{(self.processing_fee or 0) * 100:g}%"


# The wording of the record answers (chatbot/conversation/records.py) and of the handoff desk
# (chatbot/handoff.py): intents/<brand>/replies.yaml holds one template per key,
# and here is what the code fills in for each. A template may use any of its
# fields as {name}, and no others. The first part of a key says who needs it:
# "record" and "handoff" every brand, the others a brand keeping that kind of
# record (rules.records).
REPLY_FIELDS: dict[str, tuple[str, ...]] = {
    "record.not_found": ("kind", "number"),
    "record.recent": ("kind",),

    **{f"order.status.{s}": () for s in ("pending_payment", "paid", "processing", "shipped", "delivered",
                                          "cancelled")},
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
REPLY_GROUPS: dict[str, str | None] = {"record": None, "handoff": None, "order": "orders", "refund": "refunds",
                                       "withdrawal": "withdrawals", "purchase": "purchases"}


def replies_needed(rules: RecordRules) -> list[str]:
    """The reply keys a brand with these rules must word."""
    return [key for key in REPLY_FIELDS
            if (table := REPLY_GROUPS[key.split(".")[0]]) is None or table in rules.records]


class BrandSettings(BaseModel):
    id: str
    name: str
    description: str = ""
    policy: PolicySettings
    hours: HoursSettings
    service_levels: ServiceLevelSettings = ServiceLevelSettings()
    contact: ContactSettings
    nlu: NluSettings = NluSettings()
    embed: EmbedSettings = EmbedSettings()
    # What the fallback says the bot can help with, and the buttons it offers.
    topics: list[str] = []
    suggestions: list[str] = []
    rules: RecordRules = RecordRules()


class IntentModel(BaseModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    policy_section: str | None = None
    action: str | None = None
    examples: list[str] = Field(min_length=1)
    answer: str | None = None
    quick_replies: list[str] = []
    # After this answer the bot offers a person; a "yes" hands off.
    offer_handoff: bool = False


@dataclass
class Intent:
    name: str
    policy_section: str | None
    action: str | None
    examples: list[str]
    answer: str
    quick_replies: list[str]
    path: Path
    example_lines: list[int] = field(default_factory=list)
    offer_handoff: bool = False


@dataclass(frozen=True)
class Reply:
    """One template of replies.yaml."""
    key: str
    text: str
    section: str | None     # the policy section the wording rests on, for the policy editor's review list
    line: int


@dataclass
class Brand:
    settings: BrandSettings
    policy_text: str
    intents: dict[str, Intent]
    out_of_scope: list[str]
    folder: Path
    replies: dict[str, Reply] = field(default_factory=dict)
    shared_out_of_scope: list[str] = field(default_factory=list)   # intents/out_of_scope/, less what the brand answers

    @property
    def id(self) -> str:
        return self.settings.id

    def training_data(self) -> dict[str, list[str]]:
        """What the matcher learns from: examples per intent, plus the
        out-of-scope examples it must learn to refuse."""
        data = {name: intent.examples for name, intent in self.intents.items()}
        if self.out_of_scope:
            data[OUT_OF_SCOPE] = self.out_of_scope
        if self.shared_out_of_scope:
            data[SHARED_OUT_OF_SCOPE] = self.shared_out_of_scope
        return data

    def say(self, key: str, **fields: Any) -> str:
        """The brand's wording of `key`, filled in. The code passes every field
        REPLY_FIELDS lists for the key, so a template may use any of them."""
        expected = set(REPLY_FIELDS[key])
        if set(fields) != expected:   # a code/catalogue mismatch: fail loudly, not with a half-filled sentence
            raise TypeError(f"reply {key} takes {sorted(expected)}, got {sorted(fields)}")
        reply = self.replies.get(key)
        if reply is None:
            raise KeyError(f"{self.id} has no reply {key}: its rules.records keep no such record")
        return reply.text.format(**fields)

    def citation(self, section: str | None) -> str | None:
        if not section:
            return None
        title = self.settings.policy.sections.get(section)
        name = self.settings.policy.title
        return f"{name}, section {section}" + (f" ({title})" if title else "")


def _yaml() -> YAML:
    return YAML(typ="rt")


def _load_yaml(path: Path):
    try:
        with path.open(encoding="utf-8") as f:
            return _yaml().load(f)
    except YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise IntentFileError(path, mark.line + 1 if mark else None, f"not valid YAML: {e}") from e


def _line_at(data: Any, loc: tuple) -> int | None:
    """The line of the deepest key of `loc` that ruamel's round-trip loader
    remembers (it keeps where each key and item sits)."""
    line, node = None, data
    for part in loc:
        try:
            line = (node.lc.item(part) if isinstance(part, int) else node.lc.key(part))[0] + 1
            node = node[part]
        except Exception:
            break
    return line


def _validation_message(path: Path, data, error: ValidationError) -> IntentFileError:
    first = error.errors()[0]
    loc = first["loc"]
    line = _line_at(data, loc)
    where = ".".join(str(p) for p in loc)
    return IntentFileError(path, line, f"{where}: {first['msg']}")


def load_intent(path: Path) -> Intent:
    data = _load_yaml(path)
    try:
        model = IntentModel.model_validate(data)
    except ValidationError as e:
        raise _validation_message(path, data, e) from e
    if model.name != OUT_OF_SCOPE and not (model.answer or "").strip():
        raise IntentFileError(path, None, "answer: an intent needs an answer")
    lines: list[int] = []
    try:
        seq = data["examples"]
        lines = [seq.lc.item(i)[0] + 1 for i in range(len(seq))]
    except Exception:
        pass
    return Intent(name=model.name, policy_section=model.policy_section, action=model.action,
                  examples=[e.strip() for e in model.examples], answer=(model.answer or "").strip(),
                  quick_replies=model.quick_replies, path=path, example_lines=lines,
                  offer_handoff=model.offer_handoff)


def _placeholders(text: str) -> list[str]:
    """The {names} of a template; anything but a plain name is refused, so a
    template cannot reach into the values it is given ({number.__class__})."""
    names = []
    for _, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"{{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}} is "
                             "not a plain {name} placeholder (write {{ and }} for a brace)")
        names.append(name)
    return names


def load_replies(path: Path, settings: BrandSettings) -> dict[str, Reply]:
    """replies.yaml: `key: text`, or `key: {text: ..., section: "1.1"}` to
    name the policy section the wording rests on."""
    if not path.exists():
        raise IntentFileError(path, None, "missing: every brand words its record and handoff answers here")
    data = _load_yaml(path)
    if not isinstance(data, dict):
        raise IntentFileError(path, None, "a mapping of reply keys to templates is expected")
    replies: dict[str, Reply] = {}
    for key, value in data.items():
        line = _line_at(data, (key,)) or 1
        if key not in REPLY_FIELDS:
            raise IntentFileError(path, line, f"unknown reply {key!r}")
        section = None
        if isinstance(value, dict):
            unknown = set(value) - {"text", "section"}
            if unknown:
                raise IntentFileError(path, line, f"{key}: unknown field {sorted(unknown)[0]!r} (text, section)")
            line = _line_at(data, (key, "text")) or line
            text, section = value.get("text"), value.get("section")
            if section is not None and str(section) not in settings.policy.sections:
                raise IntentFileError(path, _line_at(data, (key, "section")) or line,
                                      f"{key}: section {section!r} is not a section of {settings.policy.title}")
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
                raise IntentFileError(path, line, f"{key}: unknown placeholder {{{name}}}; this reply can use "
                                                  + (", ".join(f"{{{a}}}" for a in allowed) or "none"))
        replies[key] = Reply(key, " ".join(text.split()), str(section) if section is not None else None, line)
    for key in replies_needed(settings.rules):
        if key not in replies:
            raise IntentFileError(path, None, f"missing reply {key}")
    return replies


class SharedOutOfScope(BaseModel):
    """One file of `intents/out_of_scope/`: a kind of text no brand answers."""
    model_config = ConfigDict(extra="forbid")
    kind: str
    examples: list[str]


def load_shared_out_of_scope(intents_dir: Path) -> list[str]:
    """Examples every brand's matcher learns to refuse: other domains,
    everyday-assistant requests, other companies' problems in our words,
    abuse, injection. Shared because no brand answers them; a brand's own
    `out_of_scope.yaml` adds what only it refuses (the other brand's topics)."""
    examples: list[str] = []
    for path in sorted((intents_dir / "out_of_scope").glob("*.yaml")):
        data = _load_yaml(path)
        try:
            examples.extend(SharedOutOfScope.model_validate(data).examples)
        except ValidationError as e:
            raise _validation_message(path, data, e) from e
    return examples


def load_brand(folder: Path, shared_out_of_scope: Sequence[str] = ()) -> Brand:
    settings_path = folder / "brand.yaml"
    data = _load_yaml(settings_path)
    try:
        settings = BrandSettings.model_validate(data)
    except ValidationError as e:
        raise _validation_message(settings_path, data, e) from e
    for answer, section in settings.rules.sections.items():
        if section not in settings.policy.sections:
            raise IntentFileError(settings_path, _line_at(data, ("rules", "sections", answer)),
                                  f"rules.sections.{answer}: {section!r} is not a section of {settings.policy.title}")
    policy_text = (folder / settings.policy.file).read_text(encoding="utf-8")
    replies = load_replies(folder / "replies.yaml", settings)
    intents: dict[str, Intent] = {}
    out_of_scope: list[str] = []
    for path in sorted((folder / "intents").glob("*.yaml")):
        intent = load_intent(path)
        if intent.name == OUT_OF_SCOPE:
            out_of_scope.extend(intent.examples)
            continue
        if intent.name in intents:
            raise IntentFileError(path, None, f"intent {intent.name} is also defined in {intents[intent.name].path}")
        intents[intent.name] = intent
    # A shared example that one of this brand's intents uses is the brand's to
    # answer: the intent's example wins, so one text never trains two labels.
    answered = {e.casefold() for intent in intents.values() for e in intent.examples}
    known = {e.casefold() for e in out_of_scope}
    shared: list[str] = []
    for example in shared_out_of_scope:
        if example.casefold() not in answered | known:
            shared.append(example)
            known.add(example.casefold())
    return Brand(settings=settings, policy_text=policy_text, intents=intents, out_of_scope=out_of_scope,
                 folder=folder, replies=replies, shared_out_of_scope=shared)


def load_brands(intents_dir: Path) -> dict[str, Brand]:
    brands = {}
    shared = load_shared_out_of_scope(intents_dir)
    for folder in sorted(p for p in intents_dir.iterdir() if (p / "brand.yaml").exists()):
        brand = load_brand(folder, shared)
        brands[brand.id] = brand
    return brands
