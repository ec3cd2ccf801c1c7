"""The dialogue's phrase lists, read from `intents/cues.yaml`: how customers
refer back, repair, cancel or change the subject. Matching is on whole words
(lower-cased, apostrophes dropped), never on regular expressions in code, so
a new phrasing is a reviewed line of data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel
from ruamel.yaml import YAML

_APOSTROPHES = str.maketrans("", "", "'’`")
_KEEP = {c for c in "abcdefghijklmnopqrstuvwxyz0123456789-"}


def words(text: str) -> tuple[str, ...]:
    """The message as lower-case words: "Don't cancel CT-100235!" -> (dont, cancel, ct-100235)."""
    cleaned = "".join(c if c in _KEEP else " " for c in text.lower().translate(_APOSTROPHES))
    return tuple(w.strip("-") for w in cleaned.split() if w.strip("-"))


def _contains(haystack: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


class CueModel(BaseModel):
    anywhere: list[str] = []
    start: list[str] = []
    whole: list[str] = []


class CuesFile(BaseModel):
    openers: list[str] = []
    cues: dict[str, CueModel]
    ordinals: dict[str, int] = {}
    description_filler: list[str] = []
    stopwords: list[str] = []
    synonyms: dict[str, str] = {}
    message_request_words: list[str] = []


@dataclass(frozen=True)
class Cue:
    anywhere: tuple[tuple[str, ...], ...]
    start: tuple[tuple[str, ...], ...]
    whole: frozenset[tuple[str, ...]]


class Cues:
    def __init__(self, model: CuesFile) -> None:
        def phrases(items: list[str]) -> tuple[tuple[str, ...], ...]:
            return tuple(words(p) for p in items if words(p))

        self._cues = {
            name: Cue(phrases(c.anywhere), phrases(c.start), frozenset(phrases(c.whole)))
            for name, c in model.cues.items()
        }
        self.openers = frozenset(model.openers)
        self.ordinals = model.ordinals
        self.description_filler = frozenset(model.description_filler)
        self.stopwords = frozenset(model.stopwords)
        self.message_request_words = frozenset(model.message_request_words)
        self.synonyms = {words(k)[0]: v for k, v in model.synonyms.items() if words(k)}

    @classmethod
    def load(cls, path: Path) -> Cues:
        with path.open(encoding="utf-8") as f:
            return cls(CuesFile.model_validate(YAML(typ="safe").load(f)))

    def _without_openers(self, said: tuple[str, ...]) -> tuple[str, ...]:
        i = 0
        while i < len(said) - 1 and said[i] in self.openers:
            i += 1
        return said[i:]

    def has(self, name: str, text: str | tuple[str, ...]) -> bool:
        """Does the message say cue `name`?"""
        said = words(text) if isinstance(text, str) else text
        cue = self._cues[name]
        if said in cue.whole:
            return True
        if any(_contains(said, p) for p in cue.anywhere):
            return True
        skippable = len(said) - len(self._without_openers(said))  # "ok and ...": "and" may open, too
        return any(said[i : i + len(p)] == p for i in range(skippable + 1) for p in cue.start)

    def is_exactly(self, name: str, text: str | tuple[str, ...]) -> bool:
        """Is the whole message one of the cue's phrases ("hey there", not "hey where r my earbuds")?"""
        said = words(text) if isinstance(text, str) else text
        cue = self._cues[name]
        return said in cue.whole or said in cue.anywhere or said in cue.start

    def phrases(self, name: str) -> frozenset[tuple[str, ...]]:
        """Every phrase of cue `name`, as words, wherever it may stand."""
        cue = self._cues[name]
        return frozenset(cue.anywhere) | frozenset(cue.start) | cue.whole

    def names(self) -> list[str]:
        return sorted(self._cues)
