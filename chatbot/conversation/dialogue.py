"""What the bot says. Each turn: the matcher's reading of the message (or the
payload of the button clicked), the typed dialogue state, and the open
expectation lead to one decision, in this order:

1. repair that always applies: "that's not what I asked", a request beyond
   the customer's own account, a message in another language;
2. the handoff's states: queued (the wait, leaving the queue);
3. the open expectation: its handler fills, confirms or declines it; a side
   question is answered and the expectation asked again; anything else means
   the customer moved on, and it is dropped;
4. repair about the last answer: why, what else, when, pushback, frustration;
5. offline (nobody can take the chat): the wait, leaving a message;
6. the message itself: a follow-up on the record just discussed, a record
   action, a list of one's records, a flow, a policy answer, or the fallback.

The wording is data (intents/dialogue.yaml, the intent files); the phrase
lists are data (intents/cues.yaml)."""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta
from typing import Any

from ..auth import User
from ..brands import Brand
from ..clock import Clock, isoformat, parse_iso
from ..knowledge import Knowledge
from ..nlu import Parse
from ..nlu.clauses import ClauseWords
from ..store import Store, dialogue_state_of
from . import acting, expecting, repair, routing, waiting
from .cues import Cues
from .phrasebook import Phrasebook
from .records import RECORD_KIND, Context
from .reply import Reply, Turn
from .state import Action, AwaitConfirm, AwaitYes, DialogueState, LastAnswer
from .turn import SOCIAL, TurnContext, parse_of

# In hours with nobody online, someone may come online any minute: "nobody is online" holds this long.
NOBODY_ONLINE_HOLD = timedelta(minutes=30)


