"""One YAML file per intent (intents/<brand>/intents/*.yaml), and the
out-of-scope examples every brand shares (intents/out_of_scope/)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..nlu import OUT_OF_SCOPE
from .files import IntentFileError, load_yaml, validation_error

CONVERSATION_INTENTS = ("greet", "goodbye", "thanks", "affirm", "deny", "human_agent", "bot_capabilities")


class IntentModel(BaseModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    policy_section: str | None = None
    action: str | None = None
    examples: list[str] = Field(min_length=1)
    answer: str | None = None
    quick_replies: list[str] = []
    # After this answer the bot offers a person; a "yes" hands off.
    offer_handoff: bool = False


@dataclass
class Intent:
    name: str
    policy_section: str | None
    action: str | None
    examples: list[str]
    answer: str
    quick_replies: list[str]
    path: Path
    example_lines: list[int] = field(default_factory=list)
    offer_handoff: bool = False


def load_intent(path: Path) -> Intent:
    data = load_yaml(path)
    try:
        model = IntentModel.model_validate(data)
    except ValidationError as e:
        raise validation_error(path, data, e) from e
    if model.name != OUT_OF_SCOPE and not (model.answer or "").strip():
        raise IntentFileError(path, None, "answer: an intent needs an answer")
    lines: list[int] = []
    try:
        seq = data["examples"]
        lines = [seq.lc.item(i)[0] + 1 for i in range(len(seq))]
    except Exception:
        pass
    return Intent(
        name=model.name,
        policy_section=model.policy_section,
        action=model.action,
        examples=[e.strip() for e in model.examples],
        answer=(model.answer or "").strip(),
        quick_replies=model.quick_replies,
        path=path,
        example_lines=lines,
        offer_handoff=model.offer_handoff,
    )


class SharedOutOfScope(BaseModel):
    """One file of `intents/out_of_scope/`: a kind of text no brand answers."""

    model_config = ConfigDict(extra="forbid")
    kind: str
    examples: list[str]


def load_shared_out_of_scope(intents_dir: Path) -> list[str]:
    """Examples every brand's matcher learns to refuse: other domains,
    everyday-assistant requests, other companies' problems in our words,
    abuse, injection. Shared because no brand answers them; a brand's own
    `out_of_scope.yaml` adds what only it refuses (the other brand's topics)."""
    examples: list[str] = []
    for path in sorted((intents_dir / "out_of_scope").glob("*.yaml")):
        data = load_yaml(path)
        try:
            examples.extend(SharedOutOfScope.model_validate(data).examples)
        except ValidationError as e:
            raise validation_error(path, data, e) from e
    return examples
