"""A brand is data: `intents/<brand>/brand.yaml` (hours, service levels,
contacts, matcher thresholds, the rules of its records), its policy document,
the wording of its record and handoff answers (`replies.yaml`), and one YAML
file per intent. chatbot/brand/ reads and validates each file; this module
puts them together into a `Brand` and re-exports what callers use. Nothing
here is per-brand code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .brand.files import IntentFileError, line_at, load_yaml, validation_error
from .brand.intents import (
    CONVERSATION_INTENTS,
    Intent,
    IntentModel,
    SharedOutOfScope,
    load_intent,
    load_shared_out_of_scope,
)
from .brand.replies import REPLY_FIELDS, REPLY_GROUPS, Reply, load_replies, replies_needed
from .brand.settings import (
    RECORD_ANSWERS,
    RULES_NEEDED,
    BrandSettings,
    ContactSettings,
    EmbedSettings,
    HoursSettings,
    NluSettings,
    PolicySettings,
    RecordRules,
    RecordTable,
    ServiceLevelSettings,
)
from .nlu import OUT_OF_SCOPE, SHARED_OUT_OF_SCOPE

# What callers import from here (the brand's files are read in chatbot/brand/).
__all__ = [
    "CONVERSATION_INTENTS",
    "OUT_OF_SCOPE",
    "RECORD_ANSWERS",
    "REPLY_FIELDS",
    "REPLY_GROUPS",
    "RULES_NEEDED",
    "Brand",
    "BrandSettings",
    "ContactSettings",
    "EmbedSettings",
    "HoursSettings",
    "Intent",
    "IntentFileError",
    "IntentModel",
    "NluSettings",
    "PolicySettings",
    "RecordRules",
    "RecordTable",
    "Reply",
    "ServiceLevelSettings",
    "SharedOutOfScope",
    "load_brand",
    "load_brands",
    "load_intent",
    "load_replies",
    "load_shared_out_of_scope",
    "replies_needed",
]


@dataclass
class Brand:
    settings: BrandSettings
    policy_text: str
    intents: dict[str, Intent]
    out_of_scope: list[str]
    folder: Path
    replies: dict[str, Reply] = field(default_factory=dict)
    shared_out_of_scope: list[str] = field(default_factory=list)  # intents/out_of_scope/, less what the brand answers

    @property
    def id(self) -> str:
        return self.settings.id

    def training_data(self) -> dict[str, list[str]]:
        """What the matcher learns from: examples per intent, plus the
        out-of-scope examples it must learn to refuse."""
        data = {name: intent.examples for name, intent in self.intents.items()}
        if self.out_of_scope:
            data[OUT_OF_SCOPE] = self.out_of_scope
        if self.shared_out_of_scope:
            data[SHARED_OUT_OF_SCOPE] = self.shared_out_of_scope
        return data

    def say(self, key: str, **fields: Any) -> str:
        """The brand's wording of `key`, filled in. The code passes every field
        REPLY_FIELDS lists for the key, so a template may use any of them."""
        expected = set(REPLY_FIELDS[key])
        if set(fields) != expected:  # a code/catalogue mismatch: fail loudly, not with a half-filled sentence
            raise TypeError(f"reply {key} takes {sorted(expected)}, got {sorted(fields)}")
        reply = self.replies.get(key)
        if reply is None:
            raise KeyError(f"{self.id} has no reply {key}: its rules.records keep no such record")
        return reply.text.format(**fields)

    def citation(self, section: str | None) -> str | None:
        if not section:
            return None
        title = self.settings.policy.sections.get(section)
        name = self.settings.policy.title
        return f"{name}, section {section}" + (f" ({title})" if title else "")


def _load_settings(path: Path) -> BrandSettings:
    """brand.yaml, with each record answer's section checked against the policy's."""
    data = load_yaml(path)
    try:
        settings = BrandSettings.model_validate(data)
    except ValidationError as e:
        raise validation_error(path, data, e) from e
    for answer, section in settings.rules.sections.items():
        if section not in settings.policy.sections:
            raise IntentFileError(
                path,
                line_at(data, ("rules", "sections", answer)),
                f"rules.sections.{answer}: {section!r} is not a section of {settings.policy.title}",
            )
    return settings


def _load_intents(folder: Path) -> tuple[dict[str, Intent], list[str]]:
    """The brand's intents by name, and its own out-of-scope examples."""
    intents: dict[str, Intent] = {}
    out_of_scope: list[str] = []
    for path in sorted((folder / "intents").glob("*.yaml")):
        intent = load_intent(path)
        if intent.name == OUT_OF_SCOPE:
            out_of_scope.extend(intent.examples)
            continue
        if intent.name in intents:
            raise IntentFileError(path, None, f"intent {intent.name} is also defined in {intents[intent.name].path}")
        intents[intent.name] = intent
    return intents, out_of_scope


def _shared_left(shared_out_of_scope: Sequence[str], intents: dict[str, Intent], out_of_scope: list[str]) -> list[str]:
    """A shared example that one of this brand's intents uses is the brand's to
    answer: the intent's example wins, so one text never trains two labels."""
    answered = {e.casefold() for intent in intents.values() for e in intent.examples}
    known = {e.casefold() for e in out_of_scope}
    shared: list[str] = []
    for example in shared_out_of_scope:
        if example.casefold() not in answered | known:
            shared.append(example)
            known.add(example.casefold())
    return shared


def load_brand(folder: Path, shared_out_of_scope: Sequence[str] = ()) -> Brand:
    settings = _load_settings(folder / "brand.yaml")
    policy_text = (folder / settings.policy.file).read_text(encoding="utf-8")
    replies = load_replies(folder / "replies.yaml", settings)
    intents, out_of_scope = _load_intents(folder)
    shared = _shared_left(shared_out_of_scope, intents, out_of_scope)
    return Brand(
        settings=settings,
        policy_text=policy_text,
        intents=intents,
        out_of_scope=out_of_scope,
        folder=folder,
        replies=replies,
        shared_out_of_scope=shared,
    )


def load_brands(intents_dir: Path) -> dict[str, Brand]:
    brands = {}
    shared = load_shared_out_of_scope(intents_dir)
    for folder in sorted(p for p in intents_dir.iterdir() if (p / "brand.yaml").exists()):
        brand = load_brand(folder, shared)
        brands[brand.id] = brand
    return brands
