"""Acting on the customer's own records: find the one a message is about
(by number, by reference, or by asking which), run the record action
(records.py) and turn its Step into a Reply, with buttons that carry
payloads and the expectation the step opens."""

from __future__ import annotations

import dataclasses
import zlib
from typing import Any

from ..brands import Brand
from ..nlu import Parse
from . import records, references
from .records import KIND_TABLE, KIND_WORD, RECORD_KIND, Step
from .reply import Reply
from .state import Action, AwaitChange, AwaitConfirm, AwaitRecord, AwaitYes, Button, Expectation, LastAnswer
from .turn import TurnContext

# Answered for every number named at once ("where are CT-100234 and CT-100235"); changes go one at a time.
LOOKUPS = frozenset(
    {
        "order_status",
        "delivery_tracking",
        "refund_status",
        "settlement_withdrawal",
        "billing_invoice",
        "service_activation",
    }
)
MAX_LOOKUPS = 3
UNSURE = 0.8  # a match below this may be a misreading of a follow-up on the record just discussed


def settled(parse: Parse, brand: Brand) -> Parse:
    """A reading the matcher left undecided only because its two top intents
    are lookups of the same kind of record ("where r my earbuds": order
    status or delivery tracking, 0.54 / 0.53) is the top one: both answer by
    looking the record up, so the margin between them decides nothing."""
    if parse.intent is not None or len(parse.ranking) < 2:
        return parse
    (first, confidence), (second, _) = parse.ranking[:2]
    actions = [brand.intents[name].action if name in brand.intents else None for name in (first, second)]
    if confidence < brand.settings.nlu.threshold or not all(a in LOOKUPS for a in actions):
        return parse
    if RECORD_KIND.get(actions[0] or "") != RECORD_KIND.get(actions[1] or ""):
        return parse
    return dataclasses.replace(parse, intent=first)


async def act(t: TurnContext, action: str, numbers: dict[str, str], other: bool = False) -> Reply:
    """Run `action` on the record the customer means, asking which when it can't tell."""
    kind = RECORD_KIND[action]
    if action == "settlement_withdrawal" and t.records.user.role != "merchant":
        return policy_answer(t, action)
    named = numbers.get(kind)
    if named is None and kind == "refund" and numbers:
        return await _refund_of_record(t, action, numbers)
    if named:
        row = await t.records.store.record_of(KIND_TABLE[kind], named, t.records.user.id)
        if row is None:
            return await _not_found(t, action, kind, named)
        return await run(t, action, row)
    return await _choose(t, action, kind, other)


async def run(t: TurnContext, action: str, row: dict[str, Any]) -> Reply:
    kind = RECORD_KIND[action]
    step = await records.ACTIONS[action](t.records, row)
    step.focus = {kind: row["number"], **step.focus}
    return step_reply(t, step, action)


async def _refund_of_record(t: TurnContext, action: str, numbers: dict[str, str]) -> Reply:
    """ "refund status for CT-100236": the refund of that order or purchase."""
    record_kind, number = next(iter(numbers.items()))
    if record_kind not in ("order", "purchase"):
        return await _choose(t, action, "refund", False)
    owned = await t.records.store.record_of(KIND_TABLE[record_kind], number, t.records.user.id)
    if owned is None:
        return await _not_found(t, action, record_kind, number)
    refunds = await t.records.store.refunds_for(**{f"{record_kind}_number": number})
    if not refunds:
        t.state.focus[record_kind] = number
        return t.reply(
            t.say("no_refund_on", kind=KIND_WORD[record_kind], number=number),
            action,
            citation=t.brand.citation(t.brand.intents[action].policy_section),
        )
    return await run(t, action, refunds[0])


async def _not_found(t: TurnContext, action: str, kind: str, number: str) -> Reply:
    step = await records.not_found(t.records, kind, number, action)
    rows = await records.candidates(t.records, kind)
    reply = step_reply(t, Step(step.text, section=step.section), action)
    if rows:
        reply.buttons = t.record_buttons(action, kind, rows)
        t.state.expecting = AwaitRecord(action=action, shown=[r["number"] for r in rows[:4]])
    return reply


async def _choose(t: TurnContext, action: str, kind: str, other: bool) -> Reply:
    rows = await records.candidates(t.records, kind)
    focus = t.state.focus.get(kind)
    if other:
        rows = [r for r in rows if r["number"] != focus]
    if not rows:
        return await _none_of_kind(t, action, kind)
    named = references.pick(t.cues, t.text, kind, rows, t.state.shown, focus) if len(rows) > 1 else None
    if action == "payment_failed" and named is None:
        return policy_answer(t, action)  # looked up only when an order is named ("for the sneakers")
    chosen = next((r for r in rows if r["number"] == named), None) or _obvious(t, action, kind, rows)
    if chosen is not None:
        return await run(t, action, chosen)
    return ask_which(t, action, kind, rows)


