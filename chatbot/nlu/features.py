"""From a normalised message to the features the model scores:
spelling repaired against the brand's vocabulary, negated wishes marked,
other companies' names flagged, then word 1-2-grams and character 3-5-grams."""

from __future__ import annotations

from collections import Counter

from rapidfuzz import process
from rapidfuzz.distance import OSA

from .lexicon import (
    CLAUSE_WORDS,
    DESIRE,
    NEGATION_SCOPE,
    NEGATORS,
    OTHER_COMPANIES,
    OTHER_COMPANY,
    OTHER_COMPANY_PHRASES,
    STOPWORDS,
    SYNONYM_GROUPS,
)
from .normalize import BREAK, PLACEHOLDERS, analyse


def _undouble(word: str) -> list[str]:
    """'byee' → ['bye'], 'thankss' → ['thanks']: one doubled letter less."""
    return [word[:i] + word[i + 1 :] for i in range(len(word) - 1) if word[i] == word[i + 1]]


_SUFFIXES = ("s", "es", "ed", "d", "ing", "er", "ers", "ly")


def _inflected(word: str, known: Counter[str]) -> str | None:
    """The known word this one inflects ('weeks' → 'week'), if any."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= (4 if suffix[0] in "el" else 3):
            stem = word[: -len(suffix)]
            for cand in (stem, stem + "e", stem[:-1] if len(stem) > 3 and stem[-1] == stem[-2] else ""):
                if cand and cand in known:
                    return cand
    return None


def _swapped(a: str, b: str) -> bool:
    """Same letters with two neighbours swapped ('taht' / 'that')."""
    if len(a) != len(b):
        return False
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]


RARE_WORD = 2  # a known word seen this rarely ...
COMMON_FACTOR = 10  # ... next to one this many times commoner is read as a typo of it


class Speller:
    """Repairs a misspelt word to the most frequent vocabulary word within a
    small edit distance (transpositions count once); leaves it alone when
    nothing is close, so a word the brand never uses stays unknown."""

    def __init__(self, frequencies: Counter[str]) -> None:
        self.freq = frequencies
        self.words = sorted(w for w in frequencies if len(w) >= 3 and not w.isdigit())
        self._cache: dict[str, str] = {}

    def __call__(self, word: str) -> str:
        hit = self._cache.get(word)
        if hit is None:
            hit = self._cache[word] = self._repair(word)
            if len(self._cache) > 100_000:
                self._cache.clear()
        return hit

    def _repair(self, word: str) -> str:
        if word in PLACEHOLDERS or not word.isalpha() or len(word) < 3:
            return word
        if word in self.freq:
            # An example written with a typo ("cancle the order pls") makes the
            # typo a known word; a rare one a letter away from a far commoner
            # word is that word, or "cancle my ordr" reads as two intents.
            if self.freq[word] > RARE_WORD or len(word) < 4 or word in STOPWORDS:
                return word
            common = self._closest(word, cutoff=1)
            return common if common and self.freq[common] >= COMMON_FACTOR * self.freq[word] else word
        shorter = [w for w in _undouble(word) if w in self.freq]
        if shorter:
            return max(shorter, key=self.freq.__getitem__)
        stem = _inflected(word, self.freq)
        if stem:  # "stores", "looked": a real word, and one we know
            return stem
        if len(word) < 4 or word in STOPWORDS:
            return word
        return self._closest(word, cutoff=2 if len(word) >= 8 else 1) or word

    def _closest(self, word: str, cutoff: int) -> str | None:
        """The most frequent word within `cutoff` edits. A typo keeps its first
        letter; short words are only repaired for a dropped or swapped letter
        ("chek", "taht"): "think" is not "thank"."""
        found = process.extract(word, self.words, scorer=OSA.distance, score_cutoff=cutoff, limit=None)
        candidates = []
        for cand, dist, _ in found:
            if cand == word or cand[0] != word[0] or cand in OTHER_COMPANIES:
                continue
            if len(word) <= 5 and not (len(cand) == len(word) + 1 or _swapped(word, cand)):
                continue
            candidates.append((dist, -self.freq[cand], cand))
        return min(candidates)[2] if candidates else None


def mark_negation(words: list[str]) -> list[str]:
    """'i do not want to cancel , just ...' → 'i do not want not_to not_cancel , just ...':
    words inside a negated wish are marked so they stop counting for the wish.
    A plain negation ('did not arrive', 'can not log in') is left as it is."""
    out: list[str] = []
    scope = 0
    for i, word in enumerate(words):
        if word == BREAK or word in CLAUSE_WORDS:
            scope = 0
            out.append(word)
            continue
        if scope:
            out.append("not_" + word)
            scope -= 1
            continue
        out.append(word)
        if word in NEGATORS:
            nxt = words[i + 1] if i + 1 < len(words) else ""
            prev = words[i - 1] if i else ""
            if nxt in DESIRE:
                scope = NEGATION_SCOPE + 1  # the wish itself and what is wished
            elif word == "not" and prev == "do" and (i < 2 or words[i - 2] in {"please", BREAK, "so"}):
                scope = NEGATION_SCOPE  # "don't cancel it": an order not to
    return out


def char_grams(word: str) -> tuple[str, ...]:
    """The character 3-5-grams of a word with a space either side."""
    padded = f" {word} "
    return tuple(padded[i : i + n] for n in (3, 4, 5) for i in range(len(padded) - n + 1))


RARE_SYNONYM = 4  # a group's word used this many times less than its main word reads as the main word


def synonyms_for(in_scope_counts: Counter[str]) -> dict[str, str]:
    """Word the in-scope examples use rarely or never → the word of its
    synonym group they use most. Rarely, not only never: one long example
    that says "settle the bill" must not turn "i need the bill" away from the
    invoice the brand's examples talk about. A word only out-of-scope
    examples use is replaced too: "my phone bill" teaching that "bill" is
    off-topic would otherwise make "a copy of my bill" off-topic."""
    out: dict[str, str] = {}
    for group in SYNONYM_GROUPS:
        known = [w for w in group if in_scope_counts.get(w, 0) > 0]
        if not known:
            continue
        target = max(sorted(known), key=lambda w: in_scope_counts[w])
        main = in_scope_counts[target]
        out.update({w: target for w in group if w != target and in_scope_counts.get(w, 0) * RARE_SYNONYM <= main})
    return out


class Analyzer:
    """Fitted on the training examples: knows the brand's words, and how
    often each is used in in-scope examples."""

    def __init__(self, vocabulary: Counter[str], in_scope_counts: Counter[str]) -> None:
        self.vocabulary = vocabulary
        self.in_scope_counts = in_scope_counts
        self.in_scope = frozenset(w for w, c in in_scope_counts.items() if c > 0)
        self.speller = Speller(vocabulary + Counter({w: 1 for w in OTHER_COMPANIES}))
        # How strongly naming a company says "not ours": an unseen name 0.9; a
        # name the brand's customers use in in-scope asks (PayPal, Instagram as
        # a contact channel) much less.
        self.company_strength = {}
        for name in OTHER_COMPANIES:
            inside = in_scope_counts.get(name, 0)
            outside = vocabulary.get(name, 0) - inside
            self.company_strength[name] = (outside + 3.0) / (outside + 3 * inside + 3.3)
        self.other_companies = frozenset(n for n, v in self.company_strength.items() if v > 0.5)
        self.synonyms = synonyms_for(in_scope_counts)

    @classmethod
    def fit(cls, training: dict[str, list[str]], out_of_scope: str) -> Analyzer:
        vocabulary: Counter[str] = Counter()
        in_scope: Counter[str] = Counter()
        for label, examples in training.items():
            for example in examples:
                words = [w for w in analyse(example) if w != BREAK]
                vocabulary.update(words)
                if label != out_of_scope:
                    in_scope.update(words)
        return cls(vocabulary, in_scope)

    def company(self, words: list[str]) -> float:
        """How strongly the message names someone else's company (0 when none)."""
        return max((self.company_strength[w] for w in words if w in self.company_strength), default=0.0)

    def words(self, text: str) -> list[str]:
        """Normalised, spelling repaired, unknown synonyms read as known ones, clause breaks kept."""
        out = [w if w == BREAK else self._known(w) for w in analyse(text)]
        for i in range(len(out) - 1):
            for size in (3, 2):
                phrase = tuple(out[i : i + size])
                name = OTHER_COMPANY_PHRASES.get(phrase) if len(phrase) == size else None
                if name:  # "uber eats" → "ubereats"
                    out[i : i + size] = [name] + [""] * (size - 1)
                    break
        return [w for w in out if w]

    def _known(self, word: str) -> str:
        hit = self.synonyms.get(word)
        if hit:
            return hit
        repaired = self.speller(word)
        if repaired == word and word.endswith("s"):  # "parcels": the plural of a synonym
            return self.synonyms.get(word[:-1], word)
        return repaired

    def features(self, words: list[str]) -> tuple[list[str], list[str]]:
        """Word features (1-2-grams, negation marked, the other-company flag)
        and character 3-5-grams of each word."""
        word_features, spelt = self.feature_words(words)
        return word_features, [g for w in spelt for g in char_grams(w)]

    def feature_words(self, words: list[str]) -> tuple[list[str], list[str]]:
        """Word features, and the words whose character grams are features
        (not those of a negated wish)."""
        marked = mark_negation(words)
        grams = [w for w in marked if w != BREAK]
        bigrams = [f"{a} {b}" for a, b in zip(marked, marked[1:], strict=False) if a != BREAK and b != BREAK]
        flags = [OTHER_COMPANY for w in grams if w in self.other_companies]
        return grams + bigrams + flags, [w for w in grams if not w.startswith("not_")]
