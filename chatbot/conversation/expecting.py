"""One small handler per kind of expectation. Each gets the turn and the open
expectation and returns the reply that fills, confirms or declines it, or
None when the message is not an answer to it (the dialogue then treats it as
a digression or as the customer moving on). Repair common to all of them
(why?, never mind, a side question) is the dialogue's, not theirs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict

from . import acting, records, references
from .records import KIND_WORD, RECORD_KIND
from .reply import Reply
from .state import (
    Action,
    AwaitChange,
    AwaitConfirm,
    AwaitRecord,
    AwaitYes,
    DisputeForm,
    Expectation,
    LeaveMessage,
    LeaveQueue,
)
from .turn import SOCIAL, YES_NO, TurnContext

Follow = Callable[[TurnContext, Action], Awaitable[Reply | None]]
VERBS = {
    "order_cancel": "cancel",
    "return_request": "open a return for",
    "order_modify": "change",
    "service_cancel": "cancel",
    "refund_request": "cancel",
}


def yes_or_no(t: TurnContext) -> bool | None:
    """The customer's answer to a yes/no question, or None if it is neither."""
    if t.intent == "deny" or (t.has("no") and t.intent != "affirm"):
        return False
    if t.intent == "affirm" or t.has("yes"):
        return True
    return None


def new_question(t: TurnContext) -> bool:
    """ "fine. what about TT-2003": a question of its own, not an answer."""
    return bool(t.numbers()) or t.has("follow_up")


async def on_confirm(t: TurnContext, exp: AwaitConfirm, follow: Follow) -> Reply | None:
    answer = None if new_question(t) and t.intent not in YES_NO else yes_or_no(t)
    if answer is True:
        t.state.expecting = None
        return acting.step_reply(t, await records.confirm(t.records, asdict(exp)), exp.action)
    if answer is False:
        t.state.expecting = None
        return t.reply(t.say("wont_change", verb=VERBS.get(exp.action, "change"), number=exp.number), "deny")
    if (
        exp.action == "order_modify"
        and exp.request
        and t.intent in (None, "order_modify")
        and t.numbers().get("order") in (None, exp.number)
    ):
        return confirm_change(t, exp.number)  # "size 10 instead of 9": the change itself, said better
    if t.intent is None or t.intent in SOCIAL:
        return t.reply(t.say("answer_yes_no", question=t.say("go_ahead")), exp.action, t.yes_no_buttons())
    return None


def confirm_change(t: TurnContext, number: str) -> Reply:
    request = t.text.strip()[:500]
    t.state.expecting = AwaitConfirm(action="order_modify", number=number, request=request)
    return t.reply(
        t.say("confirm_change", number=number, request=request),
        "order_modify",
        t.yes_no_buttons(),
        citation=t.brand.citation(t.brand.intents["order_modify"].policy_section),
    )


async def on_change(t: TurnContext, exp: AwaitChange, follow: Follow) -> Reply | None:
    named = set(t.numbers().values())
    content = [
        w
        for w in t.said
        if w.upper() not in named and not w.isdigit() and w not in ("order", "number", "no", "nr", "ct")
    ]
    if not content:  # "CT-100300": the order again, not what to change on it
        return t.reply(
            t.say("what_to_change", number=exp.number), "order_modify", [t.button("button_never_mind", "deny")]
        )
    if t.intent in YES_NO or (t.intent is not None and t.intent != "order_modify" and t.parse.confidence >= 0.8):
        return None
    return confirm_change(t, exp.number)


async def on_record(t: TurnContext, exp: AwaitRecord, follow: Follow) -> Reply | None:
    kind = RECORD_KIND[exp.action]
    action = t.action if t.action and RECORD_KIND.get(t.action) == kind else exp.action
    numbers = t.numbers()
    if numbers or t.has("other_one"):
        t.state.expecting = None
        return await acting.act(t, action, numbers, other=not numbers)
    rows = await records.candidates(t.records, kind)
    answers = t.intent in (None, "affirm", action) or len(t.said) <= 4 or references.names_one(t.said)
    chosen = (
        references.pick(t.cues, t.text, kind, rows, exp.shown or [r["number"] for r in rows[:4]]) if answers else None
    )
    if chosen:
        t.state.expecting = None
        return await acting.act(t, action, {kind: chosen})
    unclear = t.intent in (None, "affirm")
    if t.intent == action or (unclear and not exp.asked_again):
        # Asking again helps once; a customer who still doesn't name one has moved on.
        t.state.expecting = AwaitRecord(action=action, shown=[r["number"] for r in rows[:4]], asked_again=True)
        return t.reply(t.say("which_record", kind=KIND_WORD[kind]), action, t.record_buttons(action, kind, rows))
    return None


async def on_offer(t: TurnContext, exp: AwaitYes, follow: Follow) -> Reply | None:
    """One next step was offered: a yes takes it, on the same record."""
    if (
        t.intent == exp.action.intent
        and not new_question(t)
        and (len(t.said) <= 4 or references.refers_back(t.cues, t.text))
    ):
        t.state.expecting = None
        return await follow(t, exp.action)  # "yes, talk to a person" to the offer of a person
    answer = None if new_question(t) or t.intent not in (None, *YES_NO) else yes_or_no(t)
    if answer is None:
        return None
    t.state.expecting = None
    if answer is False:
        return t.reply(t.say("anything_else"), "deny")
    return await follow(t, exp.action)


