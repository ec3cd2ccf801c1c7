"""The message itself, when no expectation takes it: a follow-up on the
record just discussed, a record action, a list of one's records, a flow
(a dispute, a person), a policy answer, or the fallback. Also what the
dialogue says when it drops, re-asks or would repeat itself."""

from __future__ import annotations

from ..brands import CONVERSATION_INTENTS, Brand
from ..nlu import Parse
from . import acting, records, references, repair, waiting
from .expecting import VERBS, Follow
from .phrasebook import Phrasebook
from .records import ENTITY_KIND, KIND_WORD, RECORD_KIND
from .reply import Reply
from .state import (
    Action,
    AwaitChange,
    AwaitConfirm,
    AwaitRecord,
    AwaitYes,
    Button,
    DisputeForm,
    Expectation,
    LeaveMessage,
    LeaveQueue,
)
from .turn import SOCIAL, YES_NO, TurnContext

CLOSE_BEHIND = 0.3  # a runner-up this likely is a real reading of the message
SIDE_QUESTION = 0.8  # a policy question this sure, asked mid-flow, is answered and the flow asked again
# "which of my purchases can I still cancel" asks for a change, not a list.
CHANGES_AND_FLOWS = frozenset(
    {
        "order_cancel",
        "order_modify",
        "return_request",
        "service_cancel",
        "refund_request",
        "payment_failed",
        "human_agent",
        "dispute_case",
    }
)
LOOKUP_OF = {
    "order": "order_status",
    "purchase": "service_activation",
    "refund": "refund_status",
    "withdrawal": "settlement_withdrawal",
}


async def route(t: TurnContext, follow: Follow) -> Reply:
    t = _change_over_list(t)
    if t.action not in RECORD_KIND or _picks_from_other_list(t):
        reply = await _follow_up(t)
        if reply is not None:
            return reply
    if t.action == "list_records" or (t.has("list") and not t.numbers() and t.action not in CHANGES_AND_FLOWS):
        return await list_records(t)
    if t.intent is None:
        return fallback(t)
    action = t.action
    if action in RECORD_KIND:
        return await _record_question(t, action or "")
    if action == "dispute_case":
        return await _start_dispute(t)
    if action == "leave_message":
        return await waiting.start_leave_message(t) or acting.policy_answer(t, t.intent)
    if action == "human_agent":
        # The desk says next whether someone can take the chat, and how long the wait is: no promise here.
        return t.reply(t.brand.intents[t.intent].answer, t.intent, wants_human=True)
    reply = acting.policy_answer(t, t.intent)
    if t.brand.intents[t.intent].offer_handoff:
        reply.text += "\n\n" + t.say("offer_person")
        return repair.offer_person(t, reply)
    return reply


def _change_over_list(t: TurnContext) -> TurnContext:
    """ "which of my purchases can i still cancel" reads close to a list, but asks about a change: a change
    (or a flow) ranked close behind a list is what the customer wants."""
    if t.action != "list_records" or len(t.parse.ranking) < 2:
        return t
    runner_up, confidence = t.parse.ranking[1]
    intent = t.brand.intents.get(runner_up)
    if intent is None or intent.action not in CHANGES_AND_FLOWS or confidence < CLOSE_BEHIND:
        return t
    parse = Parse(t.parse.text, runner_up, confidence, t.parse.ranking, t.parse.entities)
    return t.with_parse(parse)


def _picks_from_other_list(t: TurnContext) -> bool:
    """ "the completed one, when did it arrive" right after a list of payouts: a pick from that list,
    whatever record the rest of it reads as."""
    last_kind = RECORD_KIND.get(t.state.last_action or "")
    return bool(t.state.shown) and references.names_one(t.said) and RECORD_KIND.get(t.action or "") != last_kind


async def _follow_up(t: TurnContext) -> Reply | None:
    """ "what about TT-2002", "and the other one?", "the second one": the last action, on another record;
    a bare number or tracking number: that record's status."""
    numbers = t.numbers()
    last = t.state.last_action
    if last not in RECORD_KIND:
        return await _bare_record(t, numbers)
    kind = RECORD_KIND[last or ""]
    named_again = kind in numbers and t.intent in (*YES_NO, "thanks")  # "ok TT-2003": the same, on that one
    picks = (t.intent in (*YES_NO, "thanks") and len(t.said) <= 4) or references.names_one(t.said)  # "the lamp one"
    if not (t.intent is None or named_again or picks or t.has("follow_up")):
        return None
    other_kind = _other_kind_named(t, kind)
    if other_kind is not None and not numbers:
        # "what about my money for the desk lamp" just after a cancellation: about a refund, not another cancel
        return await _record_question(t, LOOKUP_OF[other_kind])
    if numbers or t.has("other_one"):
        return await acting.act(t, last or "", numbers, other=not numbers)
    rows = await records.candidates(t.records, kind)
    named = references.pick(t.cues, t.text, kind, rows, t.state.shown, t.state.focus.get(kind))
    if not named and t.intent is None and references.refers_back(t.cues, t.text):
        named = t.state.focus.get(kind)  # "ok and when will it be paid"
    if named:
        return await acting.act(t, last or "", {kind: named})
    return await _bare_record(t, numbers)


