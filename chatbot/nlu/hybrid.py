"""The matcher: a linear model over word and character n-grams, with rapidfuzz
for typos and short fragments, and an explicit out-of-scope decision.

How it decides (docs/nlu.md has the figures):
1. normalise the text (case, shorthand, contractions, record numbers → placeholders);
2. repair misspelt words against the training vocabulary with rapidfuzz;
3. mark words in the scope of a negation ("do not cancel" → not_cancel), so
   "I don't want to cancel, just the status" does not read as a cancellation;
4. score every intent with a logistic regression over TF-IDF word 1-2-grams
   and character 2-5-grams (scikit-learn fits it; scoring runs on the learnt
   weights directly, which is what keeps a parse well under a millisecond);
5. blend in the nearest training example (rapidfuzz) where it is very close:
   that is what short fragments like "tracking?" need;
6. answer only when the top intent is not `out_of_scope`, clears the brand's
   threshold, and leads the runner-up by the margin; otherwise fall back."""
from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from . import OUT_OF_SCOPE, Parse
from .entities import extract
from .normalize import normalize, tokens

NEGATORS = {"not", "no", "never", "without", "nothing"}
CLAUSE_BREAKS = {"but", "just", "only", "and", "instead", "rather", "so", "because", "please"}
NEGATION_SCOPE = 3
# Words this common carry no intent; they are not spell-corrected.
STOPWORDS = {"i", "a", "an", "the", "to", "of", "is", "it", "my", "me", "you", "your", "and", "or", "in",
             "on", "for", "do", "am", "are", "be", "can", "at", "this", "that", "with", "we", "so", "if"}
FUZZY_BLEND_CUTOFF = 88.0     # rapidfuzz ratio above which the nearest example counts
FUZZY_WEIGHT = 0.35


def _char_ngrams(words: list[str], low: int = 2, high: int = 5) -> list[str]:
    grams = []
    for word in words:
        padded = f" {word} "
        for n in range(low, high + 1):
            if n > len(padded):
                break
            grams.extend(padded[i:i + n] for i in range(len(padded) - n + 1))
    return grams


def _mark_negation(words: list[str]) -> list[str]:
    marked, scope = [], 0
    for word in words:
        if word in NEGATORS:
            scope = NEGATION_SCOPE
            marked.append(word)
        elif scope and word not in CLAUSE_BREAKS:
            marked.append("not_" + word)
            scope -= 1
        else:
            scope = 0
            marked.append(word)
    return marked


def _word_ngrams(words: list[str]) -> list[str]:
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


class _TfidfBlock:
    """One TF-IDF feature block: vocabulary → column, idf per column."""

    def __init__(self, documents: list[list[str]], min_df: int = 1) -> None:
        df: Counter[str] = Counter()
        for grams in documents:
            df.update(set(grams))
        terms = sorted(t for t, c in df.items() if c >= min_df)
        self.index = {t: i for i, t in enumerate(terms)}
        n = len(documents)
        self.idf = np.array([math.log((1 + n) / (1 + df[t])) + 1 for t in terms])

    def __len__(self) -> int:
        return len(self.index)

    def vector(self, grams: list[str]) -> tuple[np.ndarray, np.ndarray]:
        counts = Counter(g for g in grams if g in self.index)
        if not counts:
            return np.empty(0, dtype=np.int64), np.empty(0)
        cols = np.fromiter((self.index[g] for g in counts), dtype=np.int64, count=len(counts))
        tf = np.fromiter((1 + math.log(c) for c in counts.values()), dtype=float, count=len(counts))
        values = tf * self.idf[cols]
        return cols, values / np.linalg.norm(values)


