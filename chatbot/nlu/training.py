"""Training a brand's matcher: the n-gram model, then k-fold cross-validation
over the brand's own examples to fit what the decision needs and to tell how
well the matcher generalises.

Cross-validation, not the training examples and not a fixed held-out split,
predicts how the matcher does on messages it has never seen (an outside
evaluation showed `dev.yaml` reads 0.96-1.00 where unseen text reads
0.81-0.91, and the cross-validated figures were close to the latter). So
every example is read once by a model trained without it, and those
out-of-fold readings fit, per brand:
- the confidence model (hybrid.FEATURES, and SEMANTIC_FEATURES when an
  encoder is installed): a logistic model of "the top intent is the right
  one", out-of-scope examples never right, so a confidence of 0.8 is right
  about eight times in ten and one threshold per brand means what it says;
- the cross-validated figures `python -m chatbot eval` and the operator's
  evaluation page show (the out-of-fold decisions are kept in the model).

The learnt arrays are cached on disk keyed by a hash of the examples, the
settings, the encoder and this package's code, so a restart with unchanged
intents loads them instead of training (no scikit-learn import)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import OUT_OF_SCOPE, Encoder, is_out_of_scope
from .hybrid import SURE, HybridMatcher, Lexical, Semantic, _sigmoid
from .model import CHAR_MIN_DF, CHAR_WEIGHT, SVM_C, Model, names_a_record, semantic_words, train_lexical

log = logging.getLogger(__name__)

FOLDS = 5
SEMANTIC_C = 10.0  # the embedding classifier's inverse regularisation
CONFIDENCE_C = 10.0  # the confidence model's inverse regularisation
OUT_OF_SCOPE_SHARE = 0.3  # of the messages the confidence is calibrated for (see _logistic)
MIN_EXAMPLES_TO_FIT = 60  # fewer (a toy brand, a test): keep the defaults
CACHE_ENV = "CHATBOT_NLU_CACHE_DIR"
CACHE_KEEP = 16
_CODE_FILES = ("normalize.py", "lexicon.py", "features.py", "model.py", "hybrid.py", "training.py")


def default_cache_dir() -> Path | None:
    """CHATBOT_NLU_CACHE_DIR, or ~/.cache/chatbot/nlu; "off" disables the cache."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in {"", "off", "none", "0"} else Path(value).expanduser()
    try:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    except RuntimeError:  # no home directory: no cache
        return None
    return Path(base) / "chatbot" / "nlu"


