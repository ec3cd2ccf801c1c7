"""brand.yaml: hours, service levels, contacts, matcher thresholds and the
rules of the brand's records, as pydantic models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
    "orders": ("order_status", "delivery_tracking", "order_cancel", "order_modify", "return_request", "payment_failed"),
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

    model_config = ConfigDict(extra="forbid")  # a misspelt rule must not silently fall back

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
