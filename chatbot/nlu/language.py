"""Is a customer's message written in another language than English?

    detect_language("hola, donde esta mi pedido?")  -> "es"
    detect_language("where r my earbuds")           -> None

`detect_language(text)` gives the ISO 639-1 code of the message's language
when it is confidently *not* English, else None: English, or too short or
too unsure to say ("ok", "CT-100234", "gracias", "samsung galaxy buds").
The bot chats in English only; the dialogue uses this to say so. A false
alarm on English is far worse than a missed foreign message, so every step
below leans towards None.

The model is py3langid's (a naive Bayes over byte n-grams, shipped inside
the package; nothing is downloaded), restricted to the languages in
`intents/languages.yaml`, which also holds the word lists. A message is
read as follows:

1. Words: tokens with a digit (order, tracking and record numbers) are
   dropped; the rest split into runs of letters.
2. Mostly another script (Cyrillic, Han, kana, Hangul, Arabic, ...; at
   least two such letters and more of them than Latin ones): that is never
   English; the model names the language.
3. Latin script: None if any word is in `english_words` (function words,
   chat shorthand, the shop's words: a customer who mixes in English can
   read an English answer). Then at least three words and eight letters,
   or two words when one of them names a language ("no hablo ingles",
   "ingilizce bilmiyorum": `language_words`); the model must give English
   at most `MAX_ENGLISH`, and its top language at least `MIN_CONFIDENCE`
   unless a language word names it.
4. Evidence: the message must use that language's `everyday_words`
   (articles, pronouns, common verbs, the shop's nouns; language words
   count too), two of them, a word of one or two letters counting half. A
   sentence does; a product search does not: "dolce gabbana perfume",
   "jose cuervo tequila", "de la soul vinyl".

About 18 µs a call (most of it the model; 8 µs for English that stops at
an English word); building a `LanguageDetector` loads the model (0.4-0.7 s,
+83 MB): the process keeps one (knowledge.Models) and shares it. Thread-safe
once built. The figures, and why py3langid: docs/nlu.md, "Other languages".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

MIN_WORDS = 3  # Latin script, no language word
MIN_WORDS_NAMED = 2  # Latin script with a language word ("hablas español")
MIN_LETTERS = 8  # Latin script
MIN_OTHER_SCRIPT = 2  # letters of another script ("我的", "где")
MIN_CONFIDENCE = 0.5  # the model's probability of its top language
MAX_ENGLISH = 0.05  # ... and of English, at most
MIN_EVIDENCE = 2  # different everyday or language words of the language;
# one of one or two letters ("de", "la") counts half

_LETTERS = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class LanguageData:
    languages: tuple[str, ...]
    english_words: frozenset[str]
    language_words: dict[str, str]  # word -> language
    everyday_words: dict[str, frozenset[str]]  # language -> its words (Latin script)

    @classmethod
    def load(cls, path: Path) -> LanguageData:
        from ruamel.yaml import YAML

        raw = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
        languages = tuple(str(code) for code in raw["languages"])
        if "en" not in languages:
            raise ValueError(f"{path}: 'languages' must include en")
        named = {}
        for code, words in (raw.get("language_words") or {}).items():
            if code not in languages:
                raise ValueError(f"{path}: language_words: {code} is not in 'languages'")
            named.update({_fold(str(w)): str(code) for w in words})
        english = frozenset(_fold(str(w)) for w in raw["english_words"])
        everyday = {}
        for code, words in (raw.get("everyday_words") or {}).items():
            if code not in languages:
                raise ValueError(f"{path}: everyday_words: {code} is not in 'languages'")
            everyday[str(code)] = frozenset(_fold(str(w)) for w in words)
        for word, code in named.items():
            everyday.setdefault(code, frozenset())
            everyday[code] |= {word}
        return cls(languages, english, named, everyday)


class LanguageDetector:
    def __init__(self, data: LanguageData):
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self.data = data
        self._model = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        self._model.set_languages(list(data.languages))

    def _scores(self, text: str) -> list[tuple[str, float]]:
        scores: list[tuple[str, float]] = self._model.rank(text)
        return scores

    def detect(self, text: str) -> str | None:
        """ISO 639-1 code of the message's language when it is confidently not
        English; None for English, and when too short or unsure to say."""
        kept, words = [], []
        for chunk in text.split():
            if any(ch.isdigit() for ch in chunk):
                continue
            kept.append(chunk)
            words += _LETTERS.findall(_fold(chunk))
        if not words:
            return None
        letters = sum(len(w) for w in words)
        other = sum(1 for w in words for ch in w if not _is_latin(ch))
        clean = " ".join(kept)
        if other >= MIN_OTHER_SCRIPT and other * 2 > letters:
            top = self._scores(clean)[0][0]
            return None if top == "en" else top
        if other:  # a stray letter of another script in a Latin message
            return None
        if any(w in self.data.english_words for w in words):
            return None
        named = [self.data.language_words[w] for w in words if w in self.data.language_words]
        if len(words) < (MIN_WORDS_NAMED if named else MIN_WORDS) or letters < MIN_LETTERS:
            return None
        ranking = self._scores(clean)
        if dict(ranking).get("en", 0.0) > MAX_ENGLISH:
            return None
        top, confidence = ranking[0]
        if named:
            language = top if top in named else named[0]
        elif top != "en" and confidence >= MIN_CONFIDENCE:
            language = top
        else:
            return None
        # a sentence uses its language's everyday words; a run of names does not
        evidence = self.data.everyday_words.get(language, frozenset()).intersection(words)
        weight = sum(1.0 if len(w) > 2 else 0.5 for w in evidence)
        return language if weight >= MIN_EVIDENCE else None


def _fold(text: str) -> str:
    """Lower case, composed accents (so "é" typed as e + accent is "é")."""
    return unicodedata.normalize("NFC", text.lower())


def _is_latin(ch: str) -> bool:
    return ch.isascii() or unicodedata.name(ch, "").startswith("LATIN")
