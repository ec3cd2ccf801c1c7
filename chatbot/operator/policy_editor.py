"""The policy document, edited from the console: read it, list its earlier
texts, save it (versioned, refused when based on a version someone replaced
since) and list what cites a section that changed. Part of the IntentEditor,
whose knowledge, store, clock, lock and hooks it shares."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from ..auth import User
from ..brands import Brand
from ..clock import Clock, isoformat
from ..errors import InvalidPayload
from ..knowledge import Knowledge
from ..store import Store, VersionConflict
from .stored import AfterVersionStored, FileFollower, StoredVersion, stale, write_atomically

log = logging.getLogger(__name__)


class PolicyEditing:
    """`follow_store`: the files follow the store (a cluster's process): each
    edit starts from the latest stored version, not from this process's file.
    `after_version_stored`: told of each version stored (the edge publishes it)."""

    knowledge: Knowledge
    store: Store
    clock: Clock
    files: FileFollower
    follow_store: bool
    after_version_stored: AfterVersionStored | None
    _lock: asyncio.Lock

    async def _stored(self, stored: StoredVersion) -> None:
        """A failure to tell is logged: the version is stored, and the others catch up on reconnecting."""
        if self.after_version_stored is None:
            return
        try:
            await self.after_version_stored(stored)
        except Exception:
            log.exception("could not announce version %s of %s", stored.version, stored.intent or "the policy")

    async def policy(self, brand_id: str) -> dict[str, Any]:
        """The policy as it is now, with its version (0: never saved here): the
        base a save names."""
        latest = await self.store.latest_policy_version(brand_id)  # before the text: never newer than it
        if self.follow_store:
            await self.follow_stored(StoredVersion(brand_id, 0))
        brand = self.knowledge.brand(brand_id)
        return {
            "title": brand.settings.policy.title,
            "text": brand.policy_text,
            "sections": brand.settings.policy.sections,
            "version": latest["version"] if latest else 0,
        }

    async def follow_stored(self, stored: StoredVersion | None = None) -> bool:
        """The file `stored` names (None: every intent's and policy's) brought
        to its latest stored version, and the knowledge reloaded if that changed
        anything (a cluster's process, told of another's save or catching up)."""
        async with self._lock:
            return await self._follow(stored)

    async def _follow(self, stored: StoredVersion | None) -> bool:
        """follow_stored, under the lock."""
        changed = await (self.files.follow(stored) if stored else self.files.catch_up())
        if changed:
            await self.files.reload()
        return changed

    async def policy_versions(self, brand_id: str) -> list[dict[str, Any]]:
        """The texts the policy had before its last saves (newest first): what an
        operator can load back into the editor and save again."""
        self.knowledge.brand(brand_id)
        return [
            {"id": v["id"], "replaced_at": v["at"], "replaced_by": v["author_name"], "text": v["content"]}
            for v in await self.store.policy_versions(brand_id)
        ]

    async def save_policy(
        self, user: User, brand_id: str, text: str, base_version: int | None = None
    ) -> dict[str, Any]:
        """Write the policy; list what cites a section that changed: the intents,
        the replies.yaml templates (by key) and the record answers of
        brand.yaml's rules.sections, each of which may now say something else.
        With `base_version`, refused (409) unless that is the latest version."""
        if not text.strip():
            raise InvalidPayload("the policy cannot be empty")
        async with self._lock:
            if self.follow_store:
                await self._follow(StoredVersion(brand_id, 0))
            brand = self.knowledge.brand(brand_id)
            record = {"brand": brand_id, "author_id": user.id, "at": isoformat(self.clock.now())}
            try:
                version = await self.store.add_policy_version(
                    {**record, "content": brand.policy_text, "saved": text}, base_version
                )
            except VersionConflict as conflict:
                raise stale(conflict, "the policy") from None
            write_atomically(brand.folder / brand.settings.policy.file, text)
            await self.knowledge.reload()
        await self._stored(StoredVersion(brand_id, version))
        return {"version": version, **_to_review(brand.policy_text, text, brand)}


def _to_review(before_text: str, after_text: str, brand: Brand) -> dict[str, Any]:
    before = split_sections(before_text, brand.settings.policy.sections)
    after = split_sections(after_text, brand.settings.policy.sections)
    changed = sorted(s for s in set(before) | set(after) if before.get(s) != after.get(s))
    return {
        "changed_sections": changed,
        "intents_to_review": sorted(i.name for i in brand.intents.values() if cites(i.policy_section, changed)),
        "replies_to_review": sorted(r.key for r in brand.replies.values() if cites(r.section, changed)),
        "record_answers_to_review": sorted(
            a for a, section in brand.settings.rules.sections.items() if cites(section, changed)
        ),
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
