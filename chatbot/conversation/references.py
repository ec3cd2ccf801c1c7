"""Which of the customer's records a message is about, when it names none by
its full number: by its digits ("100300"), by what it is ("the earbuds"), by
its status ("my withdrawal is still pending"), by its age ("my latest
order", "the one before"), or by its place in the list just shown ("the
second one"). Each rule names a record only when exactly one fits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .cues import Cues, words
from .records import described_as


def _singular(word: str) -> str:
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def by_digits(said: tuple[str, ...], rows: list[dict[str, Any]]) -> str | None:
    digits = {w for w in said if w.isdigit() and 4 <= len(w) <= 8}
    fits = [r["number"] for r in rows if "".join(c for c in r["number"] if c.isdigit()) in digits]
    return fits[0] if len(fits) == 1 else None


def by_description(cues: Cues, said: tuple[str, ...], kind: str, rows: list[dict[str, Any]]) -> str | None:
    mine = {_singular(w) for w in said}
    fits = [
        r["number"]
        for r in rows
        if mine
        & {_singular(w) for w in words(described_as(kind, r)) if len(w) > 2 and w not in cues.description_filler}
    ]
    return fits[0] if len(fits) == 1 else None


def by_status(cues: Cues, said: tuple[str, ...], rows: list[dict[str, Any]]) -> str | None:
    """ "still pending" names a status; "not delivered yet" and "has it shipped?" do not."""
    if cues.has("negated", said) or cues.has("yes_no_question", said):
        return None
    mine = set(said)
    fits = [r["number"] for r in rows if mine & set(str(r.get("status", "")).split("_"))]
    return fits[0] if len(fits) == 1 else None


def by_place(
    cues: Cues, said: tuple[str, ...], rows: list[dict[str, Any]], shown: list[str], focus: str | None
) -> str | None:
    """By age, by place in the list shown, or the one before the one discussed (rows are newest first)."""
    numbers: list[str] = [r["number"] for r in rows]
    if focus in numbers and cues.has("previous", said):
        i = numbers.index(focus)
        return numbers[i + 1] if i + 1 < len(numbers) else None
    if len(said) <= 8:
        place = next((cues.ordinals[w] for w in said if w in cues.ordinals), None)
        listed = shown or numbers
        if place is not None and place < len(listed):
            return listed[place]
    if numbers and cues.has("newest", said):
        return numbers[0]
    if numbers and cues.has("oldest", said):
        return numbers[-1]
    return None


def pick(
    cues: Cues,
    text: str,
    kind: str,
    rows: list[dict[str, Any]],
    shown: list[str] | None = None,
    focus: str | None = None,
) -> str | None:
    """The one record of `rows` the message names, or None."""
    said = words(text)
    rules: tuple[Callable[[], str | None], ...] = (
        lambda: by_digits(said, rows),
        lambda: by_description(cues, said, kind, rows),
        lambda: by_status(cues, said, rows),
        lambda: by_place(cues, said, rows, shown or [], focus),
    )
    for rule in rules:
        found = rule()
        if found:
            return found
    return None


def refers_back(cues: Cues, text: str) -> bool:
    """ "cancel it", "is that one shipped", "when will they arrive": the record being discussed
    (not the "it" of "is it possible to ...")."""
    said = words(text)
    return cues.has("refers_back", said) and not cues.has("not_refers_back", said)


def names_one(said: tuple[str, ...]) -> bool:
    """ "the completed one", "the tiktok one": picks from a list whatever else the message asks."""
    return any(said[i] == "the" and said[i + 2] == "one" for i in range(len(said) - 2))
