"""What the matcher learns, as plain arrays: the TF-IDF blocks of word and
character n-grams, the linear SVM's weights, the vocabulary the speller and
the unknown-word share read, the examples for the nearest-example steps, and
what cross-validation fitted (the confidence models, each example's
out-of-fold decision). `train_lexical` fits the n-gram model;
`training.fit` adds the rest. Saved to and loaded from one .npz file."""

from __future__ import annotations

import math
import os
import re
import tempfile
from bisect import bisect_left, bisect_right
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

from . import OUT_OF_SCOPE, SHARED_OUT_OF_SCOPE, is_out_of_scope
from .features import Analyzer, char_grams
from .normalize import BREAK, PLACEHOLDERS, RECORD_PATTERNS

# Model settings; changing any of them retrains (they are part of the cache key).
SVM_C = 0.5
CHAR_MIN_DF = 2
CHAR_WEIGHT = 1.0


class Block:
    """One TF-IDF feature block: term → column, idf per column; rows L2-normalised."""

    def __init__(self, terms: list[str], idf: np.ndarray, offset: int = 0) -> None:
        self.terms = terms
        self.index = {t: i for i, t in enumerate(terms)}
        self.idf = idf
        self.offset = offset

    @classmethod
    def fit(cls, documents: list[list[str]], min_df: int = 1, offset: int = 0) -> Block:
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


class WordGrams:
    """A block's columns of each word's character grams, remembered per word:
    what a message's character features come to, without building and
    hashing its hundred-odd grams each time. Customers use a few thousand
    words far more often than any other; the memory is emptied when it holds
    LIMIT words (a few MB), so a stream of gibberish cannot grow it."""

    LIMIT = 20_000

    def __init__(self, block: Block) -> None:
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
                columns = self._columns[word] = tuple(i for i in map(index.get, char_grams(word)) if i is not None)
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

    ARRAYS = (
        "labels",
        "word_terms",
        "word_idf",
        "char_terms",
        "char_idf",
        "coef",
        "intercept",
        "detector_coef",
        "detector_intercept",
        "vocab_words",
        "vocab_counts",
        "vocab_in_scope_counts",
        "example_texts",
        "example_raw",
        "example_labels",
        "example_semantic",
        *(
            "embeddings",
            "semantic_coef",
            "semantic_intercept",
            "lexical_weights",
            "semantic_weights",
            "oof_top",
            "oof_confidence",
            "oof_margin",
        ),
    )
    # What cross-validation fits (training.fit); a model fresh from train_lexical
    # has these neutral values, so it works on its own (the folds use it so).
    FITTED: dict[str, np.ndarray] = {
        "embeddings": np.zeros((0, 0), dtype=np.float32),
        "semantic_coef": np.zeros((0, 0)),
        "semantic_intercept": np.zeros(0),
        "lexical_weights": np.zeros(0),
        "semantic_weights": np.zeros(0),
        "oof_top": np.zeros(0, dtype=np.int64),
        "oof_confidence": np.zeros(0),
        "oof_margin": np.zeros(0),
    }

    labels: np.ndarray
    word_terms: np.ndarray
    word_idf: np.ndarray
    char_terms: np.ndarray
    char_idf: np.ndarray
    coef: np.ndarray  # (features, labels): the intent classifier
    intercept: np.ndarray
    detector_coef: np.ndarray  # (features,): the out-of-scope detector, shared examples included
    detector_intercept: np.ndarray
    vocab_words: np.ndarray
    vocab_counts: np.ndarray
    vocab_in_scope_counts: np.ndarray
    example_texts: np.ndarray
    example_raw: np.ndarray
    example_labels: np.ndarray
    example_semantic: np.ndarray  # what the encoder reads of each example (semantic_words)
    embeddings: np.ndarray  # (examples, dims) float16 of example_raw, or (0, 0) without an encoder
    semantic_coef: np.ndarray  # (dims, labels): a logistic regression of the label on the embedding
    semantic_intercept: np.ndarray
    lexical_weights: np.ndarray  # the confidence model over hybrid.FEATURES (bias first)
    semantic_weights: np.ndarray  # ... over FEATURES + SEMANTIC_FEATURES, when embeddings exist
    oof_top: np.ndarray  # per example, out of fold: the top intent's label index,
    oof_confidence: np.ndarray  # its calibrated confidence,
    oof_margin: np.ndarray  # and its raw lead on the runner-up (for figures at any threshold, margin)

    def __init__(self, **arrays: np.ndarray) -> None:
        for name in self.ARRAYS:
            setattr(self, name, arrays[name] if name in arrays else self.FITTED[name].copy())

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **{name: getattr(self, name) for name in self.ARRAYS})
            os.replace(tmp, path)  # atomic: a reader sees the old file or the new one
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> Model:
        with np.load(path, allow_pickle=False) as data:
            return cls(**{name: data[name] for name in cls.ARRAYS})

    def with_fitted(self, **arrays: np.ndarray) -> Model:
        return Model(**{**{name: getattr(self, name) for name in self.ARRAYS}, **arrays})


