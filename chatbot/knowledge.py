"""The brands' knowledge: their settings, intents and trained matchers.
Reloading swaps the whole set at once, so a message is matched either with
the old intents or with the new ones, never with half of each.

Building a Knowledge reads and trains nothing: the app trains the matchers
in its start-up (`load()`, web/app.py); a script that never calls it gets
them trained at first use."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .brands import Brand, load_brands
from .errors import NotFound
from .nlu import Encoder, Matcher, Parse, build_matcher
from .nlu.clauses import ClauseWords, parse_clauses
from .nlu.language import LanguageData, LanguageDetector
from .nlu.training import Trainer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Snapshot:
    brands: dict[str, Brand]
    matchers: dict[str, Matcher]
    fingerprint: tuple[tuple[str, int, int], ...]


def _fingerprint(intents_dir: Path) -> tuple[tuple[str, int, int], ...]:
    """What the intent files look like now; editors' temporary files may
    vanish while we look, so those are skipped."""
    seen = []
    for path in intents_dir.rglob("*"):
        try:
            if path.is_file():
                stat = path.stat()
                seen.append((str(path), stat.st_mtime_ns, stat.st_size))
        except FileNotFoundError:
            continue
    return tuple(sorted(seen))


def _build(intents_dir: Path, trainer: Trainer) -> _Snapshot:
    fingerprint = _fingerprint(intents_dir)
    brands = load_brands(intents_dir)
    matchers = {
        brand_id: build_matcher(
            brand.training_data(),
            threshold=brand.settings.nlu.threshold,
            margin=brand.settings.nlu.margin,
            trainer=trainer,
        )
        for brand_id, brand in brands.items()
    }
    return _Snapshot(brands, matchers, fingerprint)


@dataclass(frozen=True)
class Models:
    """What a process loads once and may share between apps: read-only
    models, each a second or so and ~100 MB to load."""

    language: LanguageDetector
    encoder: Encoder | None  # None: not installed, or switched off
    # the examples' embeddings by text, filled as models are trained or
    # loaded: a retraining (an operator's edit, a reload) encodes only what is new
    vectors: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, intents_dir: Path, semantic: bool) -> Models:
        _one_blas_thread()
        encoder = None
        if semantic:
            from .nlu.semantic import load_encoder

            encoder = load_encoder()
        return cls(LanguageDetector(LanguageData.load(intents_dir / "languages.yaml")), encoder)


def _one_blas_thread() -> None:
    """The process's matrix products run on one thread. The server's are small
    (one message's embedding, one fold's regression) and run beside the event
    loop and other requests; OpenBLAS's default of a thread per core made a
    message's embedding 8x slower on a busy 2-core machine (its threads spin
    waiting for each other), and the operator's accuracy check on a save went
    from 6 s to 26 s. Processes, not BLAS threads, are how the server scales."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


class Knowledge:
    def __init__(self, intents_dir: Path, semantic: bool = False, models: Models | None = None) -> None:
        self.intents_dir = intents_dir
        self.semantic = semantic
        self._models = models
        self._current: _Snapshot | None = None
        self._trainer: Trainer | None = None

    @property
    def models(self) -> Models:
        """The read-only models, loaded at first use (in `load()`, off the event loop)."""
        if self._models is None:
            self._models = Models.load(self.intents_dir, semantic=self.semantic)
        return self._models

    def candidate_matcher(self, brand: Brand) -> Matcher:
        """A matcher for an edited brand, trained as the live ones are (the same
        encoder, the same cache): an operator's check compares like with like,
        and the reload after the save finds the model already trained."""
        nlu = brand.settings.nlu
        return build_matcher(
            brand.training_data(), threshold=nlu.threshold, margin=nlu.margin, trainer=self._trainer_now()
        )

    def _trainer_now(self) -> Trainer:
        if self._trainer is None:
            encoder = self.models.encoder if self.semantic else None
            self._trainer = Trainer(encoder=encoder, vectors=self.models.vectors)
        return self._trainer

    def _build(self) -> _Snapshot:
        return _build(self.intents_dir, self._trainer_now())

    def detect_language(self, text: str) -> str | None:
        """The message's language when it is confidently not English (nlu/language.py)."""
        return self.models.language.detect(text)

    @property
    def _snapshot(self) -> _Snapshot:
        if self._current is None:  # used before load(): trained now, on this thread
            self._current = self._build()
        return self._current

    async def load(self) -> None:
        """Read the intent files and train the matchers, off the event loop."""
        if self._current is None:
            self._current = await asyncio.to_thread(self._build)

    @property
    def brands(self) -> dict[str, Brand]:
        return self._snapshot.brands

    def brand(self, brand_id: str) -> Brand:
        try:
            return self._snapshot.brands[brand_id]
        except KeyError:
            raise NotFound(f"no brand {brand_id!r}") from None

    def matcher(self, brand_id: str) -> Matcher:
        self.brand(brand_id)
        return self._snapshot.matchers[brand_id]

    def parse(self, brand_id: str, text: str) -> Parse:
        self.brand(brand_id)
        return self._snapshot.matchers[brand_id].parse(text)

    def parse_clauses(
        self, brand_id: str, text: str, vocabulary: ClauseWords, whole: Parse | None = None
    ) -> list[Parse]:
        """A parse per clause of the message ("hey where r my earbuds": a greeting, then a question)."""
        self.brand(brand_id)
        return parse_clauses(self._snapshot.matchers[brand_id], vocabulary, text, whole)

    async def reload(self) -> bool:
        """Rebuild from the files (off the event loop) and swap atomically.
        A broken file keeps the current intents and raises its error."""
        snapshot = await asyncio.to_thread(self._build)
        self._current = snapshot
        return True

    def changed_on_disk(self) -> bool:
        return _fingerprint(self.intents_dir) != self._snapshot.fingerprint

    async def watch(self, interval: float = 1.0) -> None:
        """Reload whenever the intent files change."""
        while True:
            await asyncio.sleep(interval)
            try:
                if await asyncio.to_thread(self.changed_on_disk):
                    await self.reload()
                    log.info("intents reloaded from %s", self.intents_dir)
            except Exception:  # a half-saved or broken file: keep serving the old intents
                log.exception("intents not reloaded")