async def on_dispute(t: TurnContext, exp: DisputeForm, follow: Follow) -> Reply | None:
    citation = t.brand.citation(t.brand.intents["dispute"].policy_section)
    if exp.step == "order":
        return await _dispute_order(t, exp, citation)
    if exp.step == "description":
        if t.intent in (*YES_NO, *SOCIAL) or len(t.said) < 3:  # "yes please" is not a description
            return t.reply(t.say("dispute_describe_again", number=exp.number), "dispute", citation=citation)
        t.state.expecting = DisputeForm(step="screenshots", number=exp.number, description=t.text.strip()[:2000])
        return t.reply(
            t.say("dispute_screenshots"),
            "dispute",
            [t.button("button_done", "affirm"), t.button("button_skip", "deny")],
            citation=citation,
        )
    if not (t.has("done") or t.intent in (*YES_NO, "thanks")):
        return t.reply(
            t.say("dispute_screenshots_again"),
            "dispute",
            [t.button("button_done", "affirm"), t.button("button_skip", "deny")],
            citation=citation,
        )
    return await _open_case(t, exp, citation)


async def _dispute_order(t: TurnContext, exp: DisputeForm, citation: str | None) -> Reply | None:
    number = t.numbers().get("order")
    if number is None and t.records.user.role == "customer":
        rows = await records.candidates(t.records, "order")
        number = references.pick(t.cues, t.text, "order", rows)
    if number is None:
        if t.intent not in (None, "dispute", "affirm"):
            return None
        return t.reply(t.say("dispute_order"), "dispute", citation=citation)
    owned = await t.records.store.record_of("orders", number, t.records.user.id)
    if t.records.user.role == "customer" and owned is None:
        step = await records.not_found(t.records, "order", number, "dispute")
        return t.reply(step.text, "dispute", citation=citation)
    t.state.expecting = DisputeForm(step="description", number=number)
    t.state.focus["order"] = number
    return t.reply(t.say("dispute_describe", number=number), "dispute", citation=citation)


async def _open_case(t: TurnContext, exp: DisputeForm, citation: str | None) -> Reply:
    ctx = t.records
    case_id = await ctx.store.create_case(
        {
            "brand": ctx.user.brand,
            "user_id": ctx.user.id,
            "conversation_id": ctx.conversation_id,
            "kind": "dispute",
            "order_number": exp.number,
            "description": exp.description,
        },
        ctx.audit("dispute"),
        ctx.clock.now(),
    )
    shots = sum(1 for a in await ctx.store.attachments(ctx.conversation_id) if a["case_id"] == case_id)
    shots_text = f" and {shots} screenshot{'s' if shots != 1 else ''}" if shots else ""
    t.state.expecting = AwaitYes(action=Action("human_agent"))
    return t.reply(
        t.say("dispute_open", case=case_id, number=exp.number, shots=shots_text),
        "dispute",
        [t.button("button_yes_person", "human_agent"), t.button("button_no_thanks", "deny")],
        citation=citation,
        case_id=case_id,
    )


async def on_leave_message(t: TurnContext, exp: LeaveMessage, follow: Follow | None = None) -> Reply | None:
    email = t.records.user.email
    if exp.step == "text":
        if t.intent in (*YES_NO, *SOCIAL) and len(t.said) <= 3:
            return t.reply(t.say("leave_message_ask", user_email=email), "leave_message")
        t.state.expecting = LeaveMessage(step="confirm", text=t.text.strip()[:2000])
        return t.reply(
            t.say("leave_message_confirm", text=t.text.strip()[:2000], user_email=email),
            "leave_message",
            t.yes_no_buttons("button_send", "button_rewrite"),
        )
    answer = yes_or_no(t)
    if answer is None:
        return None
    if answer is False:
        t.state.expecting = LeaveMessage(step="text")
        return t.reply(t.say("leave_message_redo"), "leave_message")
    t.state.expecting = None
    t.state.offline_until = None
    return Reply("", "leave_message", 1.0, leave_message=exp.text)


async def on_leave_queue(t: TurnContext, exp: LeaveQueue, follow: Follow) -> Reply | None:
    answer = yes_or_no(t) if not t.has("leave") else True
    if answer is None:
        return None
    t.state.expecting = None
    if answer is False:
        return t.reply(t.say("stay_in_queue"), "deny")
    return t.reply(t.say("left_queue"), "leave_queue", leave_queue=True)


Handler = Callable[[TurnContext, Expectation, Follow], Awaitable[Reply | None]]
HANDLERS: dict[type[Expectation], Handler] = {
    AwaitConfirm: on_confirm,  # type: ignore[dict-item]
    AwaitChange: on_change,  # type: ignore[dict-item]
    AwaitRecord: on_record,  # type: ignore[dict-item]
    AwaitYes: on_offer,  # type: ignore[dict-item]
    DisputeForm: on_dispute,  # type: ignore[dict-item]
    LeaveMessage: on_leave_message,  # type: ignore[dict-item]
    LeaveQueue: on_leave_queue,  # type: ignore[dict-item]
}


async def handle(t: TurnContext, exp: Expectation, follow: Follow) -> Reply | None:
    return await HANDLERS[type(exp)](t, exp, follow)