def analyzer_from(model: Model) -> Analyzer:
    words = model.vocab_words.tolist()
    vocabulary = Counter(dict(zip(words, model.vocab_counts.tolist(), strict=True)))
    in_scope = Counter({w: c for w, c in zip(words, model.vocab_in_scope_counts.tolist(), strict=True) if c})
    return Analyzer(vocabulary, in_scope)


def train_lexical(training: dict[str, list[str]]) -> Model:
    """Fit the n-gram model (scikit-learn is imported here, and only here):
    the intent classifier over the intents and the brand's own out-of-scope
    examples, and the out-of-scope detector over everything, the shared
    out-of-scope examples included."""
    merged: dict[str, list[str]] = {}
    for key, examples in training.items():
        merged.setdefault(OUT_OF_SCOPE if is_out_of_scope(key) else key, []).extend(examples)
    labels = sorted(merged)
    analyzer = Analyzer.fit(merged, OUT_OF_SCOPE)
    texts, y, shared = [], [], []
    for key in sorted(training):  # the order training.examples_in_order gives
        for example in training[key]:
            texts.append(example)
            y.append(labels.index(OUT_OF_SCOPE if is_out_of_scope(key) else key))
            shared.append(key == SHARED_OUT_OF_SCOPE)
    said = [analyzer.words(t) for t in texts]  # the costliest step of a training: once per example
    words, chars, X = _features(analyzer, said)
    coef, intercept = _classifier(X, np.array(y), np.array(shared), labels)
    detector_coef, detector_intercept = _detector(X, y, labels)
    vocab_words = sorted(analyzer.vocabulary)
    return Model(
        labels=np.array(labels),
        word_terms=np.array(words.terms),
        word_idf=words.idf,
        char_terms=np.array(chars.terms),
        char_idf=chars.idf,
        coef=coef,
        intercept=intercept,
        detector_coef=detector_coef,
        detector_intercept=detector_intercept,
        vocab_words=np.array(vocab_words),
        vocab_counts=np.array([analyzer.vocabulary[w] for w in vocab_words], dtype=np.int64),
        vocab_in_scope_counts=np.array([analyzer.in_scope_counts[w] for w in vocab_words], dtype=np.int64),
        example_texts=np.array([" ".join(w for w in example if w != BREAK) for example in said]),
        example_raw=np.array([raw_words(t) for t in texts]),
        example_semantic=np.array([semantic_words(t) for t in texts]),
        example_labels=np.array(y, dtype=np.int64),
    )


