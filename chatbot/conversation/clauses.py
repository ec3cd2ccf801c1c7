"""One message, several things said: "hey where r my earbuds" is a greeting
and a question; "whats your email and when are you open" two questions.
Clauses split at sentence ends, after a greeting that opens the message, and
at joining words ("and", "also") with enough words on both sides. Each clause
is matched on its own; the dialogue answers each that means something."""
from __future__ import annotations

from .cues import Cues, words

MAX_CLAUSES = 3
SENTENCE_ENDS = ".?!;\n"


def _sentences(text: str) -> list[str]:
    parts, current = [], []
    for ch in text:
        current.append(ch)
        if ch in SENTENCE_ENDS:
            parts.append("".join(current))
            current = []
    parts.append("".join(current))
    return [p.strip() for p in parts if words(p)]


def _greeting_split(cues: Cues, sentence: str) -> list[str]:
    """"hey where r my earbuds" -> ["hey", "where r my earbuds"]."""
    tokens = sentence.split()
    for n in (3, 2, 1):
        head, rest = " ".join(tokens[:n]), " ".join(tokens[n:])
        if len(words(rest)) >= 2 and cues.is_exactly("greeting", head.rstrip(",!")):
            return [head, rest]
    return [sentence]


def _joined(cues: Cues, sentence: str) -> list[str]:
    """"whats your email and when are you open", "and the lamp one, whats happening with my money":
    both parts, when each side has 3+ words."""
    tokens = sentence.split()
    for i, token in enumerate(tokens):
        if not 3 <= i <= len(tokens) - 3:
            continue
        if token.endswith(","):
            return [" ".join(tokens[:i + 1]).rstrip(","), *_joined(cues, " ".join(tokens[i + 1:]))]
        if cues.is_exactly("joiners", token):
            return [" ".join(tokens[:i]).rstrip(","), *_joined(cues, " ".join(tokens[i + 1:]))]
    return [sentence]


def split(cues: Cues, text: str) -> list[str]:
    clauses: list[str] = []
    for sentence in _sentences(text):
        for part in _greeting_split(cues, sentence):
            clauses.extend(_joined(cues, part))
    return clauses[:MAX_CLAUSES] if len(clauses) > 1 else [text]