def _other_kind_named(t: TurnContext, kind: str) -> str | None:
    """The one other kind of record an unsure message names by its words ("my money"), if any."""
    if t.intent is not None or t.has(f"kind_{kind}"):
        return None
    named = [k for k in LOOKUP_OF if k != kind and t.has(f"kind_{k}") and LOOKUP_OF[k] in t.brand.intents]
    return named[0] if len(named) == 1 else None


async def _bare_record(t: TurnContext, numbers: dict[str, str]) -> Reply | None:
    """ "TT-9999", "1Z999AA10123456784" with nothing else understood: that record's status."""
    tracking = next((e.value for e in t.parse.entities if e.entity == "tracking_number"), None)
    if tracking and "order" in t.kinds():
        for row in await records.candidates(t.records, "order"):
            shipments = await t.records.store.shipments_of(row["number"])
            if any(s["tracking_number"] == tracking for s in shipments):
                return await acting.act(t, "delivery_tracking", {"order": row["number"]})
    kind = next((k for k in numbers if LOOKUP_OF.get(k) in t.brand.intents), None)
    says_little = t.intent is None or t.intent in CONVERSATION_INTENTS or t.parse.confidence < repair.SURE
    if kind is None or not says_little:  # "can you check TT-1234 for me" reads as what the bot can do
        return None
    return await acting.act(t, LOOKUP_OF[kind], {kind: numbers[kind]})


async def _record_question(t: TurnContext, action: str) -> Reply:
    kind = RECORD_KIND[action]
    named = list(dict.fromkeys(e.value for e in t.parse.entities if ENTITY_KIND.get(e.entity) == kind))
    if action in acting.LOOKUPS and len(named) > 1:
        return await acting.look_up_each(t, action, kind, named)
    numbers = t.numbers()
    focus = t.state.focus.get(kind)
    if not numbers and focus and references.refers_back(t.cues, t.text):
        numbers = {kind: focus}
    if not numbers and kind == "refund":
        # "and the lamp one, whats happening with my money": the refund of the order named by what it is
        for owner_kind in ("order", "purchase"):
            if owner_kind in t.kinds():
                rows = await records.candidates(t.records, owner_kind)
                owner = references.pick(t.cues, t.text, owner_kind, rows, t.state.shown)
                if owner:
                    numbers = {owner_kind: owner}
                    break
    return await acting.act(t, action, numbers)


def _list_kind(t: TurnContext) -> str:
    kinds = t.kinds()
    named = [k for k in kinds if t.has(f"kind_{k}")]
    if len(named) == 1:
        return named[0]
    main = t.book.main_kind.get(t.records.user.role, [])
    return next((k for k in main if k in kinds), kinds[0])


async def list_records(t: TurnContext) -> Reply:
    """ "show me my orders": the customer's own records of that kind, newest first."""
    kind = _list_kind(t)
    rows = await records.candidates(t.records, kind)
    lookup = LOOKUP_OF[kind]
    if not rows:
        return t.reply(t.say("none_of_kind", kind=KIND_WORD[kind]), lookup)
    rows = sorted(rows, key=lambda r: r["number"])[:10]  # in the order they were placed, as numbered
    lines = [
        f"{i}. {records.label(kind, r)} ({str(r.get('status', '')).replace('_', ' ')})"
        for i, r in enumerate(rows, start=1)
    ]
    t.state.shown = [r["number"] for r in rows]
    t.state.last_action = lookup
    text = "\n".join([t.say("list_header", kind=KIND_WORD[kind]), *lines, t.say("list_footer")])
    return t.reply(text, lookup, t.record_buttons(lookup, kind, rows))


async def _start_dispute(t: TurnContext) -> Reply:
    intent = t.brand.intents[t.intent or "dispute"]
    rows = await records.candidates(t.records, "order") if t.records.user.role == "customer" else []
    t.state.expecting = DisputeForm(step="order")
    buttons = t.record_buttons("dispute", "order", rows)
    return t.reply(
        intent.answer + "\n\n" + t.say("dispute_start"),
        intent.name,
        buttons,
        citation=t.brand.citation(intent.policy_section),
    )