def _classifier(X: Any, y: np.ndarray, shared: np.ndarray, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The intent classifier's weights: learnt without the shared out-of-scope
    examples (the detector reads those) unless they are all the out-of-scope
    examples there are."""
    from sklearn.svm import LinearSVC

    outside = y == labels.index(OUT_OF_SCOPE) if OUT_OF_SCOPE in labels else np.zeros(len(y), dtype=bool)
    learnt = ~shared if not shared[outside].all() else np.ones(len(y), dtype=bool)
    svm = LinearSVC(C=SVM_C, random_state=0)  # liblinear shuffles: seeded, the same examples give the same model
    svm.fit(X[learnt], y[learnt])
    coef = np.ascontiguousarray(svm.coef_.T, dtype=np.float64)
    if len(labels) == 2:  # liblinear answers one column for two classes
        return np.hstack([-coef, coef]), np.array([-svm.intercept_[0], svm.intercept_[0]])
    return coef, svm.intercept_.astype(np.float64)


def _features(analyzer: Analyzer, said: list[list[str]]) -> tuple[Block, Block, Any]:
    """The TF-IDF blocks and the examples' sparse feature matrix, from their analysed words."""
    from scipy.sparse import csr_matrix

    features = [analyzer.features(words) for words in said]
    words = Block.fit([f[0] for f in features])
    chars = Block.fit([f[1] for f in features], min_df=CHAR_MIN_DF, offset=len(words))
    rows, cols, vals = [], [], []
    for r, (wf, cf) in enumerate(features):
        c1, v1 = words.vector(wf)
        c2, v2 = chars.vector(cf)
        rows.extend([r] * (len(c1) + len(c2)))
        cols.extend(c1.tolist() + c2.tolist())
        vals.extend(v1.tolist() + (v2 * CHAR_WEIGHT).tolist())
    return words, chars, csr_matrix((vals, (rows, cols)), shape=(len(said), len(words) + len(chars)))


def _detector(X: Any, y: list[int], labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Out of scope or not, both sides weighted equally: a linear SVM's weights and bias."""
    from sklearn.svm import LinearSVC

    if OUT_OF_SCOPE not in labels:
        return np.zeros(X.shape[1]), np.zeros(1)
    outside = (np.array(y) == labels.index(OUT_OF_SCOPE)).astype(int)
    detector = LinearSVC(C=SVM_C, random_state=0, class_weight="balanced").fit(X, outside)
    return np.ascontiguousarray(detector.coef_[0], dtype=np.float64), detector.intercept_.astype(np.float64)


_RAW = re.compile(r"[a-z0-9]+")


def raw_words(text: str) -> str:
    """The words as typed, lower-cased, without record numbers: 'Nope!! CT-100234' → 'nope'."""
    text = text.lower()
    for pattern, _ in RECORD_PATTERNS:
        text = pattern.sub(" ", text)
    return " ".join(_RAW.findall(text))


_RECORD_WORDS = {
    "ordernumber": " order ",
    "purchasenumber": " purchase ",
    "refundnumber": " refund ",
    "withdrawalnumber": " withdrawal ",
    "emailaddress": " email ",
    "recordnumber": " order ",
    "moneyamount": " money ",
}


_RECORDS = {"ordernumber", "purchasenumber", "refundnumber", "withdrawalnumber", "recordnumber"}


def names_a_record(text: str) -> bool:
    """Does the message name one of the customer's records (CT-, TT-, RF-, WD-, #...)?"""
    return any(placeholder.strip() in _RECORDS and pattern.search(text) for pattern, placeholder in RECORD_PATTERNS)


def semantic_words(text: str) -> str:
    """What the sentence encoder reads: the words as typed, lower-cased, a
    record number as the word for its kind ("any news on RF-9001?" → "any
    news on refund"): without it, "any news on" reads as a question about
    the news."""
    text = text.lower()
    for pattern, placeholder in RECORD_PATTERNS:
        text = pattern.sub(_RECORD_WORDS.get(placeholder.strip(), " "), text)
    return " ".join(_RAW.findall(text))


def without_placeholders(normalized: str) -> str:
    return " ".join(w for w in normalized.split() if w not in PLACEHOLDERS)
