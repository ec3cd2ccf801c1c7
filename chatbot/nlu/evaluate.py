"""Evaluation of a matcher on a labelled set, the way Rasa measures it:
accuracy, out-of-scope rejection, per-intent precision/recall/F1, the most
frequent confusions, and latency. Pure: give it matchers and items."""

from __future__ import annotations

import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from . import OUT_OF_SCOPE, Matcher


@dataclass(frozen=True)
class Item:
    brand: str
    text: str
    intent: str


@dataclass
class Outcome:
    item: Item
    predicted: str  # OUT_OF_SCOPE when the matcher fell back
    confidence: float
    seconds: float
    top: str | None = None  # the top-ranked intent, even when the matcher fell back

    @property
    def right(self) -> bool:
        """Whether the top intent is the labelled one (never, for an out-of-scope item):
        what a calibrated confidence is the probability of."""
        return self.top == self.item.intent


@dataclass
class Scores:
    """The headline figures of one matcher on one slice of the items."""

    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def in_scope(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.item.intent != OUT_OF_SCOPE]

    @property
    def out_of_scope(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.item.intent == OUT_OF_SCOPE]

    @property
    def accuracy(self) -> float:
        items = self.in_scope
        return sum(o.predicted == o.item.intent for o in items) / len(items) if items else 1.0

    @property
    def oos_rejection(self) -> float:
        items = self.out_of_scope
        return sum(o.predicted == OUT_OF_SCOPE for o in items) / len(items) if items else 1.0

    @property
    def overall(self) -> float:
        return sum(o.predicted == o.item.intent for o in self.outcomes) / len(self.outcomes) if self.outcomes else 1.0

    def latency_ms(self) -> dict[str, float]:
        times = sorted(o.seconds * 1000 for o in self.outcomes)
        if not times:
            return {}

        def pct(p: float) -> float:
            return times[min(len(times) - 1, int(round(p / 100 * (len(times) - 1))))]

        return {"p50": pct(50), "p95": pct(95), "p99": pct(99), "max": times[-1]}

    def per_intent(self) -> dict[str, dict[str, Any]]:
        """Rasa's intent_report.json entries: precision, recall, f1-score,
        support and confused_with, per label (out_of_scope included)."""
        labels = sorted({o.item.intent for o in self.outcomes} | {o.predicted for o in self.outcomes})
        report: dict[str, dict[str, Any]] = {}
        for label in labels:
            tp = sum(o.item.intent == label and o.predicted == label for o in self.outcomes)
            predicted = sum(o.predicted == label for o in self.outcomes)
            support = sum(o.item.intent == label for o in self.outcomes)
            precision = tp / predicted if predicted else 0.0
            recall = tp / support if support else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            confused = Counter(o.predicted for o in self.outcomes if o.item.intent == label and o.predicted != label)
            report[label] = {
                "precision": precision,
                "recall": recall,
                "f1-score": f1,
                "support": support,
                "confused_with": dict(confused.most_common(3)),
            }
        return report

    def confusions(self, top: int = 10) -> list[tuple[str, str, int]]:
        counts = Counter((o.item.intent, o.predicted) for o in self.outcomes if o.item.intent != o.predicted)
        return [(a, b, n) for (a, b), n in counts.most_common(top)]

    def errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.item.intent != o.predicted]


def run(
    items: Iterable[Item], matchers: dict[str, Matcher], progress: Callable[[int, int], None] | None = None
) -> dict[str, Scores]:
    """Parse every item with its brand's matcher; Scores per brand."""
    items = list(items)
    scores: dict[str, Scores] = defaultdict(Scores)
    for done, item in enumerate(items, start=1):
        matcher = matchers[item.brand]
        start = time.perf_counter()
        parse = matcher.parse(item.text)
        seconds = time.perf_counter() - start
        scores[item.brand].outcomes.append(
            Outcome(item, parse.intent or OUT_OF_SCOPE, parse.confidence, seconds, parse.top)
        )
        if progress:
            progress(done, len(items))
    return dict(scores)