def _obvious(t: TurnContext, action: str, kind: str, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The one record meant without naming it: the only one; the one being discussed ("cancel it");
    for a question about where something is, the only one still on its way."""
    if len(rows) == 1:
        return rows[0]
    focus = t.state.focus.get(kind)
    if focus and references.refers_back(t.cues, t.text):
        return next((r for r in rows if r["number"] == focus), None)
    if action in LOOKUPS:
        moving = [r for r in rows if r.get("status") in t.book.in_progress.get(kind, [])]
        return moving[0] if len(moving) == 1 else None
    return None


async def _none_of_kind(t: TurnContext, action: str, kind: str) -> Reply:
    last = t.state.last_action
    last_kind = RECORD_KIND.get(last or "")
    focus = t.state.focus.get(last_kind or "") if last_kind and last_kind != kind else None
    if focus and last and not t.numbers() and t.parse.confidence < UNSURE:
        # "why is it taking so long" read as a delivery question (0.55) from a merchant with no orders who
        # was just told about a withdrawal: it is about that withdrawal. A sure "where is my refund" is told.
        return await act(t, last, {last_kind or "": focus})
    return policy_answer(t, action, prefix=t.say("none_of_kind", kind=KIND_WORD[kind]))


def ask_which(t: TurnContext, action: str, kind: str, rows: list[dict[str, Any]]) -> Reply:
    question = t.say("which_record", kind=KIND_WORD[kind])
    only = records.only_one_qualifying(action, rows, t.records.clock.now(), t.brand)
    if only:  # "which of them can i still cancel": say so, and list that one first
        question += " " + t.say("only_one_qualifies", kind=KIND_WORD[kind], number=only[0]["number"], phrase=only[1])
        rows = [only[0], *(r for r in rows if r is not only[0])]
    t.state.expecting = AwaitRecord(action=action, shown=[r["number"] for r in rows[:4]])
    t.state.last_action = action
    return t.reply(question, action, t.record_buttons(action, kind, rows))


async def look_up_each(t: TurnContext, action: str, kind: str, numbers: list[str]) -> Reply:
    """One answer covering each record named."""
    replies = [await act(t, action, {kind: number}) for number in numbers[:MAX_LOOKUPS]]
    return t.reply(
        "\n\n".join(r.text for r in replies), action, citation=next((r.citation for r in replies if r.citation), None)
    )


def policy_answer(t: TurnContext, intent_name: str, prefix: str = "") -> Reply:
    intent = t.brand.intents[intent_name]
    buttons = [Button(q, suggestion(t, q)) for q in intent.quick_replies]
    return Reply(
        (prefix + " " + intent.answer).strip(),
        intent.name,
        t.parse.confidence,
        buttons,
        citation=t.brand.citation(intent.policy_section),
    )


def suggestion(t: TurnContext, title: str) -> Action:
    """A suggestion's payload, fixed when it is offered: what its title means, about the record in focus."""
    meant = t.knowledge_parse(title)
    intent = meant.intent or "out_of_scope"
    kind = RECORD_KIND.get(t.brand.intents[intent].action or "") if intent in t.brand.intents else None
    number = t.state.focus.get(kind) if kind else None
    return Action(intent, {kind: number} if kind and number else {})


def step_reply(t: TurnContext, step: Step, action: str) -> Reply:
    """A record action's Step as the bot's reply, and the state it leaves."""
    t.state.focus.update(step.focus)
    t.state.last_action = action
    kind = RECORD_KIND[action]
    number = step.focus.get(kind)
    t.state.expecting = _expectation_of(step)
    if isinstance(t.state.expecting, AwaitConfirm):
        t.state.expecting.why = step.why  # "why not the full 500": the offer explained, and kept open
    buttons = _step_buttons(t, step)
    if t.state.expecting is None and len(buttons) == 1:
        t.state.expecting = AwaitYes(action=buttons[0].action)  # "[Cancel this order]" "yes": that step
    t.state.last = LastAnswer(
        key=action, number=number, why=step.why, options=step.options, text_crc=zlib.crc32(step.text.encode())
    )
    return Reply(
        step.text,
        action,
        t.parse.confidence,
        buttons,
        citation=t.brand.citation(step.section),
        wants_human=step.wants_human,
    )


def _expectation_of(step: Step) -> Expectation | None:
    pending = step.pending or {}
    waiting = pending.get("await")
    if waiting == "confirm":
        return AwaitConfirm(
            action=pending["action"],
            number=pending["number"],
            request=pending.get("request"),
            refund_cents=pending.get("refund_cents"),
        )
    if waiting == "change_details":
        return AwaitChange(number=pending["number"])
    if waiting == "record":
        return AwaitRecord(action=pending["action"])
    return None


def _step_buttons(t: TurnContext, step: Step) -> list[Button]:
    if isinstance(t.state.expecting, AwaitConfirm) and len(step.quick_replies) == 2:
        yes, no = step.quick_replies
        return [Button(yes, Action("affirm")), Button(no, Action("deny"))]
    return [Button(q, suggestion(t, q)) for q in step.quick_replies]
