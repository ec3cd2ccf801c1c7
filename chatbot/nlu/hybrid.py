"""The matcher: a linear model over word and character n-grams, rapidfuzz for
typos and short fragments, an optional sentence-embedding second opinion,
and an explicit out-of-scope decision with a calibrated confidence.

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
5. when the lexical reading is not sure and an encoder is installed, embed
   the message and compare it with every example (semantic.py): how close it
   comes to the brand's in-scope examples and to its out-of-scope ones, and
   which intent's examples it is nearest;
6. read how likely the message is ours at all: the classifier's
   out_of_scope probability, the share of words the brand's in-scope
   examples never use, another company's name (and, with step 5, the two
   similarities);
7. the confidence is the probability that the top intent is the right one:
   a logistic model of the top intent's probability, its lead, those
   signals and the message's length (and, with step 5, the similarities),
   fitted on cross-validated readings of the brand's own examples, so it is
   calibrated; answer only when the top intent clears the brand's threshold
   and leads the runner-up by the margin, otherwise fall back."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from . import OUT_OF_SCOPE, Encoder, Parse
from .entities import extract
from .lexicon import FUNCTION_WORDS
from .model import (
    CHAR_WEIGHT,
    Block,
    Model,
    NearCopies,
    WordGrams,
    analyzer_from,
    names_a_record,
    raw_words,
    semantic_words,
    without_placeholders,
)
from .normalize import BREAK, PLACEHOLDERS

TEMPERATURE = 5.0  # softmax(T × SVM score), fitted by cross-validation (tune.py)
# Short fragments ("ya", "nop", "byee"): nearest short example by rapidfuzz.
SHORT_WORDS = 2
SHORT_CUTOFF = 66.0
SHORT_WEIGHT = 0.4
# Longer messages: a near-copy of an example counts for its intent.
NEAR_CUTOFF = 90.0
NEAR_WEIGHT = 0.35
# The confidence model: P(the top intent is right) = sigmoid(w · features), a
# logistic model fitted per brand on cross-validated readings of its own
# examples (training.fit), out-of-scope examples counting as never right. So
# the confidence is calibrated, and a message that is probably not ours
# cannot clear the threshold however clear its best intent.
FEATURES = ("bias", "logit_top", "lead", "p_oos", "unknown", "company", "detector", "log_words")
SEMANTIC_FEATURES = ("near_in_scope", "near_out_of_scope", "semantic_top", "semantic_agrees")
# ... then one indicator per in-scope intent: which one is on top
# What an unfitted model (a toy brand, a fold) starts from: the top intent's
# probability, held down by the out-of-scope signals.
DEFAULT_WEIGHTS = np.array([2.0, 1.0, 0.0, -6.0, -4.5, -3.8, 0.0, 0.0])
# The embedding's second opinion: asked only when the n-grams' confidence is
# under SURE (most messages are sure, and the encoder costs milliseconds), and
# never about a message that names a record ("what about TT-2002", "any news on
# RF-9001"): the n-grams read the number as a placeholder they learnt, the
# encoder only the few words around it;
# its intent distribution, softmax(SEMANTIC_TEMPERATURE × each intent's best
# cosine), is blended in with SEMANTIC_BLEND.
SURE = 0.9
SEMANTIC_TEMPERATURE = 20.0
SEMANTIC_KIND = "classifier"
SEMANTIC_BLEND = 0.6


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-max(-30.0, min(30.0, x))))


def _logit(p: float) -> float:
    """Bounded at ±4.6 (p 0.01 / 0.99): beyond, a surer intent says nothing
    more about being right, and an unbounded feature would outvote the
    signals that say the message is not ours ("how much does netflix cost")."""
    p = min(0.99, max(0.01, p))
    return math.log(p / (1 - p))


@dataclass
class Lexical:
    """What the n-gram side read in one message."""

    words: list[str]
    probs: np.ndarray  # over every label, out_of_scope included
    p_oos: float
    unknown: float  # share of content words no in-scope example uses
    company: float  # how strongly another company is named
    detector: float  # the out-of-scope detector's score (> 0: out of scope)


@dataclass
class Semantic:
    """What the embedding side read: the best cosine to an in-scope and to an
    out-of-scope example, and a distribution over the in-scope intents."""

    near_in_scope: float
    near_out_of_scope: float
    intents: np.ndarray  # over the in-scope intents, in in_scope_names order


@dataclass
class Reading:
    """The decision: the intents' distribution and the top one's probability of being right."""

    lexical: Lexical
    semantic: Semantic | None  # None when the n-grams alone decided
    conditional: np.ndarray  # P(intent | in scope), in in_scope_names order
    right: float  # P(the top intent is the right one), calibrated


class HybridMatcher:
    def __init__(
        self, model: Model, *, threshold: float = 0.5, margin: float = 0.05, encoder: Encoder | None = None
    ) -> None:
        self.threshold = threshold
        self.margin = margin
        self.model = model
        self.labels: list[str] = model.labels.tolist()
        self.oos = self.labels.index(OUT_OF_SCOPE) if OUT_OF_SCOPE in self.labels else -1
        in_scope = [i for i in range(len(self.labels)) if i != self.oos]
        self.in_scope_columns = np.array(in_scope, dtype=np.int64)
        self.in_scope_names = [self.labels[i] for i in in_scope]
        self.analyzer = analyzer_from(model)
        self.words = Block(model.word_terms.tolist(), model.word_idf)
        self.chars = Block(model.char_terms.tolist(), model.char_idf, offset=len(self.words))
        self.char_grams = WordGrams(self.chars)
        # the intent classifier's columns and the out-of-scope detector's, read in one gather
        self.coef = np.ascontiguousarray(np.hstack([model.coef, model.detector_coef.reshape(-1, 1)]))
        self.intercept = np.append(model.intercept, model.detector_intercept[:1])
        self.examples: list[str] = model.example_texts.tolist()
        self.example_labels: list[int] = model.example_labels.tolist()
        self.near_copies = NearCopies(self.examples, NEAR_CUTOFF)
        self._short_examples(model)
        # the intents the confidence model has a weight for: a fold's model may
        # lack an intent of few examples, and is read with the brand's list
        self.intent_slots = list(self.in_scope_names)
        self.lexical_weights = (
            model.lexical_weights
            if len(model.lexical_weights)
            else np.concatenate([DEFAULT_WEIGHTS, np.zeros(len(self.in_scope_names))])
        )
        self.semantic_weights = model.semantic_weights
        self.encoder = encoder if encoder is not None and model.embeddings.size else None
        self._embedding_sides(model)

    def _short_examples(self, model: Model) -> None:
        # Short examples as normalised ("nope" → "no") and as typed ("nope"):
        # a fragment's typo is closer to what people type than to either alone.
        # Record numbers are left out: "what about TT-2002" is not "no, not TT-2003".
        short: dict[str, int] = {}
        for forms in ([without_placeholders(t) for t in self.examples], model.example_raw.tolist()):
            for text, label in zip(forms, self.example_labels, strict=True):
                if 0 < len(text.split()) <= SHORT_WORDS + 1:
                    short.setdefault(text, label)
        self.short_examples = list(short)
        self.short_labels = list(short.values())

    def _embedding_sides(self, model: Model) -> None:
        """Example vectors split by side, and each in-scope example's intent column."""
        vectors = model.embeddings.astype(np.float32) if model.embeddings.size else np.zeros((0, 0), np.float32)
        labels = np.array(self.example_labels, dtype=np.int64)
        out = labels == self.oos
        self.in_scope_vectors = vectors[~out] if vectors.size else vectors
        self.out_of_scope_vectors = vectors[out] if vectors.size else vectors
        column = {label: i for i, label in enumerate(self.in_scope_columns.tolist())}
        self.in_scope_example_intents = np.array([column[int(x)] for x in labels[~out]], dtype=np.int64)

    # -- the lexical side ------------------------------------------------------------

    def scores(self, words: list[str]) -> np.ndarray:
        """The intent classifier's score of each label, then the out-of-scope
        detector's score (last), for analysed words."""
        word_feats, spelt = self.analyzer.feature_words(words)
        c1, v1 = self.words.vector(word_feats)
        c2, v2 = self.char_grams.vector(spelt)
        scores = self.intercept.copy()
        if len(c1) or len(c2):  # one gather of the rows both blocks use
            scores += np.concatenate((v1, v2 * CHAR_WEIGHT)) @ self.coef[np.concatenate((c1, c2))]
        return scores

    def _short_hit(self, query: str, text: str) -> tuple[str, float, int] | None:
        """The nearest short example to a fragment, as normalised or as typed."""
        short = without_placeholders(query)
        hit = (
            process.extractOne(short, self.short_examples, scorer=fuzz.ratio, score_cutoff=SHORT_CUTOFF)
            if short
            else None
        )
        raw = raw_words(text)
        if raw and raw != short:
            other = process.extractOne(
                raw, self.short_examples, scorer=fuzz.ratio, score_cutoff=hit[1] if hit else SHORT_CUTOFF
            )
            if other and (not hit or other[1] > hit[1]):
                hit = other
        return hit

    def lexical(self, text: str) -> Lexical:
        """Everything the n-gram side looks at, for one message."""
        words = self.analyzer.words(text)
        plain = [w for w in words if w != BREAK]
        everything = self.scores(words)
        scores, detector = everything[:-1], float(everything[-1])
        probs = np.exp((scores - scores.max()) * TEMPERATURE)
        probs /= probs.sum()
        query = " ".join(plain)
        close_to_in_scope = False  # a fragment that reads like an in-scope example
        if plain and len(plain) <= SHORT_WORDS:
            hit = self._short_hit(query, text)
            if hit:
                label = self.short_labels[hit[2]]
                probs = self._blend(probs, label, hit[1] / 100, SHORT_WEIGHT)
                close_to_in_scope = label != self.oos
        elif plain:
            near = self.near_copies.best(query)
            if near:
                probs = self._blend(probs, self.example_labels[near[0]], near[1] / 100, NEAR_WEIGHT)
        content = [w for w in plain if w not in FUNCTION_WORDS and w not in PLACEHOLDERS and not w.isdigit()]
        unknown = [w for w in content if w not in self.analyzer.in_scope]
        return Lexical(
            words=plain,
            probs=probs,
            p_oos=float(probs[self.oos]) if self.oos >= 0 else 0.0,
            # "nop", "byebye": unknown words, but spelt like a known fragment
            unknown=len(unknown) / len(content) if content and not close_to_in_scope else 0.0,
            company=self.analyzer.company(plain),
            detector=detector,
        )

    @staticmethod
    def _blend(probs: np.ndarray, label: int, score: float, weight: float) -> np.ndarray:
        blend = np.zeros_like(probs)
        blend[label] = score
        mixed: np.ndarray = (1 - weight) * probs + weight * blend
        normalised: np.ndarray = mixed / mixed.sum()
        return normalised

    # -- the semantic side -----------------------------------------------------------

    def semantic_of(self, vector: np.ndarray) -> Semantic:
        """How near an embedded message comes to each side's examples."""
        near_in = self.in_scope_vectors @ vector
        near_out = self.out_of_scope_vectors @ vector
        if SEMANTIC_KIND == "knn" or not self.model.semantic_coef.size:
            best = np.full(len(self.in_scope_names), -1.0)
            np.maximum.at(best, self.in_scope_example_intents, near_in)
            intents = np.exp((best - best.max()) * SEMANTIC_TEMPERATURE)
        else:
            scores = (vector @ self.model.semantic_coef + self.model.semantic_intercept)[self.in_scope_columns]
            intents = np.exp(scores - scores.max())
        return Semantic(
            near_in_scope=float(near_in.max()) if near_in.size else 0.0,
            near_out_of_scope=float(near_out.max()) if near_out.size else 0.0,
            intents=intents / intents.sum(),
        )

    def semantic(self, text: str) -> Semantic | None:
        if self.encoder is None:
            return None
        return self.semantic_of(self.encoder.encode([semantic_words(text) or text])[0])

    # -- the decision ----------------------------------------------------------------

    def distribution(self, lexical: Lexical, semantic: Semantic | None) -> np.ndarray:
        """P(intent | in scope) over the in-scope intents: the n-grams', with the
        embedding's blended in when it was asked."""
        in_scope = lexical.probs[self.in_scope_columns]
        total = float(in_scope.sum())
        conditional = in_scope / total if total > 0 else np.full_like(in_scope, 1 / len(in_scope))
        if semantic is not None:
            conditional = (1 - SEMANTIC_BLEND) * conditional + SEMANTIC_BLEND * semantic.intents
        return conditional

    def features(self, lexical: Lexical, semantic: Semantic | None, conditional: np.ndarray) -> np.ndarray:
        """What the confidence model reads (FEATURES, and SEMANTIC_FEATURES with an embedding)."""
        order = np.argsort(-conditional)
        top, second = float(conditional[order[0]]), float(conditional[order[1]]) if len(order) > 1 else 0.0
        values = [
            1.0,
            _logit(top),
            top - second,
            lexical.p_oos,
            lexical.unknown,
            lexical.company,
            lexical.detector,
            math.log1p(len(lexical.words)),
        ]
        if semantic is not None:
            values += [
                semantic.near_in_scope,
                semantic.near_out_of_scope,
                float(semantic.intents[order[0]]),
                float(np.argmax(semantic.intents) == order[0]),
            ]
        # which intent is on top: some are read right far more often than others ("thanks" than "feedback")
        which = [0.0] * len(self.intent_slots)
        which[self.intent_slots.index(self.in_scope_names[int(order[0])])] = 1.0
        return np.array(values + which)

    def read(
        self, lexical: Lexical, semantic: Semantic | None, lexical_weights: np.ndarray, semantic_weights: np.ndarray
    ) -> Reading:
        """The intents' distribution and the top one's probability of being
        right: the n-grams' alone when they are sure or nothing else is at
        hand, the two signals together otherwise."""
        conditional = self.distribution(lexical, None)
        right = _sigmoid(float(lexical_weights @ self.features(lexical, None, conditional)))
        if semantic is None or not len(semantic_weights) or right >= SURE:
            return Reading(lexical, None, conditional, right)
        conditional = self.distribution(lexical, semantic)
        right = _sigmoid(float(semantic_weights @ self.features(lexical, semantic, conditional)))
        return Reading(lexical, semantic, conditional, right)

    def parse(self, text: str) -> Parse:
        lexical = self.lexical(text)
        entities = extract(text)
        if not lexical.words:
            return Parse(text=text, intent=None, confidence=0.0, ranking=[], entities=entities)
        reading = self.read(lexical, None, self.lexical_weights, self.semantic_weights)
        if (
            self.encoder is not None
            and len(self.semantic_weights)
            and reading.right < SURE
            and not names_a_record(text)
        ):
            reading = self.read(lexical, self.semantic(text), self.lexical_weights, self.semantic_weights)
        order = np.argsort(-reading.conditional).tolist()
        best = float(reading.conditional[order[0]])
        # the top intent's confidence is its probability of being right; the
        # others' are scaled by how they compare with it
        ranking = [(self.in_scope_names[i], reading.right * float(reading.conditional[i]) / best) for i in order]
        top, confidence = ranking[0]
        lead = best - (float(reading.conditional[order[1]]) if len(order) > 1 else 0.0)
        confident = confidence >= self.threshold and lead >= self.margin
        return Parse(
            text=text, intent=top if confident else None, confidence=confidence, ranking=ranking, entities=entities
        )