class HybridMatcher:
    def __init__(self, training: dict[str, list[str]], *, threshold: float = 0.5, margin: float = 0.05,
                 C: float = 1.0, temperature: float = 8.0) -> None:
        from sklearn.svm import LinearSVC
        from scipy.sparse import csr_matrix

        self.threshold = threshold
        self.temperature = temperature
        self.margin = margin
        self.labels = sorted(training)
        self.vocabulary = sorted({w for examples in training.values() for e in examples
                                  for w in tokens(normalize(e))})
        self._vocab_set = set(self.vocabulary)
        self._long_vocab = [w for w in self.vocabulary if len(w) >= 4]

        texts, y = [], []
        for label, examples in training.items():
            for example in examples:
                texts.append(normalize(example))
                y.append(self.labels.index(label))
        word_docs = [_word_ngrams(_mark_negation(tokens(t))) for t in texts]
        char_docs = [_char_ngrams(tokens(t)) for t in texts]
        self.words = _TfidfBlock(word_docs)
        self.chars = _TfidfBlock(char_docs, min_df=2)

        rows, cols, vals = [], [], []
        for r, (wd, cd) in enumerate(zip(word_docs, char_docs)):
            c1, v1 = self.words.vector(wd)
            c2, v2 = self.chars.vector(cd)
            c = np.concatenate([c1, c2 + len(self.words)])
            rows.extend([r] * len(c))
            cols.extend(c.tolist())
            vals.extend(np.concatenate([v1, v2]).tolist())
        X = csr_matrix((vals, (rows, cols)), shape=(len(texts), len(self.words) + len(self.chars)))
        model = LinearSVC(C=C)
        model.fit(X, y)
        self.coef = np.ascontiguousarray(model.coef_.T)        # features × classes
        self.intercept = model.intercept_.copy()

        self.example_texts = texts
        self.example_labels = [self.labels[i] for i in y]
        self._correct = lru_cache(maxsize=50_000)(self._correct_word)

    # -- the pieces ----------------------------------------------------------------

    def _correct_word(self, word: str) -> str:
        if word in self._vocab_set or len(word) < 4 or word.isdigit() or word in STOPWORDS:
            return word
        cutoff = 1 if len(word) < 7 else 2
        hit = process.extractOne(word, self._long_vocab, scorer=Levenshtein.distance,
                                 score_cutoff=cutoff)
        return hit[0] if hit else word

    def _features(self, normalized: str) -> tuple[list[str], np.ndarray]:
        words = [self._correct(w) for w in tokens(normalized)]
        c1, v1 = self.words.vector(_word_ngrams(_mark_negation(words)))
        c2, v2 = self.chars.vector(_char_ngrams(words))
        logits = self.intercept.copy()
        if len(c1):
            logits += v1 @ self.coef[c1]
        if len(c2):
            logits += v2 @ self.coef[c2 + len(self.words)]
        return words, logits

    def scores(self, text: str) -> np.ndarray:
        """Probability per label (self.labels order)."""
        normalized = normalize(text)
        words, logits = self._features(normalized)
        logits = (logits - logits.max()) * self.temperature
        probs = np.exp(logits)
        probs /= probs.sum()
        if not words:
            probs = np.zeros_like(probs)
            probs[self.labels.index(OUT_OF_SCOPE)] = 1.0 if OUT_OF_SCOPE in self.labels else 0.0
            return probs
        corrected = " ".join(words)
        hit = process.extractOne(corrected, self.example_texts, scorer=fuzz.ratio,
                                 score_cutoff=FUZZY_BLEND_CUTOFF)
        if hit:
            fuzzy = np.zeros_like(probs)
            fuzzy[self.labels.index(self.example_labels[hit[2]])] = hit[1] / 100
            probs = (1 - FUZZY_WEIGHT) * probs + FUZZY_WEIGHT * fuzzy
        # Words the brand's examples never use are evidence of "not ours".
        known = sum(1 for w in words if w in self._vocab_set)
        coverage = known / len(words)
        if coverage < 0.5:
            probs = probs * (0.5 + coverage)
        return probs

    def parse(self, text: str) -> Parse:
        probs = self.scores(text)
        order = np.argsort(-probs)
        ranking = [(self.labels[i], float(probs[i])) for i in order]
        top, confidence = ranking[0]
        runner_up = ranking[1][1] if len(ranking) > 1 else 0.0
        confident = (top != OUT_OF_SCOPE and confidence >= self.threshold
                     and confidence - runner_up >= self.margin)
        in_scope_ranking = [r for r in ranking if r[0] != OUT_OF_SCOPE]
        return Parse(text=text, intent=top if confident else None,
                     confidence=confidence if top != OUT_OF_SCOPE else (in_scope_ranking[0][1] if in_scope_ranking else 0.0),
                     ranking=in_scope_ranking, entities=extract(text))
