"""The matcher: a linear model over word and character n-grams, rapidfuzz for
typos and short fragments, and an explicit out-of-scope decision.

How it decides (docs/nlu.md has the figures and how to tune it):
1. normalise the text (case, punctuation, contractions, chat shorthand,
   record numbers → placeholders) and repair misspellings against the brand's
   own vocabulary (features.Speller: rapidfuzz, OSA distance, with cutoffs);
2. mark negated wishes ("I don't want to cancel, just ...") so their words
   stop counting for the wish, and flag other companies' names;
3. score every label (the intents and `out_of_scope`) with a linear SVM over
   TF-IDF word 1-2-grams and character 3-5-grams; a softmax with a fitted
   temperature turns the scores into probabilities;
4. for short fragments ("byee", "nop", "ya") and near-copies of an example,
   blend in the nearest training example (rapidfuzz ratio, score_cutoff);
5. estimate how likely the message is in scope at all, from the model's
   out_of_scope probability, the share of words the brand's in-scope examples
   never use, and another company's name (a small logistic model fitted by
   5-fold cross-validation over both brands' examples: IN_SCOPE_WEIGHTS);
6. confidence(intent) = P(intent | in scope), sharpened, and scaled down when
   P(in scope) is under IN_SCOPE_GATE; answer only when the top intent
   clears the brand's threshold and leads the runner-up by the margin,
   otherwise fall back.

Training needs scikit-learn (imported only then); the learnt arrays are
cached on disk keyed by a hash of the examples and of this package's code,
so a restart with unchanged intents loads them instead of training."""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import tempfile
import threading
from bisect import bisect_left, bisect_right
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

from . import OUT_OF_SCOPE, Parse
from .entities import extract
from .features import Analyzer, char_grams
from .lexicon import FUNCTION_WORDS
from .normalize import BREAK, PLACEHOLDERS, RECORD_PATTERNS

log = logging.getLogger(__name__)

# Model settings; changing any of them retrains (they are part of the cache key).
SVM_C = 0.5
TEMPERATURE = 5.0            # softmax(T × SVM score), fitted by cross-validation
CHAR_MIN_DF = 2
CHAR_WEIGHT = 1.0
# Short fragments ("ya", "nop", "byee"): nearest short example by rapidfuzz.
SHORT_WORDS = 2
SHORT_CUTOFF = 66.0
SHORT_WEIGHT = 0.4
# Longer messages: a near-copy of an example counts for its intent.
NEAR_CUTOFF = 90.0
NEAR_WEIGHT = 0.35
# P(in scope) = sigmoid(w · signals): intercept, P(out_of_scope) from the
# classifier, share of content words the brand's in-scope examples never use,
# how strongly another company is named. Fitted by `python -m chatbot.nlu.tune --fit`
# (5-fold cross-validation over both brands' examples).
IN_SCOPE_WEIGHTS = {"bias": 2.43, "p_oos": -6.1, "unknown": -4.51, "company": -3.8}

# confidence(intent) = P(intent | in scope) ** SHARPNESS (renormalised), times
# min(1, P(in scope) / IN_SCOPE_GATE) ** GATE_STEEPNESS: a message that is
# probably not ours cannot clear the threshold however clear its best intent.
SHARPNESS = 2.0
IN_SCOPE_GATE = 0.5
GATE_STEEPNESS = 3

CACHE_ENV = "CHATBOT_NLU_CACHE_DIR"
CACHE_KEEP = 16
_CODE_FILES = ("normalize.py", "lexicon.py", "features.py", "hybrid.py")


