"""One message, several things said: "hey where r my earbuds" is a greeting
and a question; "whats your email and when are you open" two questions.

`parse_clauses` splits a message into clauses and parses each, so the
dialogue can answer each one that means something. Clauses split at
sentence ends, after a greeting that opens the message, and at joining words
("and", "also") or a comma with at least three words on both sides, so
"cancel it and refund" stays one request. Which words greet and which join
are the caller's data (intents/cues.yaml), passed in as `ClauseWords`."""

from __future__ import annotations

from dataclasses import dataclass

from . import Matcher, Parse

MAX_CLAUSES = 3
SENTENCE_ENDS = ".?!;\n"
_APOSTROPHES = str.maketrans("", "", "'’`")
_KEEP = set("abcdefghijklmnopqrstuvwxyz0123456789-")


def words(text: str) -> tuple[str, ...]:
    """Lower-case words, apostrophes dropped: "Don't cancel CT-100235!" -> (dont, cancel, ct-100235)."""
    cleaned = "".join(c if c in _KEEP else " " for c in text.lower().translate(_APOSTROPHES))
    return tuple(w.strip("-") for w in cleaned.split() if w.strip("-"))


@dataclass(frozen=True)
class ClauseWords:
    greetings: frozenset[tuple[str, ...]]  # what may open a message before a question ("hey", "hi there")
    joiners: frozenset[tuple[str, ...]]  # what joins two clauses ("and", "also")


def _sentences(text: str) -> list[str]:
    parts, current = [], []
    for ch in text:
        current.append(ch)
        if ch in SENTENCE_ENDS:
            parts.append("".join(current))
            current = []
    parts.append("".join(current))
    return [p.strip() for p in parts if words(p)]


def _greeting_split(vocabulary: ClauseWords, sentence: str) -> list[str]:
    """ "hey where r my earbuds" -> ["hey", "where r my earbuds"]."""
    tokens = sentence.split()
    for n in (3, 2, 1):
        head, rest = " ".join(tokens[:n]), " ".join(tokens[n:])
        if len(words(rest)) >= 2 and words(head.rstrip(",!")) in vocabulary.greetings:
            return [head, rest]
    return [sentence]


def _joined(vocabulary: ClauseWords, sentence: str) -> list[str]:
    """ "whats your email and when are you open", "and the lamp one, whats happening with my money":
    both parts, when each side has 3+ words."""
    tokens = sentence.split()
    for i, token in enumerate(tokens):
        if not 3 <= i <= len(tokens) - 3:
            continue
        if token.endswith(","):
            return [" ".join(tokens[: i + 1]).rstrip(","), *_joined(vocabulary, " ".join(tokens[i + 1 :]))]
        if words(token) in vocabulary.joiners:
            return [" ".join(tokens[:i]).rstrip(","), *_joined(vocabulary, " ".join(tokens[i + 1 :]))]
    return [sentence]


def split(vocabulary: ClauseWords, text: str) -> list[str]:
    clauses: list[str] = []
    for sentence in _sentences(text):
        for part in _greeting_split(vocabulary, sentence):
            clauses.extend(_joined(vocabulary, part))
    return clauses[:MAX_CLAUSES] if len(clauses) > 1 else [text]


def parse_clauses(matcher: Matcher, vocabulary: ClauseWords, text: str, whole: Parse | None = None) -> list[Parse]:
    """One parse per clause; a message of one clause is its own parse (`whole`, when already parsed)."""
    parts = split(vocabulary, text)
    if len(parts) == 1:
        return [whole if whole is not None else matcher.parse(text)]
    return [matcher.parse(part) for part in parts]
