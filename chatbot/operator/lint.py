"""`python -m chatbot intents check`: the review an intent change needs before
it ships. Every finding names the file and line. A brand folder that does not
load (a brand.yaml rule or a replies.yaml template in error: a missing key, an
unknown {placeholder}) is reported as the one finding of that load."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..brands import CONVERSATION_INTENTS, RECORD_ANSWERS, Brand, Intent, IntentFileError, load_brands
from ..nlu import Matcher, build_matcher
from ..nlu.normalize import normalize

# Share of an intent's own examples that the trained matcher reads as another
# intent before the two are reported as too close to tell apart.
TOO_CLOSE_SHARE = 0.2


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int
    level: str  # "error" or "warning"
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.level}: {self.message}"


def _line_of(intent: Intent, index: int) -> int:
    return intent.example_lines[index] if index < len(intent.example_lines) else 1


# The kind of record each record action reads.
_ACTION_TABLE = {answer: table for table, answers in RECORD_ANSWERS.items() for answer in answers}


def check_brand(brand: Brand, known_actions: set[str] | None = None, matcher: Matcher | None = None) -> list[Finding]:
    matcher = matcher or build_matcher(
        brand.training_data(), threshold=brand.settings.nlu.threshold, margin=brand.settings.nlu.margin
    )
    return _file_findings(brand, known_actions) + _closeness_findings(brand, matcher)


def _file_findings(brand: Brand, known_actions: set[str] | None) -> list[Finding]:
    """What each intent file says: duplicate examples, citations, actions, too few examples."""
    findings: list[Finding] = []
    seen: dict[str, tuple[str, Path, int]] = {}
    for intent in brand.intents.values():
        findings += _duplicate_findings(intent, seen)
        findings += _intent_findings(brand, intent, known_actions)
    return findings


def _duplicate_findings(intent: Intent, seen: dict[str, tuple[str, Path, int]]) -> list[Finding]:
    """The intent's examples that `seen` (normalized example -> intent, path,
    line of its first appearance) has under another intent; adds the new ones to `seen`."""
    findings: list[Finding] = []
    for i, example in enumerate(intent.examples):
        key = normalize(example)
        if key in seen and seen[key][0] != intent.name:
            other, path, line = seen[key]
            findings.append(
                Finding(
                    intent.path,
                    _line_of(intent, i),
                    "error",
                    f"example {example!r} is also an example of {other} ({path}:{line})",
                )
            )
        seen.setdefault(key, (intent.name, intent.path, _line_of(intent, i)))
    return findings


def _intent_findings(brand: Brand, intent: Intent, known_actions: set[str] | None) -> list[Finding]:
    """The intent's citation, its action and its number of examples."""
    findings: list[Finding] = []
    if intent.name not in CONVERSATION_INTENTS and not intent.policy_section:
        findings.append(Finding(intent.path, 1, "error", f"{intent.name}: the answer cites no policy_section"))
    if intent.policy_section and intent.policy_section not in brand.settings.policy.sections:
        findings.append(
            Finding(
                intent.path,
                1,
                "error",
                f"policy_section {intent.policy_section!r} is not a section of {brand.settings.policy.title}",
            )
        )
    if known_actions is not None and intent.action and intent.action not in known_actions:
        findings.append(Finding(intent.path, 1, "error", f"unknown action {intent.action!r}"))
    table = _ACTION_TABLE.get(intent.action or "")
    if table and table not in brand.settings.rules.records:
        # its answer would need rules and replies.yaml wording the brand does not have
        findings.append(
            Finding(
                intent.path,
                1,
                "error",
                f"action {intent.action} reads {table}, which brand.yaml rules.records does not keep",
            )
        )
    if len(intent.examples) < 5:
        findings.append(Finding(intent.path, 1, "warning", f"{intent.name} has only {len(intent.examples)} examples"))
    return findings


def _closeness_findings(brand: Brand, matcher: Matcher) -> list[Finding]:
    """Intents whose own examples the matcher reads as another intent too often."""
    findings: list[Finding] = []
    read_as: dict[str, Counter[str]] = defaultdict(Counter)
    for intent in brand.intents.values():
        for example in intent.examples:
            top = matcher.parse(example).top
            if top and top != intent.name:
                read_as[intent.name][top] += 1
    for name, counts in read_as.items():
        intent = brand.intents[name]
        for other, n in counts.items():
            if n / len(intent.examples) >= TOO_CLOSE_SHARE:
                findings.append(
                    Finding(
                        intent.path,
                        1,
                        "warning",
                        f"{name} and {other} are too close to tell apart: {n} of "
                        f"{len(intent.examples)} examples of {name} read as {other}",
                    )
                )
    return findings


def check(intents_dir: Path, known_actions: set[str] | None = None) -> list[Finding]:
    try:
        brands = load_brands(intents_dir)
    except IntentFileError as e:
        return [Finding(e.path, e.line or 1, "error", e.message)]
    return [f for brand in brands.values() for f in check_brand(brand, known_actions)]
