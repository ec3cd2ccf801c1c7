"""An operator's edit of an intent or a policy reaching every process of a
cluster, over Redis pub/sub: the edge's half. The domain's half is
chatbot/operator/stored.py: the versions are in the store (a save names the
version it was made on, and a stale one is refused there), and each
process's files follow the latest stored version.

After a version is stored, the saving process publishes
`{"brand", "intent" | "policy": true, "version"}` (JSON) on one channel.
Every process listens; on a message it reads the latest version from the
store, writes it into its own intents folder when it differs, and reloads
its knowledge (a reload that fails keeps the intents it had). Pub/sub keeps
nothing (at most once), so a process catches up with the store, every intent
and policy, when it starts, whenever its subscription comes back after a
lost connection, and every `catch_up_seconds` anyway (a publish that failed
on the saving side). Whoever can publish on the channel makes processes read
the store, nothing more: the content always comes from the store."""

from __future__ import annotations

import asyncio
import json
import logging

from redis.exceptions import RedisError

from ..operator.intent_editor import IntentEditor
from ..operator.stored import StoredVersion
from .redis_channel import RedisChannel

log = logging.getLogger(__name__)

CHANNEL = "chatbot:intents"
CATCH_UP_SECONDS = 60.0  # the store read however quiet the channel: a lost publish is made good by then
PUBLISH_SECONDS = 2.0  # a save does not wait longer on a Redis that is gone


class ClusterIntents(RedisChannel):
    """Connects `editor` to the other processes' editors through the Redis at
    `redis_url`: `start()` (subscribed, caught up, hooked into the editor)
    and `stop()`, or `async with`."""

    what = "intents channel"

    def __init__(
        self,
        editor: IntentEditor,
        redis_url: str,
        *,
        channel: str = CHANNEL,
        catch_up_seconds: float = CATCH_UP_SECONDS,
    ) -> None:
        super().__init__(redis_url, channel)
        self.editor = editor
        self.catch_up_seconds = catch_up_seconds

    async def start(self, timeout: float = 10) -> None:
        """Subscribed before catching up, so no edit falls between the two."""
        await super().start(timeout)
        try:
            self.editor.follow_store = True  # each edit starts from the latest stored version
            await self._catch_up()
        except BaseException:
            await self._close()
            raise
        self.editor.after_version_stored = self.publish
        self.listen(asyncio.create_task(self._catch_up_now_and_then()))

    async def stop(self) -> None:
        if self.editor.after_version_stored == self.publish:
            self.editor.after_version_stored = None
        await super().stop()

    async def publish(self, stored: StoredVersion) -> None:
        """The editor's hook, after a version is stored. A failure is logged,
        not raised: the save stands, and the others catch up later."""
        if self._redis is None:
            return
        try:
            await self.send_text(json.dumps(stored.to_message()), PUBLISH_SECONDS)
        except (RedisError, OSError, TimeoutError) as error:
            log.warning("could not announce %s on %s: %s", stored.to_message(), self.channel, error)

    async def subscribed(self) -> None:
        """Subscribed again after a lost connection: catch up with what was published meanwhile."""
        await self._catch_up()

    async def received(self, data: bytes) -> None:
        await self._received(data)

    async def _catch_up(self) -> None:
        if await self.editor.follow_stored():
            log.info("intents brought to the store's latest versions")

    async def _catch_up_now_and_then(self) -> None:
        while True:
            await asyncio.sleep(self.catch_up_seconds)
            try:
                await self._catch_up()
            except Exception:
                log.exception("could not catch up with the stored intent versions")

    async def _received(self, data: bytes) -> None:
        """Never raises: a listener that stopped on one bad message would leave
        this process's intents behind for good."""
        try:
            stored = StoredVersion.from_message(json.loads(data))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            log.warning("ignored a malformed message on %s: %r", self.channel, error)
            return
        try:
            if await self.editor.follow_stored(stored):
                log.info("%s of %s: version %s loaded", stored.intent or "the policy", stored.brand, stored.version)
        except Exception:
            log.exception("could not bring %s to version %s", stored.intent or "the policy", stored.version)
