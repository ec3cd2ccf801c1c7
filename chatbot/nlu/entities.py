"""Entity extraction: record numbers, emails and amounts, with offsets into
the original text (Rasa's `start`/`end`). Numbers are returned in their
canonical form (`ct 100234`, `#100234` → `CT-100234`)."""

from __future__ import annotations

import re

from . import Entity

_RECORDS = [
    ("order_number", "CT", re.compile(r"\bct[\s\-#_:]*(\d{6})\b", re.I)),
    ("purchase_number", "TT", re.compile(r"\btt[\s\-#_:]*(\d{4})\b", re.I)),
    ("refund_number", "RF", re.compile(r"\brf[\s\-#_:]*(\d{4})\b", re.I)),
    ("withdrawal_number", "WD", re.compile(r"\bwd[\s\-#_:]*(\d{4})\b", re.I)),
]
# A bare six-digit number after '#' or "order" is an order number without its prefix.
_BARE_ORDER = re.compile(r"(?:#\s?|\border(?:\s+(?:number|no\.?|num|#))?\s*)(\d{6})\b", re.I)
# Carriers' tracking numbers: UPS (1Z + 16), USPS (20-22 digits).
_TRACKING = re.compile(r"\b(1Z[0-9A-Z]{16}|\d{20,22})\b", re.I)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_AMOUNT = re.compile(
    r"(?:\$|usd\s?)\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?"
    r"|\b(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?\s?(?:usd|dollars?)\b",
    re.I,
)


def extract(text: str) -> list[Entity]:
    found: list[Entity] = []
    taken: list[tuple[int, int]] = []

    def add(kind: str, value: str, start: int, end: int) -> None:
        if any(s < end and start < e for s, e in taken):
            return
        taken.append((start, end))
        found.append(Entity(kind, value, start, end))

    for kind, prefix, pattern in _RECORDS:
        for m in pattern.finditer(text):
            add(kind, f"{prefix}-{m.group(1)}", m.start(), m.end())
    for m in _BARE_ORDER.finditer(text):
        add(
            "order_number",
            f"CT-{m.group(1)}",
            m.start(1) - (1 if text[m.start(1) - 1 : m.start(1)] == "#" else 0),
            m.end(1),
        )
    for m in _TRACKING.finditer(text):
        add("tracking_number", m.group(1).upper(), m.start(1), m.end(1))
    for m in _EMAIL.finditer(text):
        add("email", m.group(0), m.start(), m.end())
    for m in _AMOUNT.finditer(text):
        whole = (m.group(1) or m.group(3)).replace(",", "")
        cents = m.group(2) or m.group(4) or "00"
        add("amount", f"{int(whole)}.{cents.ljust(2, '0')}", m.start(), m.end())
    return sorted(found, key=lambda e: e.start)
