"""Operators edit intents and policies from the console. A save is checked
like `intents check`, versioned with who and when (refused when it names a
base version someone else replaced since: stored.py), written back to the
intent's YAML file keeping its comments and key order (ruamel.yaml
round-trip), and then the matcher reloads live. Any version can be restored."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString

from ..auth import User
from ..brands import OUT_OF_SCOPE, Brand, IntentFileError, load_intent
from ..clock import Clock, isoformat
from ..conversation.records import KNOWN_ACTIONS
from ..errors import Conflict, InvalidPayload, NotFound
from ..knowledge import Knowledge
from ..nlu.evaluate import Item, run
from ..nlu.normalize import normalize
from ..store import Store, VersionConflict
from .lint import Finding, check_brand
from .policy_editor import PolicyEditing
from .stored import NAME, AfterVersionStored, FileFollower, StoredVersion, stale, write_atomically

EDITABLE = ("examples", "answer", "quick_replies", "policy_section", "action", "offer_handoff")


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def _dump(data: Any) -> str:
    out = io.StringIO()
    _yaml().dump(data, out)
    return out.getvalue()


@dataclass
class Moved:
    """A labelled message the change would match differently."""

    item: Item
    before: str
    after: str


@dataclass
class CheckReport:
    findings: list[Finding]
    accuracy_before: float | None
    accuracy_after: float | None
    moved: list[Moved]

    def errors(self, path: Path) -> list[Finding]:
        """This intent's own errors, and those it causes in others (an example two intents share)."""
        return [f for f in self.findings if f.level == "error" and (f.path.stem == path.stem or str(path) in f.message)]

    def summary(self) -> dict[str, Any]:
        """The check's warnings and the accuracy change, as a save and a check both report them."""
        lowered = (
            self.accuracy_before is not None
            and self.accuracy_after is not None
            and self.accuracy_after < self.accuracy_before
        )
        return {
            "warnings": [
                f"{f.path.parent.name}/{f.path.name}:{f.line}: {f.message}"
                for f in self.findings
                if f.level == "warning"
            ],
            "accuracy_before": self.accuracy_before,
            "accuracy_after": self.accuracy_after,
            "accuracy_lowered": lowered,
        }

    def to_dict(self, path: Path) -> dict[str, Any]:
        """What a check without saving shows the operator."""
        return {
            "errors": [f.message for f in self.errors(path)],
            **self.summary(),
            "moved": [
                {"text": m.item.text, "intent": m.item.intent, "before": m.before, "after": m.after} for m in self.moved
            ],
        }


@dataclass
class SaveResult:
    version: int
    report: CheckReport

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, **self.report.summary()}


