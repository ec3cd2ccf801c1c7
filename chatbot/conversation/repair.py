"""Conversation repair, once for every flow (Rasa CALM's patterns): the
customer says the bot misunderstood, asks why or what else they can do
about the answer just given, asks when it will happen, pushes back, is
frustrated, or asks for something beyond their own account. Each pattern
returns a Reply when it applies, else None."""

from __future__ import annotations

from . import acting, references
from .cues import words
from .records import KIND_TABLE, KIND_WORD, RECORD_KIND
from .reply import Reply
from .state import Action, AwaitConfirm, AwaitYes
from .turn import YES_NO, TurnContext

SURE = 0.8  # a reading this sure is a question of its own, not a repair of the last answer


def offer_person(t: TurnContext, reply: Reply) -> Reply:
    """`reply` with the offer of a person: a yes hands the chat over."""
    t.state.expecting = AwaitYes(action=Action("human_agent"))
    reply.buttons = [t.button("button_yes_person", "human_agent"), t.button("button_no_thanks", "deny")]
    return reply


def _about_last(t: TurnContext, longest: int = 7) -> bool:
    """Short, or not clearly a question of its own: about what was just said."""
    return len(t.said) <= longest or t.intent in (None, *YES_NO) or t.parse.confidence < SURE


def misunderstood(t: TurnContext) -> Reply | None:
    if not t.has("misunderstood") or t.intent == "human_agent":
        return None
    t.state.expecting = None  # counts as not understood: one more miss and a person takes over
    return Reply(t.say("misunderstood"), None, t.parse.confidence, [t.button("button_talk_to_person", "human_agent")])


def overreach(t: TurnContext) -> Reply | None:
    """Someone else's records, or an attempt to change how the bot works: refused, never a miss."""
    if not t.has("overreach"):
        return None
    t.state.expecting = None
    kinds = " and ".join(f"{KIND_WORD[k]}s" for k in t.kinds()[:2])
    return Reply(t.say("overreach", kinds=kinds), "out_of_scope", t.parse.confidence)


async def why(t: TurnContext) -> Reply | None:
    """ "why?", "why not the full 500": the rule behind the offer or the answer just given; "how much is
    the fee exactly": a question about the offer that its explanation answers."""
    exp = t.state.expecting
    if isinstance(exp, AwaitConfirm) and exp.why and t.has("question") and best_sentence(t, exp.why)[0] > 0:
        return t.reply(f"{exp.why}\n\n{t.say('go_ahead')}", exp.action, t.yes_no_buttons())
    if not t.has("why") or not _about_last(t):
        return None
    if isinstance(exp, AwaitConfirm) and exp.why:
        return t.reply(f"{exp.why}\n\n{t.say('go_ahead')}", exp.action, t.yes_no_buttons())
    last = t.state.last
    if last is None or last.number is None:
        return None
    if last.why:  # the rule behind a refusal, and a person for a case the rule may not fit
        return offer_person(t, t.reply(t.say("pushback", why=last.why), last.key))
    kind = next((k for k, n in t.state.focus.items() if n == last.number), "record")
    return offer_person(t, t.reply(t.say("why_unknown", kind=KIND_WORD.get(kind, kind), number=last.number), last.key))


async def options(t: TurnContext) -> Reply | None:
    """ "so what can I do then": what is left after the answer just given."""
    last = t.state.last
    if not t.has("options") or last is None or last.number is None or not _about_last(t, 9):
        return None
    if last.options:
        return offer_person(t, t.reply(f"{last.options}\n\n{t.say('offer_person')}", last.key))
    return offer_person(t, t.reply(t.say("options_unknown"), last.key))


async def when(t: TurnContext) -> Reply | None:
    """ "when will I actually get it": the date the records hold, or an honest "I can't say"."""
    last = t.state.last
    if not t.has("when") or last is None or last.number is None or t.numbers():
        return None
    kind = next((k for k, n in t.state.focus.items() if n == last.number), None)
    reading = RECORD_KIND.get(t.action or "")
    about_it = references.refers_back(t.cues, t.text) or reading in (None, kind) or t.parse.confidence < SURE
    if kind is None or not about_it:
        return None
    timing = t.book.timing.get(kind)
    if timing and timing in t.brand.intents:
        return await acting.act(t, timing, {kind: last.number})
    row = await t.records.store.record_of(KIND_TABLE[kind], last.number, t.records.user.id)
    status = str(row.get("status", "")).replace("_", " ") if row else "open"
    text = t.say(
        "dont_know_when",
        what=t.book.timing_words.get(kind, "that happens"),
        kind=KIND_WORD[kind],
        number=last.number,
        status=status,
    )
    return offer_person(t, t.reply(text, last.key))


async def frustrated(t: TurnContext) -> Reply | None:
    """ "this is ridiculous": an apology and a person, not "I can't help with that"."""
    if not t.has("frustrated") or (t.intent not in (None, *YES_NO) and t.parse.confidence >= SURE):
        return None
    return offer_person(t, Reply(t.say("frustrated"), t.intent, t.parse.confidence))


async def pushback(t: TurnContext) -> Reply | None:
    """ "but I barely used it!" after a refusal: the rule once more, briefly, and a person."""
    last = t.state.last
    open_question = t.state.expecting is not None and not isinstance(t.state.expecting, AwaitYes)
    if last is None or not last.why or not t.has("pushback") or open_question:
        return None
    if t.action is not None and t.action != last.key and t.parse.confidence >= SURE:
        return None
    return offer_person(t, t.reply(t.say("pushback", why=last.why), last.key))


async def from_topic(t: TurnContext, topic: str | None) -> Reply | None:
    """A question about the policy answer just given or the flow under way ("does that include tax"
    after the prices; "who has the final say" in the dispute's form), that the matcher is unsure of or
    reads as a topic whose answer has none of its words: the sentence of that answer that shares them."""
    if topic not in t.brand.intents or not t.has("question"):
        return None
    asked = _asked(t)
    elsewhere = t.brand.intents.get(t.intent or "")
    if (
        t.intent is not None
        and t.parse.confidence >= SURE
        and not (t.has("deictic") and elsewhere and not asked & {_stem(w) for w in words(elsewhere.answer)})
    ):
        return None
    intent = t.brand.intents[topic or ""]
    score, best = best_sentence(t, intent.answer)
    if score == 0:
        return None
    return Reply(best, intent.name, t.parse.confidence, citation=t.brand.citation(intent.policy_section))


def best_sentence(t: TurnContext, answer: str) -> tuple[int, str]:
    """The sentence of `answer` sharing the most words with the message, and how many it shares."""
    asked = _asked(t)
    sentences = [s.strip() for s in answer.replace("\n", " ").split(". ") if s.strip()]
    score, best = max(((len(asked & {_stem(w) for w in words(s)}), s) for s in sentences), default=(0, ""))
    return score, (best if best.endswith((".", "?", "!")) else best + ".")


def _asked(t: TurnContext) -> set[str]:
    """The message's telling words, stemmed, each as the answers would put it ("vat" -> "tax")."""
    return {_stem(t.cues.synonyms.get(w, w)) for w in t.said if len(w) > 2} - {_stem(w) for w in t.cues.stopwords}


def _stem(word: str) -> str:
    """Enough stemming to match "tax" with "taxes" and "refunded" with "refund"."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:5]