def cross_validated(brand: str, model: Any, threshold: float, margin: float) -> Scores:
    """The brand's own examples as read out of fold (training.fit keeps each
    example's decision by a model trained without it), decided at this
    threshold and margin: the figures that predict unseen messages."""
    labels = model.labels.tolist()
    scores = Scores()
    for i, gold in enumerate(model.example_labels.tolist()):
        if i >= len(model.oof_top):
            break
        top, confidence = labels[int(model.oof_top[i])], float(model.oof_confidence[i])
        confident = confidence >= threshold and float(model.oof_margin[i]) >= margin
        item = Item(brand, str(model.example_raw[i]), labels[gold])
        scores.outcomes.append(Outcome(item, top if confident else OUT_OF_SCOPE, confidence, 0.0, top))
    return scores


@dataclass(frozen=True)
class Bin:
    low: float
    high: float
    count: int
    confidence: float  # mean reported confidence in the bin
    right: float  # share of the bin whose top intent was the labelled one


def reliability(outcomes: list[Outcome], bins: int = 10) -> list[Bin]:
    """The reliability curve: for calibrated confidences, `right` ≈ `confidence` in every bin."""
    curve = []
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        inside = [o for o in outcomes if low <= o.confidence < high or (b == bins - 1 and o.confidence == 1.0)]
        if inside:
            curve.append(
                Bin(
                    low,
                    high,
                    len(inside),
                    sum(o.confidence for o in inside) / len(inside),
                    sum(o.right for o in inside) / len(inside),
                )
            )
    return curve


def calibration_error(outcomes: list[Outcome], bins: int = 10) -> float:
    """Expected calibration error: the bins' |right - confidence|, weighted by their size."""
    total = len(outcomes) or 1
    return sum(b.count * abs(b.right - b.confidence) for b in reliability(outcomes, bins)) / total


def reliability_lines(title: str, outcomes: list[Outcome]) -> list[str]:
    """The reliability curve as text: per confidence bin, how often the top intent was right."""
    lines = [
        f"{title}: reliability (confidence bin: mean confidence -> share right, count); "
        f"calibration error {calibration_error(outcomes):.3f}"
    ]
    for b in reliability(outcomes):
        bar = "#" * round(b.right * 20)
        lines.append(f"  {b.low:.1f}-{b.high:.1f}: {b.confidence:.2f} -> {b.right:.2f} {bar:<20} {b.count:>5}")
    return lines


def sweep_lines(title: str, decide: Callable[[float], Scores], thresholds: Iterable[float]) -> list[str]:
    """In-scope accuracy / OOS rejection at each threshold: the trade-off one setting picks from."""
    cells = []
    for threshold in thresholds:
        s = decide(threshold)
        cells.append(f"{threshold:.2f}: {s.accuracy:.3f}/{s.oos_rejection:.3f}")
    return [f"{title}: " + "  ".join(cells)]


def rasa_report(scores: Scores) -> dict[str, Any]:
    """A report shaped like Rasa's intent_report.json."""
    per_intent = scores.per_intent()
    total = sum(v["support"] for v in per_intent.values()) or 1
    report: dict[str, Any] = dict(per_intent)
    report["accuracy"] = scores.overall
    for name, weight in (
        ("macro avg", lambda v: 1 / len(per_intent)),
        ("weighted avg", lambda v: v["support"] / total),
    ):
        report[name] = {
            k: sum(v[k] * weight(v) for v in per_intent.values()) for k in ("precision", "recall", "f1-score")
        }
        report[name]["support"] = total
    return report


def progress_bar(stream: TextIO = sys.stderr) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        if total < 50 or (done % 10 and done != total):
            return
        width = 30
        filled = int(width * done / total)
        stream.write(f"\r  [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done == total:
            stream.write("\n")
        stream.flush()

    return show