def fallback(t: TurnContext) -> Reply:
    if t.state.fallbacks >= 1:
        # Failing to understand twice in a row is a handoff trigger (service-levels.md).
        return Reply(t.say("fallback_again"), None, t.parse.confidence, wants_human=True)
    buttons = [Button(s, acting.suggestion(t, s)) for s in t.brand.settings.suggestions[:3]]
    return Reply(
        t.say("fallback"), None, t.parse.confidence, [*buttons, t.button("button_talk_to_person", "human_agent")]
    )


def answers_no(exp: Expectation) -> bool:
    """Does a "no" answer this expectation (rather than call it off)? "skip" the screenshots does."""
    return isinstance(exp, (AwaitConfirm, AwaitYes, LeaveMessage, LeaveQueue)) or (
        isinstance(exp, DisputeForm) and exp.step == "screenshots"
    )


def topic_of(t: TurnContext, exp: Expectation) -> str | None:
    """The intent whose answer a flow under way is about."""
    return "dispute" if isinstance(exp, DisputeForm) else None


def is_side_question(t: TurnContext, exp: Expectation) -> bool:
    """A policy question asked mid-flow ("how do refunds work"): answered, and the flow asked again."""
    if isinstance(exp, AwaitYes) or t.numbers() or t.has("follow_up"):
        return False
    if t.intent is None or t.intent in (*YES_NO, *SOCIAL) or t.parse.confidence < SIDE_QUESTION:
        return False
    action = t.action
    return action is None or (action == "dispute_case" and isinstance(exp, DisputeForm))


def ask_again(t: TurnContext, exp: Expectation) -> str:
    if isinstance(exp, AwaitRecord):
        return t.say("which_record", kind=KIND_WORD[RECORD_KIND[exp.action]])
    if isinstance(exp, AwaitConfirm):
        return t.say("go_ahead")
    if isinstance(exp, AwaitChange):
        return t.say("what_to_change", number=exp.number)
    if isinstance(exp, DisputeForm):
        return {"order": t.say("dispute_order"), "screenshots": t.say("dispute_screenshots_again")}.get(
            exp.step, t.say("dispute_describe_again", number=exp.number)
        )
    if isinstance(exp, LeaveMessage):
        return t.say("leave_message_ask", user_email=t.records.user.email)
    if isinstance(exp, LeaveQueue):
        return t.say("leave_queue_ask")
    return t.say("offer_person")


def dropped_text(t: TurnContext, exp: Expectation) -> str:
    """What the bot says when the customer calls off what it was waiting for."""
    if isinstance(exp, AwaitConfirm):
        return t.say("wont_change", verb=VERBS.get(exp.action, "change"), number=exp.number)
    if isinstance(exp, AwaitChange):
        return t.say("order_stays", number=exp.number)
    if isinstance(exp, DisputeForm):
        return t.say("dispute_dropped")
    if isinstance(exp, LeaveMessage):
        return t.say("leave_message_dropped")
    if isinstance(exp, LeaveQueue):
        return t.say("stay_in_queue")
    return t.say("anything_else")


def not_again(t: TurnContext, reply: Reply) -> Reply:
    """The answer just given, asked for again: the sentence of it that fits the question best, or the
    rule behind a record answer, and the offer of a person."""
    last = t.state.last
    if last is not None and last.why:
        return repair.offer_person(t, t.reply(t.say("pushback", why=last.why), reply.intent))
    score, best = repair.best_sentence(t, reply.text)
    answer = best if score else reply.text
    text = (
        t.say("record_silent", answer=answer, number=last.number)
        if last and last.number
        else t.say("policy_silent", answer=answer)
    )
    return repair.offer_person(t, Reply(text, reply.intent, reply.confidence, citation=reply.citation))


def preview(brand: Brand, book: Phrasebook, parse: Parse) -> Reply:
    """The answer to a first message, with no customer: for the operator's try-it panel."""
    if parse.intent is None:
        buttons = [
            Button(title, Action("")) for title in [*brand.settings.suggestions[:3], book.say("button_talk_to_person")]
        ]
        return Reply(book.say("fallback"), None, parse.confidence, buttons)
    intent = brand.intents[parse.intent]
    text = intent.answer
    if intent.action in RECORD_KIND:
        text = (
            f"[looks up the customer's {KIND_WORD[RECORD_KIND[intent.action]]}s and acts on them; without one "
            "it answers:] " + text
        )
    buttons = [Button(q, Action("")) for q in intent.quick_replies]
    return Reply(
        text,
        intent.name,
        parse.confidence,
        buttons,
        citation=brand.citation(intent.policy_section),
        wants_human=intent.action == "human_agent",
    )