class IntentEditor(PolicyEditing):
    def __init__(self, knowledge: Knowledge, store: Store, clock: Clock, labelled: list[Item]) -> None:
        self.knowledge = knowledge
        self.store = store
        self.clock = clock
        self.labelled = labelled
        self._lock = asyncio.Lock()  # one save at a time: each save sees the last one's files
        self.files = FileFollower(knowledge, store)
        self.follow_store = False  # PolicyEditing says what these two are; the web edge sets them in a cluster
        self.after_version_stored: AfterVersionStored | None = None

    # -- reading ------------------------------------------------------------------------------

    def path(self, brand: Brand, name: str, retired: bool = False) -> Path:
        if not NAME.match(name):
            raise InvalidPayload("an intent name is lower-case letters, digits and _")
        return brand.folder / ("retired" if retired else "intents") / f"{name}.yaml"

    def intent(self, brand_id: str, name: str) -> dict[str, Any]:
        brand = self.knowledge.brand(brand_id)
        path = self.path(brand, name)
        if not path.exists():
            raise NotFound(f"no intent {name}")
        data = _yaml().load(path.read_text(encoding="utf-8"))
        return {
            "name": name,
            **{k: data.get(k) for k in EDITABLE},
            "examples": list(data.get("examples") or []),
            "quick_replies": list(data.get("quick_replies") or []),
            "file": str(path.relative_to(brand.folder)),
        }

    async def current(self, brand_id: str, name: str) -> dict[str, Any]:
        """The intent with its versions, and the latest's number (0: none): the
        base an edit names. The number is read before the file (brought to the
        store's latest in a cluster): the text shown is never older than it."""
        versions = await self.versions(brand_id, name)
        if self.follow_store:
            await self.follow_stored(StoredVersion(brand_id, 0, name))
        latest = versions[0]["version"] if versions else 0
        return {**self.intent(brand_id, name), "versions": versions, "version": latest}

    async def versions(self, brand_id: str, name: str) -> list[dict[str, Any]]:
        self.path(self.knowledge.brand(brand_id), name)
        return [
            {k: v[k] for k in ("version", "author_name", "at", "note")}
            for v in await self.store.intent_versions(brand_id, name)
        ]

    # -- checking -----------------------------------------------------------------------------

    def _check(self, brand: Brand, path: Path, text: str | None) -> CheckReport:
        """Lint the brand as it would be with `text` at `path` (None: removed),
        its accuracy on the labelled messages before and after, and the
        messages it would match differently."""
        intents = dict(brand.intents)
        out_of_scope = list(brand.out_of_scope)
        name = path.stem
        if name == OUT_OF_SCOPE:
            out_of_scope = []
        else:
            intents.pop(name, None)
        if text is not None:
            tmp = path.with_name(f".{path.name}.check")
            tmp.write_text(text, encoding="utf-8")
            try:
                intent = replace(load_intent(tmp), path=path)
            except IntentFileError as e:
                raise InvalidPayload(f"{path.name}:{e.line or 1}: {e.message}") from None
            finally:
                tmp.unlink(missing_ok=True)
            if intent.name != name:
                raise InvalidPayload("the name in the file must match the intent")
            if name == OUT_OF_SCOPE:
                out_of_scope = intent.examples
            else:
                intents[name] = intent
        candidate = replace(brand, intents=intents, out_of_scope=out_of_scope)
        matcher = self.knowledge.candidate_matcher(candidate)
        findings = check_brand(candidate, KNOWN_ACTIONS, matcher=matcher)
        items = [i for i in self.labelled if i.brand == brand.id]
        if not items:
            return CheckReport(findings, None, None, [])
        before = run(items, {brand.id: self.knowledge.matcher(brand.id)})[brand.id]
        after = run(items, {brand.id: matcher})[brand.id]
        moved = [
            Moved(b.item, b.predicted, a.predicted)
            for b, a in zip(before.outcomes, after.outcomes, strict=True)
            if b.predicted != a.predicted
        ]
        return CheckReport(findings, before.overall, after.overall, moved)

    # -- writing ------------------------------------------------------------------------------

    async def save(
        self,
        user: User,
        brand_id: str,
        name: str,
        changes: dict[str, Any],
        *,
        create: bool = False,
        note: str = "",
        base_version: int | None = None,
    ) -> SaveResult:
        """Check, version and write an edit. With `base_version` (the version the
        edit was made on; 0: none stored), refused (409) unless it is the latest."""
        note = note or ("created" if create else "edited")
        return await self._save(user, brand_id, name, lambda: changes, create, note, base_version)

    async def _save(
        self,
        user: User,
        brand_id: str,
        name: str,
        changes: Callable[[], dict[str, Any]],
        create: bool,
        note: str,
        base_version: int | None,
    ) -> SaveResult:
        """`changes` is read under the lock, from the intent as it is then."""
        async with self._lock:
            brand, path = await self._start(brand_id, name, base_version)
            original, text = self._edited(path, name, changes(), create)
            return await self._apply(user, brand, path, original, text, note, base_version)

    async def _start(self, brand_id: str, name: str, base_version: int | None) -> tuple[Brand, Path]:
        """Under the lock, before an edit: its file (in a cluster, brought to the
        latest stored version first), refused at once when its base is stale."""
        self.path(self.knowledge.brand(brand_id), name)
        if self.follow_store:
            await self._follow(StoredVersion(brand_id, 0, name))
        if base_version is not None:
            latest = await self.store.latest_intent_version(brand_id, name)
            if (latest["version"] if latest else 0) != base_version:
                raise stale(VersionConflict(latest, base_version), f"intent {name}")
        brand = self.knowledge.brand(brand_id)
        return brand, self.path(brand, name)

    async def check(self, brand_id: str, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        """What saving `changes` would do, without saving: the check's errors
        and warnings, accuracy before and after, the messages that would move."""
        async with self._lock:
            brand, path = await self._start(brand_id, name, None)
            _, text = self._edited(path, name, changes, create=False)
            report = await asyncio.to_thread(self._check, brand, path, text)
        return report.to_dict(path)

    def _edited(self, path: Path, name: str, changes: dict[str, Any], create: bool) -> tuple[str | None, str]:
        """The file as it is (None: new) and as `changes` would make it."""
        if create and path.exists():
            raise Conflict(f"intent {name} exists already")
        if not create and not path.exists():
            raise NotFound(f"no intent {name}")
        original = path.read_text(encoding="utf-8") if path.exists() else None
        data = _yaml().load(original) if original else CommentedMap(name=name)
        data["name"] = name
        for key in EDITABLE:
            if key in changes and changes[key] is not None:
                data[key] = self._yaml_value(key, changes[key], data.get(key))
        if name != OUT_OF_SCOPE and data.get("action") and data["action"] not in KNOWN_ACTIONS:
            raise InvalidPayload(f"unknown action {data['action']!r}")
        return original, _dump(data)

    async def add_example(
        self, user: User, brand_id: str, name: str, example: str, base_version: int | None = None
    ) -> SaveResult:
        """One click from the misses inbox: the message becomes an example."""

        def changes() -> dict[str, Any]:
            examples = self.intent(brand_id, name)["examples"]
            if normalize(example) in {normalize(e) for e in examples}:
                raise Conflict("that is already an example of this intent")
            return {"examples": [*examples, example]}

        return await self._save(user, brand_id, name, changes, False, f"added example {example[:60]!r}", base_version)

    async def retire(self, user: User, brand_id: str, name: str, base_version: int | None = None) -> SaveResult:
        async with self._lock:
            brand, path = await self._start(brand_id, name, base_version)
            if not path.exists():
                raise NotFound(f"no intent {name}")
            original = path.read_text(encoding="utf-8")
            return await self._apply(user, brand, path, original, None, "retired", base_version)

    async def rollback(
        self, user: User, brand_id: str, name: str, version: int, base_version: int | None = None
    ) -> SaveResult:
        self.path(self.knowledge.brand(brand_id), name)
        stored = next((v for v in await self.store.intent_versions(brand_id, name) if v["version"] == version), None)
        if stored is None:
            raise NotFound(f"no version {version} of {name}")
        async with self._lock:
            brand, path = await self._start(brand_id, name, base_version)
            original = path.read_text(encoding="utf-8") if path.exists() else None
            note = f"rolled back to v{version}"
            return await self._apply(user, brand, path, original, stored["content"], note, base_version)

    async def _apply(
        self,
        user: User,
        brand: Brand,
        path: Path,
        original: str | None,
        text: str | None,
        note: str,
        base_version: int | None,
    ) -> SaveResult:
        """Check, store the version (refused if its base is stale), write the file, reload, announce."""
        report = await asyncio.to_thread(self._check, brand, path, text)
        errors = report.errors(path)
        if errors:
            raise InvalidPayload("; ".join(f.message for f in errors))
        at = isoformat(self.clock.now())
        mine = {"brand": brand.id, "intent": path.stem, "author_id": user.id, "author_name": user.name, "at": at}
        # The file as it was before the first edit is version 1, so it can be restored.
        first = {**mine, "author_id": None, "author_name": "intent files", "content": original}
        try:
            version = await self.store.add_intent_version(
                {**mine, "content": text, "note": note},
                base_version,
                None if original is None else {**first, "note": "as found in the files"},
            )
        except VersionConflict as conflict:
            raise stale(conflict, f"intent {path.stem}") from None
        retired = self.path(brand, path.stem, retired=True)
        if text is None:
            write_atomically(retired, original or "")
            path.unlink()
        else:
            write_atomically(path, text)
            retired.unlink(missing_ok=True)
        await self.knowledge.reload()
        await self._stored(StoredVersion(brand.id, version, path.stem))
        return SaveResult(version, report)

    @staticmethod
    def _yaml_value(key: str, value: Any, current: Any) -> Any:
        if key in ("examples", "quick_replies"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InvalidPayload(f"{key} must be a list of texts")
            cleaned = [v.strip() for v in value if v.strip()]
            seq = current if isinstance(current, CommentedSeq) else CommentedSeq()
            del seq[:]  # keeps the list's comments and style, replaces its items
            seq.extend(cleaned)
            if key == "quick_replies":
                seq.fa.set_flow_style()
            return seq
        if key == "answer":
            if not isinstance(value, str) or not value.strip():
                raise InvalidPayload("the answer cannot be empty")
            return LiteralScalarString(value.strip() + "\n")
        if key == "offer_handoff":
            if not isinstance(value, bool):
                raise InvalidPayload("offer_handoff is true or false")
            return value
        if not isinstance(value, str):
            raise InvalidPayload(f"{key} must be text")
        return value.strip() or None
