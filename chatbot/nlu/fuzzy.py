"""The plain baseline: the nearest training example by rapidfuzz's WRatio.
Kept as the yardstick the evaluation prints beside the real matcher."""

from __future__ import annotations

from rapidfuzz import fuzz, process

from . import OUT_OF_SCOPE, Parse, is_out_of_scope
from .entities import extract
from .normalize import normalize


class FuzzyMatcher:
    def __init__(self, training: dict[str, list[str]], threshold: float = 0.8) -> None:
        self.threshold = threshold
        self.choices: list[str] = []
        self.labels: list[str] = []
        for intent, examples in training.items():
            for example in examples:
                self.choices.append(normalize(example))
                self.labels.append(OUT_OF_SCOPE if is_out_of_scope(intent) else intent)

    def parse(self, text: str) -> Parse:
        query = normalize(text)
        best: dict[str, float] = {}
        for _, score, index in process.extract(query, self.choices, scorer=fuzz.WRatio, limit=50):
            label = self.labels[index]
            best[label] = max(best.get(label, 0.0), score / 100)
        ranking = sorted(best.items(), key=lambda kv: -kv[1])
        top, confidence = ranking[0] if ranking else (None, 0.0)
        intent = top if top != OUT_OF_SCOPE and confidence >= self.threshold else None
        return Parse(
            text=text,
            intent=intent,
            confidence=confidence,
            ranking=[r for r in ranking if r[0] != OUT_OF_SCOPE],
            entities=extract(text),
        )
