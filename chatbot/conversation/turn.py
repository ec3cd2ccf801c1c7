"""Everything one turn works with, in one place: the brand and its wording,
the phrase lists, the customer's dialogue state, the records context, the
message and its parse. Handlers take a `TurnContext` and return a Reply."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..brands import Brand
from ..clock import parse_iso
from ..nlu import Entity, Parse
from .cues import Cues, words
from .phrasebook import Phrasebook
from .records import ENTITY_KIND, RECORD_KIND, Context, label
from .reply import Reply
from .state import Action, Button, DialogueState

SOCIAL = frozenset({"greet", "thanks", "goodbye"})
YES_NO = frozenset({"affirm", "deny"})


@dataclass
class TurnContext:
    brand: Brand
    book: Phrasebook
    cues: Cues
    state: DialogueState
    records: Context
    text: str
    parse: Parse
    parser: Callable[[str], Parse]  # the brand's matcher
    queue: dict[str, Any] | None = None  # the live queue view while the customer waits for a person
    said: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        self.said = words(self.text)

    def with_parse(self, parse: Parse, text: str | None = None) -> TurnContext:
        """The same turn read another way (a clause, a button's payload, a closer reading)."""
        return TurnContext(
            self.brand,
            self.book,
            self.cues,
            self.state,
            self.records,
            self.text if text is None else text,
            parse,
            self.parser,
            self.queue,
        )

    @property
    def offline(self) -> bool:
        """A handoff was asked for and nobody could take the chat, and that still holds."""
        until = self.state.offline_until
        return until is not None and self.records.clock.now() < parse_iso(until)

    def knowledge_parse(self, text: str) -> Parse:
        return self.parser(text)

    def has(self, cue: str) -> bool:
        return self.cues.has(cue, self.said)

    def say(self, key: str, **fields: Any) -> str:
        return self.book.say(key, **fields)

    @property
    def intent(self) -> str | None:
        return self.parse.intent

    @property
    def action(self) -> str | None:
        """What the matched intent does (an intent file's `action`), if anything."""
        intent = self.brand.intents.get(self.parse.intent or "")
        return intent.action if intent else None

    def numbers(self) -> dict[str, str]:
        """Records named by number: kind -> number (the first of each kind)."""
        named: dict[str, str] = {}
        for e in self.parse.entities:
            if e.entity in ENTITY_KIND:
                named.setdefault(ENTITY_KIND[e.entity], e.value)
        return named

    def reply(self, text: str, intent: str | None = None, buttons: list[Button] | None = None, **extra: Any) -> Reply:
        return Reply(
            text, intent if intent is not None else self.parse.intent, self.parse.confidence, buttons or [], **extra
        )

    def button(self, key: str, intent: str, **entities: str) -> Button:
        return Button(self.say(key), Action(intent, dict(entities)))

    def yes_no_buttons(self, yes: str = "button_yes", no: str = "button_no") -> list[Button]:
        return [self.button(yes, "affirm"), self.button(no, "deny")]

    def record_buttons(self, action: str, kind: str, rows: list[dict[str, Any]]) -> list[Button]:
        return [Button(label(kind, r), Action(action, {kind: r["number"]})) for r in rows[:4]]

    def kinds(self) -> list[str]:
        """The kinds of record this brand's intents act on, in intent order."""
        found = [RECORD_KIND[i.action] for i in self.brand.intents.values() if i.action in RECORD_KIND]
        return list(dict.fromkeys(found))


def parse_of(action: Action, text: str) -> Parse:
    """A button's payload as a parse: the intent for sure, the records it names as entities."""
    entities = [Entity(f"{kind}_number", number, 0, 0) for kind, number in action.entities.items()]
    return Parse(text, action.intent, 1.0, [(action.intent, 1.0)], entities)