def default_cache_dir() -> Path | None:
    """CHATBOT_NLU_CACHE_DIR, or ~/.cache/chatbot/nlu; "off" disables the cache."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in {"", "off", "none", "0"} else Path(value).expanduser()
    try:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    except RuntimeError:                        # no home directory: no cache
        return None
    return Path(base) / "chatbot" / "nlu"


def _code_version() -> str:
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in _CODE_FILES:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def training_key(training: dict[str, list[str]]) -> str:
    """Changes whenever an example, a setting or this package's code changes."""
    payload = json.dumps({"data": {k: list(v) for k, v in sorted(training.items())},
                          "settings": [SVM_C, CHAR_MIN_DF, CHAR_WEIGHT], "code": _code_version()},
                         sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


class _Block:
    """One TF-IDF feature block: term → column, idf per column; rows L2-normalised."""

    def __init__(self, terms: list[str], idf: np.ndarray, offset: int = 0) -> None:
        self.terms = terms
        self.index = {t: i for i, t in enumerate(terms)}
        self.idf = idf
        self.offset = offset

    @classmethod
    def fit(cls, documents: list[list[str]], min_df: int = 1, offset: int = 0) -> _Block:
        df: Counter[str] = Counter()
        for grams in documents:
            df.update(set(grams))
        terms = sorted(t for t, c in df.items() if c >= min_df)
        n = len(documents)
        idf = np.array([math.log((1 + n) / (1 + df[t])) + 1 for t in terms])
        return cls(terms, idf, offset)

    def __len__(self) -> int:
        return len(self.terms)

    def vector(self, grams: list[str]) -> tuple[np.ndarray, np.ndarray]:
        index = self.index
        counts: dict[int, int] = {}
        for g in grams:
            i = index.get(g)
            if i is not None:
                counts[i] = counts.get(i, 0) + 1
        return self.weights(counts)

    def weights(self, counts: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Columns and L2-normalised weights (1 + log tf) * idf of counted columns."""
        if not counts:
            return np.empty(0, dtype=np.int64), np.empty(0)
        cols = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=float, count=len(counts))
        values = (1 + np.log(tf)) * self.idf[cols]
        return cols + self.offset, values / math.sqrt(float(values @ values))


class _WordGrams:
    """A block's columns of each word's character grams, remembered per word:
    what a message's character features come to, without building and
    hashing its hundred-odd grams each time. Customers use a few thousand
    words far more often than any other; the memory is emptied when it holds
    LIMIT words (a few MB), so a stream of gibberish cannot grow it."""

    LIMIT = 20_000

    def __init__(self, block: _Block) -> None:
        self.block = block
        self._columns: dict[str, tuple[int, ...]] = {}

    def vector(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        counts: dict[int, int] = {}
        for word in words:
            columns = self._columns.get(word)
            if columns is None:
                if len(self._columns) >= self.LIMIT:
                    self._columns.clear()
                index = self.block.index
                columns = self._columns[word] = tuple(
                    i for i in map(index.get, char_grams(word)) if i is not None)
            for i in columns:
                counts[i] = counts.get(i, 0) + 1
        return self.block.weights(counts)


class NearCopies:
    """The example closest to a message by `fuzz.ratio`, when at least `cutoff`.
    The ratio is 100 * (1 - indel distance / (a + b)) and the distance is at
    least |a - b|, so only examples of similar length can reach the cutoff:
    comparing just those gives the same answer as a scan of all of them (the
    first example wins a tie, as in `process.extractOne`), for a fraction of
    the work."""

    def __init__(self, texts: list[str], cutoff: float) -> None:
        self.order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        self.texts = [texts[i] for i in self.order]
        self.lengths = [len(t) for t in self.texts]
        self.cutoff = cutoff

    def best(self, query: str) -> tuple[int, float] | None:
        """(index into the texts given, score), or None below the cutoff."""
        s = self.cutoff / 100
        n = len(query)
        lo = bisect_left(self.lengths, math.floor(n * s / (2 - s)))
        hi = bisect_right(self.lengths, math.ceil(n * (2 - s) / s))
        found = process.extract(query, self.texts[lo:hi], scorer=fuzz.ratio, score_cutoff=self.cutoff, limit=None)
        if not found:
            return None
        top = max(score for _, score, _ in found)
        return min(self.order[lo + i] for _, score, i in found if score == top), top


class Model:
    """What training produces: plain arrays, saved to and loaded from .npz."""

    ARRAYS = ("labels", "word_terms", "word_idf", "char_terms", "char_idf", "coef", "intercept",
              "vocab_words", "vocab_counts", "vocab_in_scope_counts", "example_texts", "example_raw",
              "example_labels")

    def __init__(self, **arrays: np.ndarray) -> None:
        for name in self.ARRAYS:
            setattr(self, name, arrays[name])

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **{name: getattr(self, name) for name in self.ARRAYS})
            os.replace(tmp, path)           # atomic: a reader sees the old file or the new one
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> Model:
        with np.load(path, allow_pickle=False) as data:
            return cls(**{name: data[name] for name in cls.ARRAYS})


def _analyzer_from(model: Model) -> Analyzer:
    words = model.vocab_words.tolist()
    vocabulary = Counter(dict(zip(words, model.vocab_counts.tolist())))
    in_scope = Counter({w: c for w, c in zip(words, model.vocab_in_scope_counts.tolist()) if c})
    return Analyzer(vocabulary, in_scope)


def train(training: dict[str, list[str]]) -> Model:
    """Fit the model (scikit-learn is imported here, and only here)."""
    from scipy.sparse import csr_matrix
    from sklearn.svm import LinearSVC

    labels = sorted(training)
    analyzer = Analyzer.fit(training, OUT_OF_SCOPE)
    texts, y = [], []
    for label in labels:
        for example in training[label]:
            texts.append(example)
            y.append(labels.index(label))
    features = [analyzer.features(analyzer.words(t)) for t in texts]
    words = _Block.fit([f[0] for f in features])
    chars = _Block.fit([f[1] for f in features], min_df=CHAR_MIN_DF, offset=len(words))
    rows, cols, vals = [], [], []
    for r, (wf, cf) in enumerate(features):
        c1, v1 = words.vector(wf)
        c2, v2 = chars.vector(cf)
        rows.extend([r] * (len(c1) + len(c2)))
        cols.extend(c1.tolist() + c2.tolist())
        vals.extend(v1.tolist() + (v2 * CHAR_WEIGHT).tolist())
    X = csr_matrix((vals, (rows, cols)), shape=(len(texts), len(words) + len(chars)))
    svm = LinearSVC(C=SVM_C, random_state=0)     # liblinear shuffles: the same examples, the same model
    svm.fit(X, y)
    coef = np.ascontiguousarray(svm.coef_.T, dtype=np.float64)
    if len(labels) == 2:     # liblinear answers one column for two classes
        coef = np.hstack([-coef, coef])
        intercept = np.array([-svm.intercept_[0], svm.intercept_[0]])
    else:
        intercept = svm.intercept_.astype(np.float64)

    normalized = [" ".join(w for w in analyzer.words(t) if w != BREAK) for t in texts]
    vocab_words = sorted(analyzer.vocabulary)
    return Model(
        labels=np.array(labels), word_terms=np.array(words.terms), word_idf=words.idf,
        char_terms=np.array(chars.terms), char_idf=chars.idf, coef=coef, intercept=intercept,
        vocab_words=np.array(vocab_words),
        vocab_counts=np.array([analyzer.vocabulary[w] for w in vocab_words], dtype=np.int64),
        vocab_in_scope_counts=np.array([analyzer.in_scope_counts[w] for w in vocab_words], dtype=np.int64),
        example_texts=np.array(normalized), example_raw=np.array([_raw(t) for t in texts]),
        example_labels=np.array(y, dtype=np.int64),
    )


_lock = threading.Lock()


def load_or_train(training: dict[str, list[str]], cache_dir: Path | None = None,
                  use_cache: bool = True) -> Model:
    """The cached model for these examples, training (and caching) it if needed."""
    cache_dir = default_cache_dir() if cache_dir is None and use_cache else cache_dir
    path = cache_dir / f"model-{training_key(training)}.npz" if (use_cache and cache_dir) else None
    if path is not None and path.exists():
        try:
            model = Model.load(path)
            with contextlib.suppress(OSError):
                os.utime(path)                  # recently used: kept by _prune
            return model
        except Exception:                       # truncated or from another numpy: retrain
            log.warning("nlu cache %s unreadable, retraining", path)
    with _lock:
        model = train(training)
    if path is not None:
        try:
            model.save(path)
            _prune(path.parent)
        except OSError as e:                    # a read-only home is no reason to fail
            log.warning("nlu cache not written to %s: %s", path, e)
    return model


def _prune(cache_dir: Path, keep: int = CACHE_KEEP) -> None:
    """Models of examples that changed since are never read again: keep the
    most recently used few (every brand's current one among them)."""
    files = sorted(cache_dir.glob("model-*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[keep:]:
        with contextlib.suppress(OSError):
            old.unlink()


_RAW = re.compile(r"[a-z0-9]+")


def _raw(text: str) -> str:
    """The words as typed, lower-cased, without record numbers: 'Nope!! CT-100234' → 'nope'."""
    text = text.lower()
    for pattern, _ in RECORD_PATTERNS:
        text = pattern.sub(" ", text)
    return " ".join(_RAW.findall(text))


def _without_placeholders(normalized: str) -> str:
    return " ".join(w for w in normalized.split() if w not in PLACEHOLDERS)


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-max(-30.0, min(30.0, x))))


class HybridMatcher:
    def __init__(self, training: dict[str, list[str]], *, threshold: float = 0.5, margin: float = 0.05,
                 cache_dir: Path | None = None, use_cache: bool = True, model: Model | None = None) -> None:
        self.threshold = threshold
        self.margin = margin
        model = model or load_or_train(training, cache_dir, use_cache)
        self.model = model
        self.labels: list[str] = model.labels.tolist()
        self.oos = self.labels.index(OUT_OF_SCOPE) if OUT_OF_SCOPE in self.labels else -1
        in_scope = [i for i in range(len(self.labels)) if i != self.oos]
        self.in_scope_columns = np.array(in_scope, dtype=np.int64)
        self.in_scope_names = [self.labels[i] for i in in_scope]
        self.analyzer = _analyzer_from(model)
        self.words = _Block(model.word_terms.tolist(), model.word_idf)
        self.chars = _Block(model.char_terms.tolist(), model.char_idf, offset=len(self.words))
        self.char_grams = _WordGrams(self.chars)
        self.coef = model.coef
        self.intercept = model.intercept
        self.examples: list[str] = model.example_texts.tolist()
        self.example_labels: list[int] = model.example_labels.tolist()
        self.near_copies = NearCopies(self.examples, NEAR_CUTOFF)
        # Short examples as normalised ("nope" → "no") and as typed ("nope"):
        # a fragment's typo is closer to what people type than to either alone.
        # Record numbers are left out: "what about TT-2002" is not "no, not TT-2003".
        short: dict[str, int] = {}
        for forms in ([_without_placeholders(t) for t in self.examples], model.example_raw.tolist()):
            for text, label in zip(forms, self.example_labels):
                if 0 < len(text.split()) <= SHORT_WORDS + 1:
                    short.setdefault(text, label)
        self.short_examples = list(short)
        self.short_labels = list(short.values())

    # -- the pieces ----------------------------------------------------------------

    def scores(self, words: list[str]) -> np.ndarray:
        """The linear model's score of each label for analysed words."""
        word_feats, spelt = self.analyzer.feature_words(words)
        c1, v1 = self.words.vector(word_feats)
        c2, v2 = self.char_grams.vector(spelt)
        scores = self.intercept.copy()
        if len(c1) or len(c2):      # one gather of the rows both blocks use
            scores += np.concatenate((v1, v2 * CHAR_WEIGHT)) @ self.coef[np.concatenate((c1, c2))]
        return scores

    def signals(self, text: str) -> dict[str, Any]:
        """Everything the decision looks at, for one message (also for tuning)."""
        words = self.analyzer.words(text)
        plain = [w for w in words if w != BREAK]
        scores = self.scores(words)
        z = (scores - scores.max()) * TEMPERATURE
        probs = np.exp(z)
        probs /= probs.sum()

        query = " ".join(plain)
        close_to_in_scope = False       # a fragment that reads like an in-scope example
        if plain and len(plain) <= SHORT_WORDS:
            short = _without_placeholders(query)
            hit = process.extractOne(short, self.short_examples, scorer=fuzz.ratio,
                                     score_cutoff=SHORT_CUTOFF) if short else None
            raw = _raw(text)
            if raw and raw != short:
                other = process.extractOne(raw, self.short_examples, scorer=fuzz.ratio,
                                           score_cutoff=hit[1] if hit else SHORT_CUTOFF)
                if other and (not hit or other[1] > hit[1]):
                    hit = other
            if hit:
                label = self.short_labels[hit[2]]
                blend = np.zeros_like(probs)
                blend[label] = hit[1] / 100
                probs = (1 - SHORT_WEIGHT) * probs + SHORT_WEIGHT * blend
                close_to_in_scope = label != self.oos
        elif plain:
            near = self.near_copies.best(query)
            if near:
                blend = np.zeros_like(probs)
                blend[self.example_labels[near[0]]] = near[1] / 100
                probs = (1 - NEAR_WEIGHT) * probs + NEAR_WEIGHT * blend
        probs /= probs.sum()

        content = [w for w in plain if w not in FUNCTION_WORDS and w not in PLACEHOLDERS and not w.isdigit()]
        unknown = [w for w in content if w not in self.analyzer.in_scope]
        return {
            "words": plain, "probs": probs,
            "p_oos": float(probs[self.oos]) if self.oos >= 0 else 0.0,
            # "nop", "byebye": unknown words, but spelt like a known fragment
            "unknown": len(unknown) / len(content) if content and not close_to_in_scope else 0.0,
            "company": self.analyzer.company(plain),
        }

    def in_scope_probability(self, s: dict[str, Any]) -> float:
        w = IN_SCOPE_WEIGHTS
        return _sigmoid(w["bias"] + w["p_oos"] * s["p_oos"] + w["unknown"] * s["unknown"]
                        + w["company"] * s["company"])

    def parse(self, text: str) -> Parse:
        s = self.signals(text)
        entities = extract(text)
        if not s["words"]:
            return Parse(text=text, intent=None, confidence=0.0, ranking=[], entities=entities)
        in_scope = s["probs"][self.in_scope_columns]
        names = self.in_scope_names
        total = float(in_scope.sum())
        conditional = in_scope / total if total > 0 else np.full_like(in_scope, 1 / len(in_scope))
        conditional = conditional ** SHARPNESS
        conditional /= conditional.sum()
        gate = min(1.0, self.in_scope_probability(s) / IN_SCOPE_GATE) ** GATE_STEEPNESS
        confidences = conditional * gate
        values = confidences.tolist()
        ranking = [(names[i], values[i]) for i in np.argsort(-confidences).tolist()]
        top, confidence = ranking[0]
        runner_up = ranking[1][1] if len(ranking) > 1 else 0.0
        confident = confidence >= self.threshold and confidence - runner_up >= self.margin
        return Parse(text=text, intent=top if confident else None, confidence=confidence,
                     ranking=ranking, entities=entities)
