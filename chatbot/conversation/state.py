"""The conversation's dialogue state, typed: what it is about (the focus),
the last answer given (so "why?" and "what can I do?" have something to refer
to), and at most one open expectation: what the bot is waiting for.

It is stored as JSON with the conversation (the same transaction as the bot's
reply), so a flow survives a restart. `from_json` reads what `to_json` wrote,
and an old or unknown shape reads as an empty state rather than failing."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar


@dataclass
class Action:
    """What a button does, as a payload (Rasa-style): an intent with the
    records it is about. A click is never re-parsed from its label."""

    intent: str
    entities: dict[str, str] = field(default_factory=dict)  # record kind -> number

    def to_payload(self) -> dict[str, Any]:
        return {"intent": self.intent, "entities": dict(self.entities)}


@dataclass
class Button:
    title: str
    action: Action

    def to_wire(self) -> dict[str, Any]:
        return {"title": self.title, "payload": self.action.to_payload()}


# -- what the bot may be waiting for: one kind of expectation each -------------------------------


@dataclass
class Expectation:
    kind: ClassVar[str] = ""


@dataclass
class AwaitRecord(Expectation):
    """Which record? (the action waits for it)"""

    kind: ClassVar[str] = "record"
    action: str = ""
    shown: list[str] = field(default_factory=list)
    asked_again: bool = False


@dataclass
class AwaitConfirm(Expectation):
    """A change waits for yes or no."""

    kind: ClassVar[str] = "confirm"
    action: str = ""
    number: str = ""
    request: str | None = None  # an order change: what to change
    refund_cents: int | None = None  # a purchase cancelled for a refund
    why: str | None = None  # what "why?" about the offer is told


@dataclass
class AwaitChange(Expectation):
    """What to change on an order."""

    kind: ClassVar[str] = "change"
    number: str = ""


@dataclass
class AwaitYes(Expectation):
    """One next step offered ("Cancel this order", "Talk to a person"): a yes takes it."""

    kind: ClassVar[str] = "offer"
    action: Action = field(default_factory=lambda: Action(""))


@dataclass
class DisputeForm(Expectation):
    """The mediation case's form: the order, a description, screenshots."""

    kind: ClassVar[str] = "dispute"
    step: str = "order"  # order -> description -> screenshots
    number: str | None = None
    description: str | None = None


@dataclass
class LeaveMessage(Expectation):
    """A message for the team while nobody is online: asked for, shown back, then filed."""

    kind: ClassVar[str] = "leave_message"
    step: str = "text"  # text -> confirm
    text: str | None = None


@dataclass
class LeaveQueue(Expectation):
    """ "never mind" while queued: leave the queue? (yes/no)"""

    kind: ClassVar[str] = "leave_queue"


EXPECTATIONS: dict[str, type[Expectation]] = {
    cls.kind: cls for cls in (AwaitRecord, AwaitConfirm, AwaitChange, AwaitYes, DisputeForm, LeaveMessage, LeaveQueue)
}


@dataclass
class LastAnswer:
    """What the bot said last about a record or a rule, for repair."""

    key: str  # which answer (a template or intent name)
    number: str | None = None  # the record it was about
    why: str | None = None  # the rule behind it, for "why?"
    options: str | None = None  # what the customer can do instead, for "what can I do?"
    when: str | None = None  # when it happens, for "when will I get it?"
    text_crc: int = 0


@dataclass
class DialogueState:
    focus: dict[str, str] = field(default_factory=dict)  # record kind -> the number being discussed
    shown: list[str] = field(default_factory=list)  # numbers in the last list shown, in order
    last_action: str | None = None  # the last record action ("and the other one?")
    last: LastAnswer | None = None
    expecting: Expectation | None = None
    buttons: list[Button] = field(default_factory=list)  # offered last: a text equal to a title is a click
    fallbacks: int = 0  # misunderstandings in a row
    offline_until: str | None = None  # nobody could take the chat: until when (ISO)

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("expecting", "last", "buttons")}
        data["last"] = asdict(self.last) if self.last else None
        data["buttons"] = [b.to_wire() for b in self.buttons]
        if self.expecting is not None:
            data["expecting"] = {"kind": self.expecting.kind, **asdict(self.expecting)}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> DialogueState:
        data = data or {}
        try:
            state = cls(
                focus=dict(data.get("focus") or {}),
                shown=list(data.get("shown") or []),
                last_action=data.get("last_action"),
                fallbacks=int(data.get("fallbacks") or 0),
                offline_until=data.get("offline_until"),
            )
            if data.get("last"):
                state.last = LastAnswer(**data["last"])
            state.buttons = [Button(b["title"], action_of(b["payload"])) for b in data.get("buttons") or []]
            state.expecting = _expectation(data.get("expecting"))
        except (TypeError, KeyError, ValueError):
            return cls()  # written by an older version: start afresh rather than fail the turn
        return state


def action_of(payload: dict[str, Any]) -> Action:
    return Action(str(payload["intent"]), {str(k): str(v) for k, v in (payload.get("entities") or {}).items()})


def _expectation(data: dict[str, Any] | None) -> Expectation | None:
    if not data or data.get("kind") not in EXPECTATIONS:
        return None
    cls = EXPECTATIONS[data["kind"]]
    values = {k: v for k, v in data.items() if k != "kind"}
    if cls is AwaitYes:
        values["action"] = action_of(values["action"])
    return cls(**values)
