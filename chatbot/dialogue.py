"""What the bot says. Takes the customer's message and the conversation's
state, asks the matcher what it means, and decides the reply: a record lookup
or change (records.py), a step of a flow (which order? are you sure? the
dispute's details), a policy answer with its citation, a handoff, or the
fallback.

The state lives in the database with the conversation, so a flow survives a
restart: `pending` is what the bot waits for, `focus` the records the
conversation is about, `last_action` what "and the other one?" refers to,
`last_reply` a checksum of the last answer (one not to give twice in a row)."""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from typing import Any

from . import records
from .auth import User
from .brands import Brand
from .clock import Clock
from .knowledge import Knowledge
from .nlu import Parse
from .records import ENTITY_KIND, KIND_TABLE, KIND_WORD, RECORD_KIND, Context, Step
from .store import Store, dialogue_state_of

OTHER_ONE = re.compile(r"\b(the\s+)?other\s+(one|order|purchase|refund|withdrawal|package)\b|^\s*and\s+the\s+other\b",
                       re.I)
DONE_WORDS = re.compile(r"^\s*(done|skip|no( screenshots?)?|that'?s all|finished|nothing|none|no thanks?)\W*$", re.I)
YES = re.compile(r"^\s*(yes|yeah|yep|yup|ya|sure|ok|okay|please do|go ahead|confirm|do it|correct|right)\b", re.I)
NO = re.compile(r"^\s*(no|nope|nah|don'?t|do not|keep it|not now)\b", re.I)
FOLLOW_UP = re.compile(r"^\s*((ok|okay|fine|alright|so|well|right|hmm+)\W+)?"
                       r"(and|what about|how about|same for|also|what of|now)\b", re.I)
NEVER_MIND = re.compile(r"\b(never\s*mind|nevermind|forget it|cancel that|stop)\b", re.I)
# "cancel it", "where is it", "is that one shipped", "when will they arrive" (the earbuds): the record
# the conversation is about
# (not the "it" of "is it possible to ...", "it's late")
REFERS_BACK = re.compile(r"\bit\b(?!'s|\s+is\b|\s+(possible|ok|okay|true|fine|allowed|too late|worth)\b)"
                         r"|\b(this one|that one|this order|that order|the same( one| order)?|they|them|those)\b", re.I)
PICKED = re.compile(r"\bthe\s+[\w-]+\s+one\b", re.I)     # "the completed one", "the tiktok one"
ORDINALS = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3}
NEWEST = re.compile(r"\b(newest|latest|most recent|last (one|order|purchase|refund|withdrawal|payout))\b", re.I)
OLDEST = re.compile(r"\b(oldest|earliest)\b", re.I)
_WORD = re.compile(r"[a-z0-9]+")
_DIGITS = re.compile(r"\b\d{4,8}\b")
NUMBERS_ONLY = re.compile(r"\b(order|number|no|nr|#)\b|[A-Z]{2}-?\d{3,8}|\d+|[^\w]", re.I)
YES_NO_QUESTION = re.compile(r"^\W*(is|are|was|were|has|have|had|did|does|do|will|can|could)\b", re.I)
NEGATED = re.compile(r"\b(not|never|no|yet|dont|doesnt|didnt|isnt|hasnt|havent|wasnt|arent|wont|cant)\b|n't\b",
                     re.I)
# Answered for every number named at once ("where are CT-100234 and CT-100235"); changes go one at a time.
LOOKUPS = frozenset({"order_status", "delivery_tracking", "refund_status", "settlement_withdrawal",
                     "billing_invoice", "service_activation"})
MAX_LOOKUPS = 3
UNSURE = 0.8    # a match below this may be a misreading of a follow-up on the record just discussed
# The customer says the bot got them wrong, or pushes back on an answer: neither is a plain "no".
MISUNDERSTOOD = re.compile(r"\b(not what i (asked|meant|said|wanted)|that'?s not what i|you('re| are) not "
                           r"(listening|understanding)|you misunderstood|wrong answer|i didn'?t ask)", re.I)
