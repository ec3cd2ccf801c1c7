"""The stored versions of intents and policies, and the files that follow them.

Every save of an intent or a policy is a version in the store, numbered under
a lock, and refused when it names a base version that is no longer the
latest (store/operator.py): two operators editing one version cannot both
win, whichever process each is on.

In a cluster the store is the record and each process's intent files a copy:
after a save, the others hear of it (web/cluster_intents.py carries the
`StoredVersion` over Redis) and `FileFollower` writes the stored text into
their own folder, when it differs, before the knowledge reloads; at start-up
and after a lost connection it catches up with every intent and policy. One
process alone (no Redis) never calls it: its files stay the record, as hand
edits to them expect."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..brands import Brand
from ..errors import StaleVersion
from ..knowledge import Knowledge
from ..store import Store, VersionConflict

log = logging.getLogger(__name__)
NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # an intent's name, and its file's


def write_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclass(frozen=True)
class StoredVersion:
    """A version just stored: of the intent `intent`, or of the brand's policy when it is None."""

    brand: str
    version: int
    intent: str | None = None

    def to_message(self) -> dict[str, Any]:
        what: dict[str, Any] = {"intent": self.intent} if self.intent is not None else {"policy": True}
        return {"brand": self.brand, **what, "version": self.version}

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> StoredVersion:
        """Raises KeyError, TypeError or ValueError on a message that is not one."""
        intent = message.get("intent")
        if intent is None and message.get("policy") is not True:
            raise ValueError("neither an intent nor the policy")
        return cls(str(message["brand"]), int(message["version"]), None if intent is None else str(intent))


# What the web edge hangs on the editor: told of each version once it is stored.
AfterVersionStored = Callable[[StoredVersion], Awaitable[None]]


def stale(conflict: VersionConflict, what: str) -> StaleVersion:
    """The 409 an operator sees: who saved what since the version their edit is based on."""
    latest = conflict.latest
    if latest is None:
        return StaleVersion(
            f"{what} has no stored version {conflict.base_version}: reload it to see the latest, and edit again"
        )
    return StaleVersion(
        f"{what} was changed meanwhile: version {latest['version']} by {latest.get('author_name') or 'someone'} "
        f"(at {latest['at']}) is the latest, and this edit is based on version {conflict.base_version}. "
        "Reload it to see that version, and edit again"
    )


class FileFollower:
    """Brings a process's intent files to the latest stored versions. Writes
    only what differs; the caller reloads the knowledge when anything did."""

    def __init__(self, knowledge: Knowledge, store: Store) -> None:
        self.knowledge = knowledge
        self.store = store

    async def follow(self, stored: StoredVersion) -> bool:
        """The file `stored` names brought to its latest version (a later one
        may have been stored meanwhile); whether it changed."""
        brand = self.knowledge.brands.get(stored.brand)
        if brand is None:
            return False
        if stored.intent is None:
            return await self._policy(brand)
        latest = await self.store.latest_intent_version(brand.id, stored.intent)
        return latest is not None and self._intent(brand, stored.intent, latest["content"])

    async def catch_up(self) -> bool:
        """Every intent and policy of every brand brought to its latest
        stored version; whether anything changed."""
        changed = False
        for brand in list(self.knowledge.brands.values()):
            for latest in await self.store.latest_intent_versions(brand.id):
                changed = self._intent(brand, latest["intent"], latest["content"]) or changed
            changed = await self._policy(brand) or changed
        return changed

    async def reload(self) -> bool:
        """Reload the knowledge; a failure keeps the intents it had (and is logged)."""
        try:
            await self.knowledge.reload()
        except Exception:
            log.exception("the intents stored by another process did not load; kept the previous ones")
            return False
        return True

    @staticmethod
    def _intent(brand: Brand, name: str, content: str | None) -> bool:
        live = brand.folder / "intents" / f"{name}.yaml"
        retired = brand.folder / "retired" / f"{name}.yaml"
        if not NAME.match(name):  # a stored name is one the editor accepted; never a path
            return False
        current = live.read_text(encoding="utf-8") if live.exists() else None
        if content is None:  # retired
            if current is None:
                return False
            write_atomically(retired, current)
            live.unlink()
            return True
        if current == content:
            return False
        write_atomically(live, content)
        retired.unlink(missing_ok=True)
        log.info("%s/%s brought to its latest stored version", brand.id, name)
        return True

    async def _policy(self, brand: Brand) -> bool:
        latest = await self.store.latest_policy_version(brand.id)
        if latest is None or latest["saved"] is None:  # saved before the text was stored: the files have it
            return False
        path = brand.folder / brand.settings.policy.file
        if path.exists() and path.read_text(encoding="utf-8") == latest["saved"]:
            return False
        write_atomically(path, latest["saved"])
        log.info("%s's policy brought to its latest stored version", brand.id)
        return True