class Dialogue:
    def __init__(self, knowledge: Knowledge, store: Store, clock: Clock) -> None:
        self.knowledge = knowledge
        self.store = store
        self.clock = clock
        self.cues = Cues.load(knowledge.intents_dir / "cues.yaml")
        self.clause_words = ClauseWords(greetings=self.cues.phrases("greeting"), joiners=self.cues.phrases("joiners"))
        self._books: dict[str, tuple[Brand, Phrasebook]] = {}

    def book(self, brand: Brand) -> Phrasebook:
        """The brand's wording; rebuilt when the brand's files were reloaded."""
        known = self._books.get(brand.id)
        if known is None or known[0] is not brand:
            self._books[brand.id] = known = (brand, Phrasebook.for_brand(self.knowledge.intents_dir, brand))
        return known[1]

    async def respond(
        self,
        user: User,
        conversation: dict[str, Any],
        text: str,
        payload: dict[str, Any] | None = None,
        queue: dict[str, Any] | None = None,
    ) -> Turn:
        """The bot's replies to one customer message in `conversation` (its stored row, dialogue state
        included), and the state after them. `queue` is the live queue view while the customer waits."""
        brand = self.knowledge.brand(user.brand)
        state = DialogueState.from_json(dialogue_state_of(conversation))
        clicked = self._clicked(brand, state, text, payload)
        parse = parse_of(clicked, text) if clicked else self._parse(brand, text)
        t = self._context(brand, state, user, conversation["id"], text, parse, queue)
        said_before = state.last.text_crc if state.last else 0
        replies = [await self.decide(t)] if clicked else await self._clauses(t)
        kept = [self._not_twice(t, r, said_before) for r in replies if r is not None]
        if kept:
            state.buttons = kept[-1].buttons
            state.fallbacks = state.fallbacks + 1 if all(r.intent is None for r in kept) else 0
        return Turn(kept, state.to_json())

    def _context(
        self,
        brand: Brand,
        state: DialogueState,
        user: User,
        conversation_id: int,
        text: str,
        parse: Parse,
        queue: dict[str, Any] | None,
    ) -> TurnContext:
        records = Context(user=user, conversation_id=conversation_id, store=self.store, clock=self.clock, brand=brand)
        return TurnContext(
            brand,
            self.book(brand),
            self.cues,
            state,
            records,
            text,
            parse,
            lambda said: self._parse(brand, said),
            queue,
        )

    def _parse(self, brand: Brand, text: str) -> Parse:
        return acting.settled(self.knowledge.parse(brand.id, text), brand)

    def _clicked(self, brand: Brand, state: DialogueState, text: str, payload: dict[str, Any] | None) -> Action | None:
        """The button pressed: its payload, or a text that is exactly the title of one just offered."""
        if payload is not None:
            action = Action(
                str(payload.get("intent", "")), {str(k): str(v) for k, v in (payload.get("entities") or {}).items()}
            )
            known = action.intent in brand.intents or action.intent in ("affirm", "deny", "leave_message")
            return action if known and set(action.entities) <= set(RECORD_KIND.values()) else None
        typed = text.strip().casefold()
        return next((b.action for b in state.buttons if b.title.casefold() == typed), None)

    async def _clauses(self, t: TurnContext) -> list[Reply | None]:
        """Answer each clause that means something ("hey where r my earbuds"; two questions in one)."""
        # A record named applies to the whole message ("cancel TT-2001 and get my money back"): one request.
        # ... and so is a message left for the team while nobody can take the chat.
        whole = (
            t.state.expecting is not None
            or t.queue is not None
            or bool(t.numbers())
            or (t.intent == "leave_message" or (t.offline and t.has("leave_message")))
        )
        parsed = (
            []
            if whole
            else [
                (p.text, acting.settled(p, t.brand))
                for p in self.knowledge.parse_clauses(t.brand.id, t.text, self.clause_words, t.parse)
            ]
        )
        if len(parsed) <= 1:
            return [await self.decide(t)]
        # a clause the matcher answers at the brand's threshold counts (its confidence is calibrated)
        sure = [(part, p) for part, p in parsed if p.intent is not None and p.intent not in SOCIAL]
        whole_unsure = t.intent is None or t.intent in SOCIAL or t.parse.confidence < repair.SURE
        # Two policy questions are answered each; two record requests only when the whole reads as neither
        # ("i got the wrong colour, i want to send it back" is one return).
        questions = all(t.brand.intents[p.intent or ""].action is None for _, p in sure)
        if len({p.intent for _, p in sure}) >= 2 and (whole_unsure or questions):
            return [await self.decide(t.with_parse(p, part)) for part, p in sure]
        if len(sure) == 1 and whole_unsure:
            # "hey where r my earbuds": the question's reading, with the whole message for its references
            return [await self.decide(t.with_parse(sure[0][1]))]
        return [await self.decide(t)]

    async def decide(self, t: TurnContext) -> Reply | None:
        for always in (repair.misunderstood, repair.overreach, self._other_language):
            reply = always(t)
            if reply is not None:
                return reply
        if t.queue is not None and t.queue.get("email_offer"):
            reply = waiting.email_offer(t)
            if reply is not None or t.queue.get("state") != "queued":
                return reply  # an agent holds the chat: only the offer is the bot's to answer
        if t.queue is not None and t.state.expecting is None:
            reply = waiting.queued(t)
            if reply is not None or t.parse.confidence < waiting.SURE or t.intent in SOCIAL:
                return reply  # nothing the bot is sure of: the agent will see the message
        if t.state.expecting is not None:
            reply = await self._expected(t)
            if reply is not None:
                return reply
        return await self._unexpected(t)

    async def _unexpected(self, t: TurnContext) -> Reply:
        for about_last in (repair.why, repair.options, repair.when, repair.frustrated, repair.pushback):
            reply = await about_last(t)
            if reply is not None:
                return reply
        last = t.state.last
        reply = await repair.from_topic(t, last.key if last and last.number is None else None)
        if reply is not None:
            return reply
        if t.offline:
            reply = await waiting.offline(t)
            if reply is not None:
                return reply
        return await routing.route(t, self.follow)

    async def _expected(self, t: TurnContext) -> Reply | None:
        """The open expectation: repaired, answered, or left for a side question or a new subject."""
        exp = t.state.expecting
        assert exp is not None
        if t.has("cancel") or (t.intent == "deny" and not routing.answers_no(exp)):
            t.state.expecting = None
            return t.reply(routing.dropped_text(t, exp), "deny")
        reply = await repair.why(t) or await repair.pushback(t) or await repair.frustrated(t)
        if reply is None and (reply := await repair.from_topic(t, routing.topic_of(t, exp))) is not None:
            reply.text += "\n\n" + routing.ask_again(t, exp)  # a question on the flow's own topic
        reply = reply or await expecting.handle(t, exp, self.follow)
        if reply is not None:
            return reply
        for about_last in (repair.options, repair.when):
            reply = await about_last(t)
            if reply is not None:
                return reply
        if isinstance(exp, AwaitConfirm) and t.action in RECORD_KIND and not t.numbers():
            # "wait, what happens to my money?" before saying yes: about the record of the change on offer
            answer = await acting.act(t, t.action or "", {RECORD_KIND[exp.action]: exp.number})
            answer.text += "\n\n" + routing.ask_again(t, exp)
            t.state.expecting = exp
            return answer
        if routing.is_side_question(t, exp):
            answer = await routing.route(t, self.follow)
            answer.text += "\n\n" + routing.ask_again(t, exp)
            t.state.expecting = exp  # the side question leaves the expectation open
            return answer
        t.state.expecting = None  # the customer moved on
        return None

    async def follow(self, t: TurnContext, action: Action) -> Reply | None:
        """Take a step offered earlier (a button's payload, or "yes" to a single offer)."""
        return await self.decide(t.with_parse(parse_of(action, t.text)))

    def _other_language(self, t: TurnContext) -> Reply | None:
        """Another language is answered with a note that chat is in English: not a miss, never a handoff."""
        if t.parse.confidence >= 0.9 or self.knowledge.detect_language(t.text) is None:
            return None
        t.state.expecting = None
        again = t.state.last is not None and t.state.last.key == "other_language"
        reply = t.reply(t.say("other_language_again" if again else "other_language"), "other_language")
        t.state.last = LastAnswer(key="other_language")
        return reply

    def _not_twice(self, t: TurnContext, reply: Reply, said_before: int) -> Reply:
        """The same answer again in a row is no answer: the part that fits, or the rule, and a person."""
        crc = zlib.crc32(reply.text.encode())
        asks = t.state.expecting is not None and not isinstance(t.state.expecting, AwaitYes)  # a question again
        if crc == said_before and reply.intent is not None and not reply.wants_human and reply.text and not asks:
            reply = routing.not_again(t, reply)
            crc = zlib.crc32(reply.text.encode())
        if t.state.last is None or t.state.last.key != reply.intent or t.state.last.text_crc != crc:
            last = t.state.last if t.state.last and t.state.last.key == reply.intent else None
            t.state.last = last or LastAnswer(key=reply.intent or "")
            t.state.last.text_crc = crc
        return reply

    async def handoff_is(self, conversation_id: int, event: dict[str, Any], asked_at: datetime) -> None:
        """The desk's answer to a handoff. While nobody can take the chat (until the team opens, or for a
        while when it is open but nobody is online) the dialogue says so instead of promising a wait."""
        state = DialogueState.from_json(await self.store.dialogue_state(conversation_id))
        state.offline_until = None
        if event["state"] == "offline":
            opens = parse_iso(event["opens_at"])
            state.offline_until = isoformat(opens if opens > asked_at else asked_at + NOBODY_ONLINE_HOLD)
        await self.store.set_dialogue_state(conversation_id, state.to_json())

    def preview(self, brand: Brand, parse: Parse) -> Reply:
        """What a customer would get for this message at the start of a chat, without touching any
        conversation: for the operator's try-it panel."""
        return routing.preview(brand, self.book(brand), parse)
