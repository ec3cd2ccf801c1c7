"""Intent matching and entity extraction. Pure functions of text and training
examples: this package imports nothing from the domain, the store or the web.

The one interface the rest of the program uses is `Matcher.parse(text)`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

OUT_OF_SCOPE = "out_of_scope"
# The shared out-of-scope examples (intents/out_of_scope/): refused like the
# brand's own, but learnt only by the out-of-scope detector, not by the intent
# classifier, whose out_of_scope label they would turn into "anything asked in
# ordinary words" (training.py).
SHARED_OUT_OF_SCOPE = "out_of_scope:shared"


def is_out_of_scope(label: str | None) -> bool:
    return label in (OUT_OF_SCOPE, SHARED_OUT_OF_SCOPE)


@dataclass(frozen=True)
class Entity:
    entity: str
    value: str
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        return {"entity": self.entity, "value": self.value, "start": self.start, "end": self.end}


@dataclass
class Parse:
    text: str
    intent: str | None  # None: nothing cleared the threshold, the bot falls back
    confidence: float  # of the top-ranked intent, even when intent is None
    ranking: list[tuple[str, float]] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)

    @property
    def top(self) -> str | None:
        return self.ranking[0][0] if self.ranking else None

    def to_rasa(self, ranking_size: int = 10) -> dict[str, Any]:
        """The shape of Rasa's /model/parse answer."""
        return {
            "text": self.text,
            "intent": {"name": self.intent, "confidence": round(self.confidence, 4)},
            "intent_ranking": [{"name": n, "confidence": round(c, 4)} for n, c in self.ranking[:ranking_size]],
            "entities": [e.to_dict() for e in self.entities],
        }


class Encoder(Protocol):
    """Sentence embeddings (semantic.SentenceEncoder): unit vectors, one row per text."""

    name: str

    def encode(self, texts: list[str]) -> Any:
        """An array of shape (len(texts), dims), each row L2-normalised."""


class Matcher(Protocol):
    def parse(self, text: str) -> Parse:
        """Rank the intents for one message and decide whether the top one is confident."""


def build_matcher(
    training: dict[str, list[str]],
    *,
    threshold: float,
    margin: float,
    kind: str = "hybrid",
    cache_dir: Path | None = None,
    use_cache: bool = True,
    encoder: Encoder | None = None,
    trainer: Any = None,
) -> Matcher:
    """Train a matcher on examples per intent (`out_of_scope` holds negatives).

    The hybrid matcher caches what it learnt in `cache_dir` (default: the
    CHATBOT_NLU_CACHE_DIR environment variable, else ~/.cache/chatbot/nlu),
    keyed by a hash of the examples and of the matcher's code. With an
    `encoder` (semantic.load_encoder()), uncertain messages get the
    embedding's second opinion. A `training.Trainer` kept between calls
    remembers the examples' embeddings, so a retraining after an edit
    encodes only the new examples."""
    if kind == "fuzzy":
        from .fuzzy import FuzzyMatcher

        return FuzzyMatcher(training)
    from .hybrid import HybridMatcher
    from .training import Trainer

    trainer = trainer or Trainer(cache_dir, use_cache, encoder)
    model = trainer.model(training)
    encoder = trainer.encoder
    return HybridMatcher(model, threshold=threshold, margin=margin, encoder=encoder)