WHY = re.compile(r"\bwhy\b", re.I)
# Frustration the matcher has no intent for ("this is ridiculous"): a person is offered, not "I can't help".
FRUSTRATED = re.compile(r"\b(ridiculous|unacceptable|unfair|useless|terrible|awful|pathetic|nonsense|absurd|"
                        r"outrageous|disgusting|furious|fed up|sick of|wtf)\b", re.I)


@dataclass
class Reply:
    text: str
    intent: str | None
    confidence: float
    quick_replies: list[str] = field(default_factory=list)
    citation: str | None = None
    wants_human: bool = False   # the handoff desk takes it from here
    case_id: int | None = None
    leave_message: str | None = None   # left while the team is away: becomes a ticket

    def meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        if self.quick_replies:
            meta["quick_replies"] = self.quick_replies
        if self.citation:
            meta["citation"] = self.citation
        return meta


@dataclass
class Turn:
    """What one customer message led to: the bot's replies (at least one), and
    the conversation's dialogue state after it, which the caller saves in the
    same transaction as the first reply (a crash never keeps one without the other)."""
    replies: list[Reply]
    state: dict[str, Any]


def fallback(brand: Brand, parse: Parse, repeated: bool) -> Reply:
    topics = ", ".join(brand.settings.topics)
    if repeated:
        # Failing to understand twice in a row is a handoff trigger (service-levels.md).
        return Reply("I'm sorry, I still couldn't understand, so let me get you a person.", None,
                     parse.confidence, wants_human=True)
    text = (f"Sorry, I can't help with that here. I can help with {topics}. "
            "You can also ask to talk to a person.")
    return Reply(text, None, parse.confidence, brand.settings.suggestions[:3] + ["Talk to a person"])


def policy_answer(brand: Brand, intent_name: str, confidence: float, prefix: str = "") -> Reply:
    intent = brand.intents[intent_name]
    return Reply((prefix + " " + intent.answer).strip(), intent.name, confidence, list(intent.quick_replies),
                 citation=brand.citation(intent.policy_section), wants_human=intent.name == "human_agent")


def preview(brand: Brand, parse: Parse) -> Reply:
    """What a customer would get for this message at the start of a chat,
    without touching any conversation: for the operator's try-it panel."""
    if parse.intent is None:
        return fallback(brand, parse, repeated=False)
    intent = brand.intents[parse.intent]
    reply = policy_answer(brand, parse.intent, parse.confidence)
    if intent.action in RECORD_KIND:
        kind = KIND_WORD[RECORD_KIND[intent.action]]
        reply.text = (f"[looks up the customer's {kind}s and acts on them; without one it answers:] "
                      + reply.text)
    return reply


def yes_or_no(parse: Parse, text: str) -> bool | None:
    """The customer's answer to a yes/no question, or None if it is neither."""
    if NO.search(text) or parse.intent == "deny":
        return False
    if YES.search(text) or parse.intent == "affirm":
        return True
    return None


def offer_person(state: dict[str, Any], reply: Reply) -> Reply:
    """`reply` with the offer of a person: a yes hands the chat over (the "handoff_offer" wait)."""
    state["pending"] = {"await": "handoff_offer"}
    reply.quick_replies = ["Yes, talk to a person", "No, thanks"]
    return reply


def pick_record(text: str, kind: str, rows: list[dict[str, Any]], shown: list[str] | None = None) -> str | None:
    """The record a customer names without its full number: by its digits
    ("100300"), by what it is ("the earbuds", "return my sneakers"), by its
    status ("my withdrawal is still pending"), each when that fits only one
    of theirs, by age ("my latest order"), or by its place
    in the list they were shown ("the first one")."""
    digits = set(_DIGITS.findall(text))          # "my order number is 100300", without its CT-
    by_digits = [r["number"] for r in rows if re.sub(r"\D", "", r["number"]) in digits]
    if len(by_digits) == 1:
        return by_digits[0]
    tokens = _WORD.findall(text.lower())
    words = {w.rstrip("s") for w in tokens}
    fits = [r["number"] for r in rows
            if words & {w.rstrip("s") for w in _WORD.findall(records.described_as(kind, r).lower())
                        if len(w) > 2 and w not in records.DESCRIPTION_FILLER}]
    if len(fits) == 1:
        return fits[0]
    if not NEGATED.search(text) and not YES_NO_QUESTION.search(text):
        # "still pending" names a status; "not delivered yet" and "has it shipped?" do not
        by_status = [r["number"] for r in rows if words & set(str(r.get("status", "")).split("_"))]
        if len(by_status) == 1:
            return by_status[0]
    if len(words) > 6:
        return None
    place = next((ORDINALS[w] for w in tokens if w in ORDINALS), None)
    if shown and place is not None and place < len(shown):
        return shown[place]
    if rows and NEWEST.search(text):
        return rows[0]["number"]
    if rows and OLDEST.search(text):
        return rows[-1]["number"]
    return None


