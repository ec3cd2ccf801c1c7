"""Fitting the matcher's few constants by cross-validation over the intent
examples, and reporting how it generalises. Offline, for developers:

    python -m chatbot.nlu.tune [--intents DIR] [--folds 5] [--sets tests/data/dev.yaml ...]

prints the 5-fold cross-validated in-scope accuracy and OOS rejection per
brand, the fitted softmax temperature and in-scope weights (copy them into
hybrid.py: TEMPERATURE, IN_SCOPE_WEIGHTS), and a threshold sweep on the given
labelled sets. Nothing here runs when the bot serves."""
from __future__ import annotations

import argparse
import math
import zlib
from collections import defaultdict
from pathlib import Path

import numpy as np

from . import OUT_OF_SCOPE, hybrid
from .hybrid import HybridMatcher, train

SIGNALS = ("p_oos", "unknown", "company")


def fold_of(label: str, example: str, k: int) -> int:
    """An example's fold, from its own text: adding or editing examples leaves
    every other example in its fold. (A shuffled split moved about a hundred
    cltiktok examples between right and wrong whenever three were added, so
    the cross-validation could not tell an edit from a reshuffle.)"""
    return zlib.crc32(f"{label}\n{example}".encode("utf-8")) % k


def folds(training: dict[str, list[str]], k: int = 5):
    """(train, test) pairs: every example is tested once by a model that never saw it."""
    items = [(label, example) for label, examples in sorted(training.items()) for example in examples]
    for f in range(k):
        fold_train: dict[str, list[str]] = defaultdict(list)
        test = []
        for label, example in items:
            if fold_of(label, example, k) == f:
                test.append((label, example))
            else:
                fold_train[label].append(example)
        yield dict(fold_train), test


def out_of_fold(training: dict[str, list[str]], k: int = 5) -> list[tuple[str, str, HybridMatcher]]:
    rows = []
    for fold_train, test in folds(training, k):
        matcher = HybridMatcher(fold_train, model=train(fold_train))
        rows.extend((label, text, matcher) for label, text in test)
    return rows


def raw_scores(matcher: HybridMatcher, text: str) -> np.ndarray:
    return matcher.scores(matcher.analyzer.words(text))


def fit_temperature(rows) -> float:
    scored = [(raw_scores(m, t), m.labels.index(label)) for label, t, m in rows if label in m.labels]
    best = None
    for t in np.arange(1.0, 20.5, 0.5):
        nll = 0.0
        for s, y in scored:
            z = (s - s.max()) * t
            nll -= z[y] - math.log(np.exp(z).sum())
        if best is None or nll < best[0]:
            best = (nll, float(t))
    return best[1]


def fit_in_scope(rows) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression
    X = np.array([[m.signals(t)[k] for k in SIGNALS] for _, t, m in rows])
    y = np.array([label != OUT_OF_SCOPE for label, _, _ in rows], dtype=int)
    weights = np.where(y == 0, len(y) / (2 * max(1, (y == 0).sum())), len(y) / (2 * max(1, y.sum())))
    model = LogisticRegression(C=1.0).fit(X, y, sample_weight=weights)
    return {"bias": round(float(model.intercept_[0]), 2),
            **{k: round(float(c), 2) for k, c in zip(SIGNALS, model.coef_[0])}}


def decide(matcher: HybridMatcher, text: str) -> str:
    return matcher.parse(text).intent or OUT_OF_SCOPE


def figures(pairs: list[tuple[str, str]]) -> tuple[float, float]:
    ins = [(g, p) for g, p in pairs if g != OUT_OF_SCOPE]
    oos = [(g, p) for g, p in pairs if g == OUT_OF_SCOPE]
    return (sum(g == p for g, p in ins) / max(1, len(ins)), sum(p == OUT_OF_SCOPE for _, p in oos) / max(1, len(oos)))


def main(argv: list[str] | None = None) -> int:
    from ..brands import load_brands
    from ..settings import Settings

    parser = argparse.ArgumentParser(prog="python -m chatbot.nlu.tune")
    parser.add_argument("--intents", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--sets", type=Path, nargs="*", default=[])
    parser.add_argument("--fit", action="store_true", help="fit TEMPERATURE and IN_SCOPE_WEIGHTS first")
    args = parser.parse_args(argv)
    brands = load_brands(args.intents or Settings().intents_dir)
    rows: dict[str, list] = {b: out_of_fold(brand.training_data(), args.folds) for b, brand in brands.items()}
    everything = [r for rs in rows.values() for r in rs]
    if args.fit:
        hybrid.TEMPERATURE = fit_temperature(everything)
        print(f"TEMPERATURE = {hybrid.TEMPERATURE}")
        hybrid.IN_SCOPE_WEIGHTS = fit_in_scope(everything)
        print(f"IN_SCOPE_WEIGHTS = {hybrid.IN_SCOPE_WEIGHTS}")
    thresholds = [0.3, 0.4, 0.5, 0.6, 0.7]
    print(f"\n{args.folds}-fold cross-validation over the examples (in-scope accuracy / OOS rejection)")
    for b, rs in rows.items():
        brand = brands[b].settings.nlu
        line = []
        for thr in thresholds:
            pairs = []
            for label, text, m in rs:
                m.threshold, m.margin = thr, brand.margin
                pairs.append((label, decide(m, text)))
            acc, rej = figures(pairs)
            line.append(f"thr {thr}: {acc:.3f}/{rej:.3f}")
        print(f"  {b:<10} " + "  ".join(line))
    if args.sets:
        from ruamel.yaml import YAML
        matchers = {b: HybridMatcher(brand.training_data(), use_cache=False) for b, brand in brands.items()}
        for path in args.sets:
            items = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
            print(f"\n{path} (in-scope accuracy / OOS rejection)")
            for b, m in matchers.items():
                line = []
                for thr in thresholds:
                    m.threshold, m.margin = thr, brands[b].settings.nlu.margin
                    acc, rej = figures([(d["intent"], decide(m, d["text"])) for d in items if d["brand"] == b])
                    line.append(f"thr {thr}: {acc:.3f}/{rej:.3f}")
                print(f"  {b:<10} " + "  ".join(line))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
