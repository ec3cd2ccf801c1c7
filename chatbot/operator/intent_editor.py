"""Operators edit intents and policies from the console. A save is checked
like `intents check`, written back to the intent's YAML file keeping its
comments and key order (ruamel.yaml round-trip), versioned with who and when,
and then the matcher reloads live. Any version can be restored."""

from __future__ import annotations

import asyncio
import io
import os
import re
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
from ..store import Store
from .lint import Finding, check_brand

NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
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


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


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


class IntentEditor:
    def __init__(self, knowledge: Knowledge, store: Store, clock: Clock, labelled: list[Item]) -> None:
        self.knowledge = knowledge
        self.store = store
        self.clock = clock
        self.labelled = labelled
        self._lock = asyncio.Lock()  # one save at a time: each save sees the last one's files

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
        self, user: User, brand_id: str, name: str, changes: dict[str, Any], *, create: bool = False, note: str = ""
    ) -> SaveResult:
        brand = self.knowledge.brand(brand_id)
        path = self.path(brand, name)
        async with self._lock:
            original, text = self._edited(path, name, changes, create)
            return await self._apply(user, brand, path, original, text, note or ("created" if create else "edited"))

    async def check(self, brand_id: str, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        """What saving `changes` would do, without saving: the check's errors
        and warnings, accuracy before and after, the messages that would move."""
        brand = self.knowledge.brand(brand_id)
        path = self.path(brand, name)
        async with self._lock:
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

    async def add_example(self, user: User, brand_id: str, name: str, example: str) -> SaveResult:
        """One click from the misses inbox: the message becomes an example."""
        current = self.intent(brand_id, name)
        examples = current["examples"]
        if normalize(example) in {normalize(e) for e in examples}:
            raise Conflict("that is already an example of this intent")
        return await self.save(
            user, brand_id, name, {"examples": [*examples, example]}, note=f"added example {example[:60]!r}"
        )

    async def retire(self, user: User, brand_id: str, name: str) -> SaveResult:
        brand = self.knowledge.brand(brand_id)
        path = self.path(brand, name)
        async with self._lock:
            if not path.exists():
                raise NotFound(f"no intent {name}")
            result = await self._apply(user, brand, path, path.read_text(encoding="utf-8"), None, "retired")
            return result

    async def rollback(self, user: User, brand_id: str, name: str, version: int) -> SaveResult:
        brand = self.knowledge.brand(brand_id)
        path = self.path(brand, name)
        stored = next((v for v in await self.store.intent_versions(brand_id, name) if v["version"] == version), None)
        if stored is None:
            raise NotFound(f"no version {version} of {name}")
        async with self._lock:
            original = path.read_text(encoding="utf-8") if path.exists() else None
            return await self._apply(user, brand, path, original, stored["content"], f"rolled back to v{version}")

    async def _apply(
        self, user: User, brand: Brand, path: Path, original: str | None, text: str | None, note: str
    ) -> SaveResult:
        report = await asyncio.to_thread(self._check, brand, path, text)
        errors = report.errors(path)
        if errors:
            raise InvalidPayload("; ".join(f.message for f in errors))
        if not await self.store.intent_versions(brand.id, path.stem) and original is not None:
            # The file as it was before the first edit is version 1, so it can be restored.
            await self.store.add_intent_version(
                {
                    "brand": brand.id,
                    "intent": path.stem,
                    "author_id": None,
                    "author_name": "intent files",
                    "at": isoformat(self.clock.now()),
                    "content": original,
                    "note": "as found in the files",
                }
            )
        retired = self.path(brand, path.stem, retired=True)
        if text is None:
            _write_atomically(retired, original or "")
            path.unlink()
        else:
            _write_atomically(path, text)
            retired.unlink(missing_ok=True)
        version = await self.store.add_intent_version(
            {
                "brand": brand.id,
                "intent": path.stem,
                "author_id": user.id,
                "author_name": user.name,
                "at": isoformat(self.clock.now()),
                "content": text,
                "note": note,
            }
        )
        await self.knowledge.reload()
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

    # -- the policy document ---------------------------------------------------------------------

    def policy(self, brand_id: str) -> dict[str, Any]:
        brand = self.knowledge.brand(brand_id)
        return {
            "title": brand.settings.policy.title,
            "text": brand.policy_text,
            "sections": brand.settings.policy.sections,
        }

    async def policy_versions(self, brand_id: str) -> list[dict[str, Any]]:
        """The texts the policy had before its last saves (newest first): what an
        operator can load back into the editor and save again."""
        self.knowledge.brand(brand_id)
        return [
            {"id": v["id"], "replaced_at": v["at"], "replaced_by": v["author_name"], "text": v["content"]}
            for v in await self.store.policy_versions(brand_id)
        ]

    async def save_policy(self, user: User, brand_id: str, text: str) -> dict[str, Any]:
        """Write the policy; list what cites a section that changed: the intents,
        the replies.yaml templates (by key) and the record answers of
        brand.yaml's rules.sections, each of which may now say something else."""
        brand = self.knowledge.brand(brand_id)
        if not text.strip():
            raise InvalidPayload("the policy cannot be empty")
        before = split_sections(brand.policy_text, brand.settings.policy.sections)
        after = split_sections(text, brand.settings.policy.sections)
        changed = sorted(s for s in set(before) | set(after) if before.get(s) != after.get(s))
        await self.store.add_policy_version(
            {"brand": brand_id, "author_id": user.id, "at": isoformat(self.clock.now()), "content": brand.policy_text}
        )
        _write_atomically(brand.folder / brand.settings.policy.file, text)
        await self.knowledge.reload()
        review = sorted(i.name for i in brand.intents.values() if cites(i.policy_section, changed))
        replies = sorted(r.key for r in brand.replies.values() if cites(r.section, changed))
        answers = sorted(a for a, section in brand.settings.rules.sections.items() if cites(section, changed))
        return {
            "changed_sections": changed,
            "intents_to_review": review,
            "replies_to_review": replies,
            "record_answers_to_review": answers,
        }


def cites(section: str | None, changed: list[str]) -> bool:
    """Whether something resting on `section` rests on a changed one: the same
    section, one inside it (1.1 of 1) or the one it is inside (1 of 1.1)."""
    if not section:
        return False
    return any(section == s or section.startswith(s + ".") or s.startswith(section + ".") for s in changed)


def split_sections(text: str, sections: dict[str, str]) -> dict[str, str]:
    """The policy's text per section, found by the section titles of brand.yaml."""
    starts = []
    for number, title in sections.items():
        match = re.search(rf"^\s*{re.escape(number)}\.?\s+{re.escape(title)}", text, re.M | re.I)
        if match:
            starts.append((match.start(), number))
    starts.sort()
    parts = {}
    for (start, number), following in zip(starts, starts[1:] + [(len(text), None)], strict=True):
        parts[number] = " ".join(text[start : following[0]].split())
    return parts
