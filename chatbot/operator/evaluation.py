"""Labelled sets (the `eval` command's YAML format) and evaluation runs of
the live matchers, kept so the operator can compare with the previous run."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ..auth import User
from ..clock import Clock, isoformat
from ..errors import InvalidPayload, NotFound
from ..knowledge import Knowledge
from ..nlu import build_matcher
from ..nlu.evaluate import Item, Outcome, Scores, calibration_error, cross_validated, reliability, run
from ..store import Store


def load_labelled(path: Path) -> list[Item]:
    """Items of a labelled YAML set: a list of {brand, text, intent}."""
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or []
    except YAMLError as e:
        raise InvalidPayload(f"{path.name} is not valid YAML: {e}") from None
    if not isinstance(data, list) or not all(
        isinstance(d, dict) and {"brand", "text", "intent"} <= set(d) for d in data
    ):
        raise InvalidPayload(f"{path.name} is not a labelled set (a list of brand, text, intent)")
    return [Item(str(d["brand"]), str(d["text"]), str(d["intent"])) for d in data]


def labelled_sets(folder: Path) -> dict[str, Path]:
    sets = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            load_labelled(path)
        except InvalidPayload:
            continue
        sets[path.stem] = path
    return sets


def _curve(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    return [
        {"low": b.low, "high": b.high, "count": b.count, "confidence": b.confidence, "right": b.right}
        for b in reliability(outcomes)
    ]


def summary(scores: Scores, baseline: Scores | None = None) -> dict[str, Any]:
    result = {
        "items": len(scores.outcomes),
        "accuracy": scores.accuracy,
        "oos_rejection": scores.oos_rejection,
        "overall": scores.overall,
        "latency_ms": scores.latency_ms(),
        "per_intent": scores.per_intent(),
        "confusions": [{"label": a, "predicted": b, "count": n} for a, b, n in scores.confusions()],
        "misses": [
            {
                "text": o.item.text,
                "label": o.item.intent,
                "predicted": o.predicted,
                "confidence": round(o.confidence, 3),
            }
            for o in scores.errors()[:50]
        ],
    }
    result["calibration_error"] = calibration_error(scores.outcomes)
    result["reliability"] = _curve(scores.outcomes)
    if baseline is not None:
        result["baseline"] = {"accuracy": baseline.accuracy, "oos_rejection": baseline.oos_rejection}
    return result


class Evaluations:
    def __init__(self, knowledge: Knowledge, store: Store, clock: Clock, folder: Path) -> None:
        self.knowledge = knowledge
        self.store = store
        self.clock = clock
        self.folder = folder

    def sets(self) -> list[str]:
        return list(labelled_sets(self.folder))

    def items(self) -> list[Item]:
        """Every labelled message the repo keeps, for accuracy checks on save."""
        return [i for path in labelled_sets(self.folder).values() for i in load_labelled(path)]

    async def run(self, user: User, brand_id: str, set_name: str) -> dict[str, Any]:
        brand = self.knowledge.brand(brand_id)
        path = labelled_sets(self.folder).get(set_name)
        if path is None:
            raise NotFound(f"no labelled set {set_name!r}")
        items = [i for i in load_labelled(path) if i.brand == brand_id]
        if not items:
            raise InvalidPayload(f"{set_name} has no messages for {brand_id}")

        def evaluate() -> dict[str, Any]:
            matcher = self.knowledge.matcher(brand_id)
            scores = run(items, {brand_id: matcher})[brand_id]
            fuzzy = build_matcher(brand.training_data(), threshold=0, margin=0, kind="fuzzy")
            result = summary(scores, run(items, {brand_id: fuzzy})[brand_id])
            result["cross_validated"] = self.cross_validated(brand_id)
            return result

        result = await asyncio.to_thread(evaluate)
        previous = next((r for r in await self.store.eval_runs(brand_id) if r["set_name"] == set_name), None)
        run_id = await self.store.add_eval_run(
            {
                "brand": brand_id,
                "set_name": set_name,
                "at": isoformat(self.clock.now()),
                "author_id": user.id,
                "accuracy": result["accuracy"],
                "oos_rejection": result["oos_rejection"],
                "report": json.dumps(result),
            }
        )
        result["run_id"] = run_id
        result["previous"] = (
            {"accuracy": previous["accuracy"], "oos_rejection": previous["oos_rejection"], "at": previous["at"]}
            if previous
            else None
        )
        return result

    def cross_validated(self, brand_id: str) -> dict[str, Any] | None:
        """The brand's own examples, each read by a model trained without it, at
        the brand's threshold: what predicts messages nobody has labelled yet."""
        nlu = self.knowledge.brand(brand_id).settings.nlu
        model = getattr(self.knowledge.matcher(brand_id), "model", None)
        if model is None or not len(model.oof_top):
            return None
        cv = cross_validated(brand_id, model, nlu.threshold, nlu.margin)
        return {
            "items": len(cv.outcomes),
            "accuracy": cv.accuracy,
            "oos_rejection": cv.oos_rejection,
            "calibration_error": calibration_error(cv.outcomes),
            "reliability": _curve(cv.outcomes),
        }

    async def history(self, brand_id: str) -> list[dict[str, Any]]:
        return [
            {k: r[k] for k in ("id", "set_name", "at", "accuracy", "oos_rejection")}
            for r in await self.store.eval_runs(brand_id)
        ]

    async def live_accuracy(self, brand_id: str) -> dict[str, dict[str, Any]]:
        """Per intent: recall and F1 from the latest run of each set."""
        latest = next(iter(await self.store.eval_runs(brand_id, limit=1)), None)
        if not latest:
            return {}
        report = json.loads(latest["report"])
        return {
            name: {"recall": r["recall"], "f1": r["f1-score"], "support": r["support"], "set": latest["set_name"]}
            for name, r in report["per_intent"].items()
        }
