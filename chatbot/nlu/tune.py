"""Fitting the one constant training does not fit per brand: the softmax
temperature of the SVM's scores (hybrid.TEMPERATURE), by cross-validation
over every brand's examples. Offline, for developers:

    python -m chatbot eval FILE.yaml --fit-temperature

prints the temperature with the lowest cross-validated negative
log-likelihood; copy it into hybrid.py. Everything else the decision needs
(the confidence models) is fitted per brand whenever a model is trained
(training.fit)."""

from __future__ import annotations

import math

import numpy as np

from .training import OutOfFold, out_of_fold


def fit_temperature(trainings: list[dict[str, list[str]]]) -> float:
    """The temperature that best predicts each example's own label, out of fold."""
    rows: list[OutOfFold] = [row for training in trainings for row in out_of_fold(training)]
    scored = []
    for row in rows:
        matcher = row.matcher
        if row.label in matcher.labels:
            scored.append(
                (
                    matcher.scores(matcher.analyzer.words(" ".join(row.lexical.words)))[:-1],
                    matcher.labels.index(row.label),
                )
            )
    best: tuple[float, float] | None = None
    for t in np.arange(1.0, 20.5, 0.5):
        nll = 0.0
        for s, y in scored:
            z = (s - s.max()) * t
            nll -= z[y] - math.log(float(np.exp(z).sum()))
        if best is None or nll < best[0]:
            best = (nll, float(t))
    return best[1] if best else 5.0