class Dialogue:
    def __init__(self, knowledge: Knowledge, store: Store, clock: Clock) -> None:
        self.knowledge = knowledge
        self.store = store
        self.clock = clock

    async def respond(self, user: User, conversation: dict[str, Any], text: str) -> Turn:
        """The bot's replies to one customer message in `conversation` (its
        stored row, dialogue state included), and the state after them."""
        brand = self.knowledge.brand(user.brand)
        parse = self.knowledge.parse(user.brand, text)
        state = dialogue_state_of(conversation)
        ctx = Context(user, conversation["id"], self.store, self.clock, brand)
        reply = await self._turn(brand, parse, state, ctx, text)
        said = zlib.crc32(reply.text.encode())
        if said == state.get("last_reply") and reply.intent is not None and not reply.wants_human \
                and (state.get("pending") or {}).get("await") in (None, "suggestion") \
                and state.get("last_action") in RECORD_KIND:
            # The same answer on a record again ("but I barely used it!"): say so, and offer a person.
            reply = offer_person(state, Reply(
                f"As I said: {reply.text}\n\nIf that doesn't answer it, a person from our team can look into it. "
                "Would you like me to connect you?", reply.intent, reply.confidence, citation=reply.citation))
        state["last_reply"] = said
        state["fallbacks"] = state.get("fallbacks", 0) + 1 if reply.intent is None else 0
        return Turn([reply], state)

    async def expect(self, conversation_id: int, pending: dict[str, Any]) -> None:
        """Wait for a particular answer next (set from outside a turn)."""
        state = await self.store.dialogue_state(conversation_id)
        state["pending"] = pending
        await self.store.set_dialogue_state(conversation_id, state)

    # -- one turn ---------------------------------------------------------------------------

    async def _turn(self, brand: Brand, parse: Parse, state: dict[str, Any], ctx: Context, text: str) -> Reply:
        if MISUNDERSTOOD.search(text) and parse.intent != "human_agent":
            # Counts as not understood: one more miss and a person takes over.
            state["pending"] = None
            return Reply("Sorry, I got that wrong. Could you put it another way? You can also ask for a person.",
                         None, parse.confidence, ["Talk to a person"])
        pending = state.get("pending")
        only_offered = not pending or pending["await"] in ("handoff_offer", "suggestion")   # no flow under way
        if FRUSTRATED.search(text) and parse.intent in (None, "deny") and only_offered:
            return offer_person(state, Reply("I'm sorry, I can hear this is frustrating. A person from our team "
                                             "can look at it with you. Would you like me to connect you?", None,
                                             parse.confidence))
        if parse.intent == "deny" and WHY.search(text) and state.get("last_action") and only_offered:
            # "why not, I never used it": disagreement with the answer just given
            return offer_person(state, Reply(
                "I'm sorry it's not the answer you hoped for: it's what our policy says for this case. If you think "
                "it's wrong, a person from our team can look at it. Would you like me to connect you?", "deny",
                parse.confidence))
        if pending:
            reply = await self._continue(brand, parse, state, ctx, text, pending)
            if reply is not None:
                return reply
            state["pending"] = None    # the customer moved on to something else

        numbers = {ENTITY_KIND[e.entity]: e.value for e in parse.entities if e.entity in ENTITY_KIND}
        intent = parse.intent
        last_action = state.get("last_action")
        acts_on_records = intent is not None and brand.intents[intent].action in RECORD_KIND
        named_again = last_action in RECORD_KIND and RECORD_KIND[last_action] in numbers and \
            intent in ("affirm", "deny", "thanks")           # "ok TT-2003": the same question, on that one
        if last_action in RECORD_KIND and not acts_on_records and \
                (intent is None or named_again or FOLLOW_UP.search(text)):
            # "what about TT-2002" / "and the other one?": the last action, on another record
            if numbers or OTHER_ONE.search(text):
                return await self._act(brand, last_action, numbers, state, ctx, parse.confidence,
                                       other=not numbers)
            kind = RECORD_KIND[last_action]
            by_age = NEWEST.search(text) or OLDEST.search(text)        # "what about the latest one" reads as news
            named = pick_record(text, kind, await records.candidates(ctx, kind)) \
                if intent is None or by_age else None
            if not named and intent is None and REFERS_BACK.search(text):
                named = state.get("focus", {}).get(kind)                      # "ok and when will it be paid"
            if named:                                                         # "and the newest?"
                return await self._act(brand, last_action, {kind: named}, state, ctx, parse.confidence)
        if intent is None:
            return fallback(brand, parse, repeated=state.get("fallbacks", 0) >= 1)
        action = brand.intents[intent].action
        if action in RECORD_KIND:
            kind = RECORD_KIND[action]
            named = list(dict.fromkeys(e.value for e in parse.entities if ENTITY_KIND.get(e.entity) == kind))
            if action in LOOKUPS and len(named) > 1:
                return await self._look_up_each(brand, intent, kind, named[:MAX_LOOKUPS], state, ctx,
                                                parse.confidence)
            focus = state.get("focus", {}).get(kind)
            if not numbers and focus and REFERS_BACK.search(text):
                numbers = {kind: focus}
            return await self._act(brand, intent, numbers, state, ctx, parse.confidence, text=text)
        if action == "dispute" and brand.id == "cltiktok":
            return await self._start_dispute(brand, state, ctx, parse.confidence)
        reply = policy_answer(brand, intent, parse.confidence)
        if brand.intents[intent].offer_handoff:
            reply.text += "\n\nWould you like me to connect you with a person now?"
            return offer_person(state, reply)
        return reply

    async def _continue(self, brand: Brand, parse: Parse, state: dict[str, Any], ctx: Context, text: str,
                        pending: dict[str, Any]) -> Reply | None:
        """The next step of the flow in progress, or None if the customer changed the subject."""
        waiting = pending["await"]
        intent = parse.intent
        numbers = {ENTITY_KIND[e.entity]: e.value for e in parse.entities if e.entity in ENTITY_KIND}
        action = pending.get("action")
        new_question = bool(numbers) or bool(FOLLOW_UP.search(text))   # "fine. what about TT-2003": not a yes

        if waiting == "confirm":
            answer = yes_or_no(parse, text)
            if answer is True:
                state["pending"] = None
                return self._reply(brand, await records.confirm(ctx, pending), state, action, parse.confidence)
            if answer is False or NEVER_MIND.search(text):
                state["pending"] = None
                what = {"order_cancel": "cancel", "return_request": "open a return for"}.get(action, "change")
                return Reply(f"OK, I won't {what} {pending['number']}. Anything else I can help with?",
                             "deny", parse.confidence)
            if action == "order_modify" and pending.get("request") and intent in (None, "order_modify") \
                    and numbers.get("order") in (None, pending["number"]):
                # "size 10 instead of 9": the change itself, said again better
                return self._confirm_change(brand, state, pending, text, parse.confidence)
            if intent is None or intent in ("thanks", "greet"):
                return Reply("Please answer yes or no: shall I go ahead?", action, parse.confidence, ["Yes", "No"])
            return None

        if waiting == "record":
            kind = RECORD_KIND[action]
            if intent is not None and RECORD_KIND.get(intent) == kind:
                action = intent             # asked about an order's status, "return CT-100301" is a return
            if numbers or OTHER_ONE.search(text):
                state["pending"] = None
                return await self._act(brand, action, numbers, state, ctx, parse.confidence, other=not numbers)
            rows = await records.candidates(ctx, kind)
            # "the lamp" may parse as anything; "how do I reach you by phone" names no phone case;
            # "the completed one, when did it arrive" picks from the list whatever else it asks
            answers = intent in (None, "affirm", action) or len(text.split()) <= 4 or bool(PICKED.search(text))
            chosen = pick_record(text, kind, rows, pending.get("shown") or [r["number"] for r in rows[:4]]) \
                if answers else None
            if chosen:
                state["pending"] = None
                return await self._act(brand, action, {kind: chosen}, state, ctx, parse.confidence)
            if intent == "deny" or NEVER_MIND.search(text):
                state["pending"] = None
                return Reply("OK. Anything else I can help with?", "deny", parse.confidence)
            # Asking again helps once; a customer who still doesn't name one has moved on.
            unclear = intent is None or intent == "affirm"
            if intent == action or (unclear and not pending.get("asked_again")):
                state["pending"] = {**pending, "asked_again": pending.get("asked_again", False) or unclear,
                                    "shown": [r["number"] for r in rows[:4]]}
                return Reply(f"Which {KIND_WORD[kind]}? Type its number or pick one below.", action,
                             parse.confidence, [records.label(kind, r) for r in rows[:4]])
            return None

        if waiting == "change_details":
            if intent == "deny" or NEVER_MIND.search(text):
                state["pending"] = None
                return Reply(f"OK, order {pending['number']} stays as it is.", "deny", parse.confidence)
            if not NUMBERS_ONLY.sub("", text).strip():
                # "CT-100300": the order again, not what to change on it
                return Reply(f"What would you like to change on order {pending['number']}: the address, size, "
                             "colour, quantity or item?", "order_modify", parse.confidence, ["Never mind"])
            return self._confirm_change(brand, state, pending, text, parse.confidence)

        if waiting == "suggestion":
            answer = None if new_question else yes_or_no(parse, text)
            if answer is None or parse.intent not in (None, "affirm", "deny"):
                return None             # "ok, can you cancel it then": a request of its own
            state["pending"] = None
            if answer is False:
                return Reply("OK. Anything else I can help with?", "deny", parse.confidence)
            suggested = self.knowledge.parse(ctx.user.brand, pending["reply"])
            kind = RECORD_KIND.get(brand.intents[suggested.intent].action) if suggested.intent else None
            number = (pending.get("focus") or {}).get(kind) if kind else None
            if number:                    # the suggestion is about the record just answered on
                return await self._act(brand, suggested.intent, {kind: number}, state, ctx, parse.confidence)
            return await self._turn(brand, suggested, state, ctx, pending["reply"])

        if waiting == "handoff_offer":
            answer = None if new_question else yes_or_no(parse, text)
            if answer is None and intent != "human_agent":
                return None
            state["pending"] = None
            if answer is False:
                return Reply("OK. Anything else I can help with?", "deny", parse.confidence)
            return policy_answer(brand, "human_agent", parse.confidence)

        if waiting == "offline_message":
            state["pending"] = None
            if intent in ("deny", "goodbye", "thanks") or NEVER_MIND.search(text):
                return policy_answer(brand, intent, parse.confidence) if intent else \
                    Reply("OK. Anything else I can help with?", None, parse.confidence)
            return Reply("Thanks, I've passed your message to our team.", "leave_message", 1.0,
                         leave_message=text.strip())

        if waiting.startswith("dispute_"):
            return await self._continue_dispute(brand, parse, state, ctx, text, pending)
        return None

    # -- record actions ------------------------------------------------------------------------

    async def _act(self, brand: Brand, action: str, numbers: dict[str, str], state: dict[str, Any],
                   ctx: Context, confidence: float, other: bool = False, text: str = "") -> Reply:
        kind = RECORD_KIND[action]
        if action == "settlement_withdrawal" and ctx.user.role != "merchant":
            return policy_answer(brand, action, confidence)
        number = numbers.get(kind)
        row = None
        if number is None and kind == "refund" and numbers:
            # "refund status for CT-100236": the refund of that order or purchase
            record_kind, record_number = next(iter(numbers.items()))
            owned = await ctx.store.record_of(KIND_TABLE[record_kind], record_number, ctx.user.id) \
                if record_kind in ("order", "purchase") else None
            if owned is None:
                step = await records.not_found(ctx, record_kind, record_number, action) \
                    if record_kind in ("order", "purchase") else None
                if step:
                    return self._reply(brand, step, state, action, confidence)
            else:
                refunds = await ctx.store.refunds_for(**{f"{record_kind}_number": record_number})
                if not refunds:
                    return Reply(f"There is no refund on {KIND_WORD[record_kind]} {record_number}.", action,
                                 confidence, citation=brand.citation(brand.intents[action].policy_section))
                row = refunds[0]
        if row is None and number:
            row = await ctx.store.record_of(KIND_TABLE[kind], number, ctx.user.id)
            if row is None:
                return self._reply(brand, await records.not_found(ctx, kind, number, action), state, action,
                                   confidence)
        if row is None:
            rows = await records.candidates(ctx, kind)
            if action == "payment_failed":     # looked up only when an order is named ("for the sneakers")
                named = pick_record(text, kind, rows) if text and rows else None
                if named is None:
                    return policy_answer(brand, action, confidence)
                rows = [r for r in rows if r["number"] == named]
            if other:
                focus = state.get("focus", {}).get(kind)
                rows = [r for r in rows if r["number"] != focus]
            if not rows:
                last = state.get("last_action")
                last_kind = RECORD_KIND.get(last) if last else None
                focus = state.get("focus", {}).get(last_kind) if last_kind and last_kind != kind else None
                if focus and not numbers and confidence < UNSURE:
                    # "why is it taking so long", read as a delivery question (0.55), from a merchant with no
                    # orders who was just told about a withdrawal: it is about that withdrawal. A sure
                    # "where is my refund" with no refunds is told so.
                    return await self._act(brand, last, {last_kind: focus}, state, ctx, confidence)
                return policy_answer(brand, action, confidence,
                                     prefix=f"I don't see any {KIND_WORD[kind]}s on your account.")
            named = pick_record(text, kind, rows) if text and len(rows) > 1 else None
            rows = [r for r in rows if r["number"] == named] or rows
            if len(rows) > 1:
                question = f"Which {KIND_WORD[kind]} is it about? Type its number or pick one below."
                only = records.only_one_qualifying(action, rows, ctx.clock.now())
                if only:        # "which of them can i still cancel": say so, and list that one first
                    question += f" Of your {KIND_WORD[kind]}s, only {only[0]['number']} {only[1]}."
                    rows = [only[0], *(r for r in rows if r is not only[0])]
                state["pending"] = {"await": "record", "action": action, "shown": [r["number"] for r in rows[:4]]}
                state["last_action"] = action
                return Reply(question, action, confidence, [records.label(kind, r) for r in rows[:4]])
            row = rows[0]
        step = await records.ACTIONS[action](ctx, row)
        step.focus = {kind: row["number"], **step.focus}
        return self._reply(brand, step, state, action, confidence)

    def _confirm_change(self, brand: Brand, state: dict[str, Any], pending: dict[str, Any], text: str,
                        confidence: float) -> Reply:
        request = text.strip()[:500]
        state["pending"] = {**pending, "await": "confirm", "request": request}
        return Reply(f"I'll send this change request for order {pending['number']}: \"{request}\". Shall I go ahead?",
                     "order_modify", confidence, ["Yes", "No"], citation=brand.citation("1.1"))

    async def _look_up_each(self, brand: Brand, action: str, kind: str, numbers: list[str], state: dict[str, Any],
                            ctx: Context, confidence: float) -> Reply:
        """One answer covering each record named."""
        replies = [await self._act(brand, action, {kind: number}, state, ctx, confidence) for number in numbers]
        return Reply("\n\n".join(r.text for r in replies), action, confidence,
                     citation=next((r.citation for r in replies if r.citation), None))

    def _reply(self, brand: Brand, step: Step, state: dict[str, Any], action: str | None,
               confidence: float) -> Reply:
        state["pending"] = step.pending
        if step.pending is None and len(step.quick_replies) == 1:
            # "...you can cancel it instead. [Cancel this order]" "yes": the one next step offered
            state["pending"] = {"await": "suggestion", "reply": step.quick_replies[0], "focus": step.focus}
        if action in RECORD_KIND:
            state["last_action"] = action
        state["focus"] = {**state.get("focus", {}), **step.focus}
        return Reply(step.text, action, confidence, step.quick_replies, citation=brand.citation(step.section),
                     wants_human=step.wants_human)

    # -- the dispute flow (cltiktok policy section 4) ---------------------------------------------

    async def _start_dispute(self, brand: Brand, state: dict[str, Any], ctx: Context, confidence: float) -> Reply:
        rows = await records.candidates(ctx, "order") if ctx.user.role == "customer" else []
        state["pending"] = {"await": "dispute_order"}
        intent = brand.intents["dispute"]
        return Reply(intent.answer + "\n\nI can open a mediation case now. Which order is it about? Type the "
                     "order number.", "dispute", confidence, [records.label("order", r) for r in rows[:4]],
                     citation=brand.citation(intent.policy_section))

    async def _continue_dispute(self, brand: Brand, parse: Parse, state: dict[str, Any], ctx: Context, text: str,
                                pending: dict[str, Any]) -> Reply | None:
        step = pending["await"]
        citation = brand.citation("4")
        if parse.intent == "deny" and step != "dispute_screenshots" or NEVER_MIND.search(text):
            state["pending"] = None
            return Reply("OK, I haven't opened a case. Anything else I can help with?", "deny", parse.confidence)
        if step == "dispute_order":
            number = next((e.value for e in parse.entities if e.entity == "order_number"), None)
            if number is None:
                if parse.intent not in (None, "dispute", "affirm"):
                    return None
                return Reply("Please type the order number the dispute is about (it looks like CT-100234).",
                             "dispute", parse.confidence, citation=citation)
            if ctx.user.role == "customer" and await ctx.store.record_of("orders", number, ctx.user.id) is None:
                step_ = await records.not_found(ctx, "order", number, "dispute")
                return Reply(step_.text, "dispute", parse.confidence, step_.quick_replies, citation=citation)
            state["pending"] = {"await": "dispute_description", "number": number}
            return Reply(f"Thanks. Please describe what happened with order {number}: the transaction details and "
                         "what you've already tried with the other party.", "dispute", parse.confidence,
                         citation=citation)
        if step == "dispute_description":
            state["pending"] = {**pending, "await": "dispute_screenshots", "description": text.strip()[:2000]}
            return Reply("Got it. If you have screenshots, attach them with the paperclip button (PNG, JPEG, GIF or "
                         "WebP, up to 5 MB each). Say \"done\" when you've finished, or \"skip\" if you have none.",
                         "dispute", parse.confidence, ["Done", "Skip"], citation=citation)
        if step == "dispute_screenshots":
            if not (DONE_WORDS.search(text) or parse.intent in ("affirm", "deny", "thanks")):
                return Reply("Attach your screenshots with the paperclip button, then say \"done\" (or \"skip\").",
                             "dispute", parse.confidence, ["Done", "Skip"], citation=citation)
            case_id = await ctx.store.create_case(
                {"brand": ctx.user.brand, "user_id": ctx.user.id, "conversation_id": ctx.conversation_id,
                 "kind": "dispute", "order_number": pending["number"], "description": pending["description"]},
                ctx.audit("dispute"), ctx.clock.now())
            attachments = await ctx.store.attachments(ctx.conversation_id)
            shots = sum(1 for a in attachments if a["case_id"] == case_id)
            return offer_person(state, Reply(
                f"Mediation case #{case_id} is open for order {pending['number']} with your description"
                f"{f' and {shots} screenshot' + ('s' if shots != 1 else '') if shots else ''}. Our team "
                "will mediate between you and the other party; if it can't be resolved, cltiktok makes "
                "the final decision under the platform's policies. Would you like to talk to a person now?",
                "dispute", parse.confidence, citation=citation, case_id=case_id))
        return None
