"""A brand is data: `intents/<brand>/brand.yaml` (hours, service levels,
contacts, matcher thresholds), its policy document, and one YAML file per
intent. This module reads and validates them; nothing here is per-brand code."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

CONVERSATION_INTENTS = ("greet", "goodbye", "thanks", "affirm", "deny", "human_agent", "bot_capabilities")
OUT_OF_SCOPE = "out_of_scope"


class IntentFileError(Exception):
    """An intent or brand file that cannot be used, with where it went wrong."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        super().__init__(f"{path}:{line or 1}: {message}")
        self.path, self.line, self.message = path, line, message


class PolicySettings(BaseModel):
    file: str = "policy.txt"
    title: str
    sections: dict[str, str] = {}


class HoursSettings(BaseModel):
    timezone: str
    days: list[int] = [1, 2, 3, 4, 5]
    open: str = "09:00"
    close: str = "18:00"


class ServiceLevelSettings(BaseModel):
    first_response_target_seconds: int = 300
    first_response_breach_seconds: int = 600
    agent_chat_cap: int = 3
    agent_grace_seconds: int = 60
    customer_grace_seconds: int = 300
    # Until there are resolved chats to measure, the wait estimate and Erlang C use this.
    mean_handle_seconds: int = 300


class ContactSettings(BaseModel):
    email: str
    email_reply_promise: str = ""
    phone: str | None = None
    address: str | None = None


class EmbedSettings(BaseModel):
    """The brand's own websites that embed the widget."""
    origins: list[str] = []
    # Name of the environment variable holding the HS256 secret the brand's
    # backend signs customer tokens with (never the secret itself in a file).
    secret_env: str | None = None


class NluSettings(BaseModel):
    threshold: float = Field(0.5, ge=0, le=1)
    margin: float = Field(0.05, ge=0, le=1)


class BrandSettings(BaseModel):
    id: str
    name: str
    description: str = ""
    policy: PolicySettings
    hours: HoursSettings
    service_levels: ServiceLevelSettings = ServiceLevelSettings()
    contact: ContactSettings
    nlu: NluSettings = NluSettings()
    embed: EmbedSettings = EmbedSettings()
    # What the fallback says the bot can help with, and the buttons it offers.
    topics: list[str] = []
    suggestions: list[str] = []


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


@dataclass
class Brand:
    settings: BrandSettings
    policy_text: str
    intents: dict[str, Intent]
    out_of_scope: list[str]
    folder: Path

    @property
    def id(self) -> str:
        return self.settings.id

    def training_data(self) -> dict[str, list[str]]:
        """What the matcher learns from: examples per intent, plus the
        out-of-scope examples it must learn to refuse."""
        data = {name: intent.examples for name, intent in self.intents.items()}
        if self.out_of_scope:
            data[OUT_OF_SCOPE] = self.out_of_scope
        return data

    def citation(self, section: str | None) -> str | None:
        if not section:
            return None
        title = self.settings.policy.sections.get(section)
        name = self.settings.policy.title
        return f"{name}, section {section}" + (f" ({title})" if title else "")


def _yaml() -> YAML:
    return YAML(typ="rt")


def _load_yaml(path: Path):
    try:
        with path.open(encoding="utf-8") as f:
            return _yaml().load(f)
    except YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise IntentFileError(path, mark.line + 1 if mark else None, f"not valid YAML: {e}") from e


def _validation_message(path: Path, data, error: ValidationError) -> IntentFileError:
    first = error.errors()[0]
    loc = first["loc"]
    line = None
    try:  # ruamel's round-trip loader remembers where each key sits
        line = data.lc.key(loc[0])[0] + 1
    except Exception:
        pass
    where = ".".join(str(p) for p in loc)
    return IntentFileError(path, line, f"{where}: {first['msg']}")


def load_intent(path: Path) -> Intent:
    data = _load_yaml(path)
    try:
        model = IntentModel.model_validate(data)
    except ValidationError as e:
        raise _validation_message(path, data, e) from e
    if model.name != OUT_OF_SCOPE and not (model.answer or "").strip():
        raise IntentFileError(path, None, "answer: an intent needs an answer")
    lines: list[int] = []
    try:
        seq = data["examples"]
        lines = [seq.lc.item(i)[0] + 1 for i in range(len(seq))]
    except Exception:
        pass
    return Intent(name=model.name, policy_section=model.policy_section, action=model.action,
                  examples=[e.strip() for e in model.examples], answer=(model.answer or "").strip(),
                  quick_replies=model.quick_replies, path=path, example_lines=lines,
                  offer_handoff=model.offer_handoff)


def load_brand(folder: Path) -> Brand:
    settings_path = folder / "brand.yaml"
    data = _load_yaml(settings_path)
    try:
        settings = BrandSettings.model_validate(data)
    except ValidationError as e:
        raise _validation_message(settings_path, data, e) from e
    policy_text = (folder / settings.policy.file).read_text(encoding="utf-8")
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
    return Brand(settings=settings, policy_text=policy_text, intents=intents, out_of_scope=out_of_scope,
                 folder=folder)


def load_brands(intents_dir: Path) -> dict[str, Brand]:
    brands = {}
    for folder in sorted(p for p in intents_dir.iterdir() if (p / "brand.yaml").exists()):
        brand = load_brand(folder)
        brands[brand.id] = brand
    return brands
