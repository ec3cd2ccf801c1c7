"""What the dialogue says, as data: `intents/dialogue.yaml` for every brand,
overridden key by key by `intents/<brand>/dialogue.yaml` where a brand has
one. Brand facts (email, phone, hours) fill placeholders from the brand's
settings, so a template never states a fact of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel
from ruamel.yaml import YAML

from ..brands import Brand
from ..handoff.hours import Hours


class PhrasebookFile(BaseModel):
    replies: dict[str, str] = {}
    timing: dict[str, str | None] = {}
    timing_words: dict[str, str] = {}
    in_progress: dict[str, list[str]] = {}
    main_kind: dict[str, list[str]] = {}


def _read(path: Path) -> PhrasebookFile:
    if not path.exists():
        return PhrasebookFile()
    with path.open(encoding="utf-8") as f:
        return PhrasebookFile.model_validate(YAML(typ="safe").load(f) or {})


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        raise KeyError(f"no value for placeholder {{{key}}}")


class Phrasebook:
    def __init__(self, shared: PhrasebookFile, brand: Brand) -> None:
        own = _read(brand.folder / "dialogue.yaml")
        self.replies = {**shared.replies, **own.replies}
        self.timing = {**shared.timing, **own.timing}
        self.timing_words = {**shared.timing_words, **own.timing_words}
        self.in_progress = {**shared.in_progress, **own.in_progress}
        self.main_kind = {**shared.main_kind, **own.main_kind}
        contact = brand.settings.contact
        hours = Hours(brand.settings.hours)
        self.facts: dict[str, Any] = {
            "brand": brand.settings.name,
            "email": contact.email,
            "email_promise": contact.email_reply_promise,
            "phone": contact.phone or "",
            "hours": hours.describe(),
            "topics": ", ".join(brand.settings.topics),
        }
        self.facts["phone_clause"] = self.say("phone_clause") if contact.phone else ""
        self.facts["phone_or"] = self.say("phone_or") if contact.phone else ""

    def say(self, key: str, **fields: Any) -> str:
        return self.replies[key].format_map(_Blank({**self.facts, **fields}))

    @classmethod
    def for_brand(cls, intents_dir: Path, brand: Brand) -> Phrasebook:
        """intents/dialogue.yaml with the brand's own dialogue.yaml over it."""
        return cls(_read(intents_dir / "dialogue.yaml"), brand)