def _code_version() -> str:
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in _CODE_FILES:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def training_key(training: dict[str, list[str]], encoder: Encoder | None = None) -> str:
    """Changes whenever an example, a setting, the encoder or this package's code changes."""
    payload = json.dumps(
        {
            "data": {k: list(v) for k, v in sorted(training.items())},
            "settings": [SVM_C, CHAR_MIN_DF, CHAR_WEIGHT, FOLDS, SEMANTIC_C, OUT_OF_SCOPE_SHARE],
            "encoder": encoder.name if encoder is not None else None,
            "code": _code_version(),
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def fold_of(label: str, example: str, k: int = FOLDS) -> int:
    """An example's fold, from its own text: adding or editing examples leaves
    every other example in its fold. (A shuffled split moved about a hundred
    cltiktok examples between right and wrong whenever three were added, so
    the cross-validation could not tell an edit from a reshuffle.)"""
    return zlib.crc32(f"{label}\n{example}".encode()) % k


def examples_in_order(training: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(label, example) in the model's order (labels sorted, examples as written)."""
    return [(label, example) for label in sorted(training) for example in training[label]]


@dataclass
class OutOfFold:
    """One example as read by a model that never saw it."""

    label: str
    matcher: HybridMatcher
    lexical: Lexical
    semantic: Semantic | None


def _embed(model: Model, vectors: dict[str, np.ndarray], encoder: Encoder | None, start: Model | None = None) -> Model:
    """The examples' embeddings, and a logistic regression of their labels on
    them; a fold's starts from the whole model's (`start`), which halves its
    iterations and lands on the same optimum (the loss is convex)."""
    if encoder is None:
        return model
    from sklearn.linear_model import LogisticRegression

    rows = np.stack([vectors[text] for text in model.example_semantic.tolist()])
    classifier = LogisticRegression(C=SEMANTIC_C, max_iter=1000)
    same_labels = start is not None and start.labels.tolist() == model.labels.tolist()
    if start is not None and same_labels and len(model.labels) > 2 and start.semantic_coef.shape[0] == rows.shape[1]:
        classifier.set_params(warm_start=True)
        classifier.coef_ = start.semantic_coef.T.astype(np.float64)
        classifier.intercept_ = start.semantic_intercept.astype(np.float64)
    classifier.fit(rows, model.example_labels)
    coef = np.ascontiguousarray(classifier.coef_.T, dtype=np.float32)
    intercept = classifier.intercept_.astype(np.float32)
    if coef.shape[1] == 1:  # two labels: one column
        coef, intercept = np.hstack([-coef, coef]), np.array([-intercept[0], intercept[0]], dtype=np.float32)
    return model.with_fitted(embeddings=rows.astype(np.float16), semantic_coef=coef, semantic_intercept=intercept)


def out_of_fold(
    training: dict[str, list[str]],
    encoder: Encoder | None = None,
    vectors: dict[str, np.ndarray] | None = None,
    k: int = FOLDS,
    whole: Model | None = None,
) -> list[OutOfFold]:
    """Every example read by the fold model trained without it, in model order."""
    vectors = vectors if vectors is not None else _vectors(training, encoder)
    items = examples_in_order(training)
    intents = sorted(label for label in training if not is_out_of_scope(label))
    readings: dict[int, OutOfFold] = {}
    for f in range(k):
        fold_train: dict[str, list[str]] = {}
        for label, example in items:
            if fold_of(label, example, k) != f:
                fold_train.setdefault(label, []).append(example)
        matcher = HybridMatcher(_embed(train_lexical(fold_train), vectors, encoder, whole), encoder=encoder)
        matcher.intent_slots = intents
        for i, (label, example) in enumerate(items):
            if fold_of(label, example, k) == f:
                asked = encoder is not None and not names_a_record(example)  # as parse() asks
                vector = vectors.get(semantic_words(example)) if asked else None
                readings[i] = OutOfFold(
                    OUT_OF_SCOPE if is_out_of_scope(label) else label,
                    matcher,
                    matcher.lexical(example),
                    matcher.semantic_of(vector.astype(np.float32)) if vector is not None else None,
                )
    return [readings[i] for i in range(len(items))]


def _vectors(
    training: dict[str, list[str]], encoder: Encoder | None, known: dict[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """Every example's embedding; `known` ones (from an earlier training) are not encoded again."""
    if encoder is None:
        return {}
    known = known if known is not None else {}
    texts = sorted({semantic_words(example) for _, example in examples_in_order(training)})
    missing = [t for t in texts if t not in known]
    if missing:
        known.update(zip(missing, np.asarray(encoder.encode(missing), dtype=np.float32), strict=True))
    return {t: known[t] for t in texts}


def _logistic(X: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Bias and weights of a logistic model of y (X's first column is the bias)."""
    from sklearn.linear_model import LogisticRegression

    if y.all() or not y.any():
        return np.zeros(0)
    model = LogisticRegression(C=CONFIDENCE_C, max_iter=1000).fit(X[:, 1:], y, sample_weight=weights)
    return np.concatenate([model.intercept_, model.coef_[0]])


def _prior_weights(rows: list[OutOfFold]) -> dict[bool, float]:
    """Row weights (by out of scope or not) that make the out-of-scope rows
    OUT_OF_SCOPE_SHARE of the whole: the examples hold far more of them than
    a day's messages do, and a probability of being right is only calibrated
    for the mix it is used on. The same weights serve any subset of the rows."""
    outside = _outside(rows)
    n_out = max(1, int(outside.sum()))
    n_in = max(1, len(rows) - n_out)
    return {True: OUT_OF_SCOPE_SHARE * len(rows) / n_out, False: (1 - OUT_OF_SCOPE_SHARE) * len(rows) / n_in}


def _outside(rows: list[OutOfFold]) -> np.ndarray:
    return np.array([r.label == OUT_OF_SCOPE for r in rows])


def _right(row: OutOfFold, conditional: np.ndarray) -> bool:
    right: bool = row.matcher.in_scope_names[int(np.argmax(conditional))] == row.label
    return right


def fit_confidence(rows: list[OutOfFold]) -> tuple[np.ndarray, np.ndarray]:
    """The two confidence models: the n-grams' alone (fitted on every
    example) and with the embedding (fitted on the examples the n-grams are
    not sure of, since those are the ones it will read)."""
    prior = _prior_weights(rows)
    lexical = [(r, r.matcher.distribution(r.lexical, None)) for r in rows]
    X = np.array([r.matcher.features(r.lexical, None, c) for r, c in lexical])
    lexical_weights = _logistic(
        X, np.array([_right(r, c) for r, c in lexical]), np.array([prior[r.label == OUT_OF_SCOPE] for r in rows])
    )
    read = [r for r in rows if r.semantic is not None]
    if not len(lexical_weights) or not read:
        return lexical_weights, np.zeros(0)
    unsure = [
        r
        for r, x in zip(rows, X, strict=True)
        if r.semantic is not None and _sigmoid(float(lexical_weights @ x)) < SURE
    ]
    if len(unsure) < MIN_EXAMPLES_TO_FIT:
        unsure = read
    blended = [(r, r.matcher.distribution(r.lexical, r.semantic)) for r in unsure]
    X = np.array([r.matcher.features(r.lexical, r.semantic, c) for r, c in blended])
    return lexical_weights, _logistic(
        X, np.array([_right(r, c) for r, c in blended]), np.array([prior[r.label == OUT_OF_SCOPE] for r in unsure])
    )


def fit(
    training: dict[str, list[str]], encoder: Encoder | None = None, known: dict[str, np.ndarray] | None = None
) -> Model:
    """The n-gram model, with embeddings, the confidence models and the
    out-of-fold decisions fitted by cross-validation (scikit-learn is
    imported here, and only when training)."""
    vectors = _vectors(training, encoder, known)
    model = _embed(train_lexical(training), vectors, encoder)
    if len(examples_in_order(training)) < MIN_EXAMPLES_TO_FIT or not any(map(is_out_of_scope, training)):
        return model
    rows = out_of_fold(training, encoder, vectors, whole=model)
    lexical_weights, semantic_weights = fit_confidence(rows)
    if not len(lexical_weights):
        return model
    readings = [r.matcher.read(r.lexical, r.semantic, lexical_weights, semantic_weights) for r in rows]
    labels = model.labels.tolist()
    tops = [int(np.argmax(x.conditional)) for x in readings]
    return model.with_fitted(
        lexical_weights=lexical_weights,
        semantic_weights=semantic_weights,
        oof_top=np.array(
            [labels.index(r.matcher.in_scope_names[t]) for r, t in zip(rows, tops, strict=True)], dtype=np.int64
        ),
        oof_confidence=np.array([x.right for x in readings]),
        oof_margin=np.array([_lead(x.conditional) for x in readings]),
    )


def _lead(conditional: np.ndarray) -> float:
    ordered = np.sort(conditional)
    return float(ordered[-1] - (ordered[-2] if len(ordered) > 1 else 0.0))


class Trainer:
    """Trains or loads brands' models; one at a time per trainer, since two
    trainings at once only share the CPU (the app holds one)."""

    def __init__(
        self,
        cache_dir: Path | None = None,
        use_cache: bool = True,
        encoder: Encoder | None = None,
        vectors: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.cache_dir = default_cache_dir() if cache_dir is None and use_cache else cache_dir
        self.use_cache = use_cache
        self.encoder = encoder
        self._lock = threading.Lock()
        # embeddings seen in models trained or loaded: an edit re-encodes only
        # what changed (a process may share one dict between its trainers)
        self._vectors: dict[str, np.ndarray] = vectors if vectors is not None else {}

    def _remember(self, model: Model) -> None:
        if model.embeddings.size:
            self._vectors.update(zip(model.example_raw.tolist(), model.embeddings.astype(np.float32), strict=True))

    def model(self, training: dict[str, list[str]]) -> Model:
        """The cached model for these examples, training (and caching) it if needed."""
        key = training_key(training, self.encoder)
        path = self.cache_dir / f"model-{key}.npz" if (self.use_cache and self.cache_dir) else None
        if path is not None and path.exists():
            try:
                model = Model.load(path)
                self._remember(model)
                with contextlib.suppress(OSError):
                    os.utime(path)  # recently used: kept by _prune
                return model
            except Exception:  # truncated or from another numpy: retrain
                log.warning("nlu cache %s unreadable, retraining", path)
        with self._lock:
            model = fit(training, self.encoder, self._vectors)
        if path is not None:
            try:
                model.save(path)
                _prune(path.parent)
            except OSError as e:  # a read-only home is no reason to fail
                log.warning("nlu cache not written to %s: %s", path, e)
        return model


def _prune(cache_dir: Path, keep: int = CACHE_KEEP) -> None:
    """Models of examples that changed since are never read again: keep the
    most recently used few (every brand's current one among them)."""
    files = sorted(cache_dir.glob("model-*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[keep:]:
        with contextlib.suppress(OSError):
            old.unlink()
