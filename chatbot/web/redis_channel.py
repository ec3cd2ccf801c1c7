"""A Redis pub/sub channel that a cluster's processes talk on: what the
presence (cluster_presence.py) and the operators' edits (cluster_intents.py)
share. `start()` opens the connection and waits until subscribed, so nothing
published after it passes this process by; a listener task hands each
message to `received()` and says `subscribed()` each time the subscription
is made again (redis-py subscribes again when it reconnects: what was
published in between is lost, pub/sub keeps nothing); `stop()` is bounded,
as a stop must never hang the server's shutdown.

The listener never stops: one that did would leave the process deaf for
good. A lost connection is retried with a doubling backoff, and an error in
a subclass's handler is logged and listening goes on."""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Any, Self

import redis.asyncio
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

STOP_SECONDS = 2.0
MAX_BACKOFF_SECONDS = 30.0


class RedisChannel:
    """Subclasses say what a message means (`received`) and what to do once
    subscribed again (`subscribed`); `tasks()` may add their own tasks."""

    what = "channel"  # for the logs: "the presence channel", ...

    def __init__(self, redis_url: str, channel: str, *more_channels: str) -> None:
        self.redis_url = redis_url
        self.channel = channel
        self.channels = (channel, *more_channels)
        self._redis: redis.asyncio.Redis | None = None
        self._pubsub: Any = None  # redis.asyncio.client.PubSub
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.stop()

    async def received(self, data: bytes) -> None:
        """A message arrived on the channel."""

    async def received_on(self, channel: bytes, data: bytes) -> None:
        """A message arrived on one of `channels` (subclasses that listen on more than one say which)."""
        await self.received(data)

    async def subscribed(self) -> None:
        """The subscription was made again after a lost connection."""

    async def start(self, timeout: float = 10) -> None:
        self._redis = redis.asyncio.Redis.from_url(self.redis_url)
        self._pubsub = self._redis.pubsub()
        try:
            await self._subscribe(timeout)
        except BaseException:
            await self._close()
            raise

    def listen(self, *others: asyncio.Task[None]) -> None:
        """Start the listener (and the subclass's `others`), once started."""
        self._tasks = [asyncio.create_task(self._listen()), *others]

    async def stop(self) -> None:
        await self._stop_tasks()
        await self._close()

    async def _stop_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=STOP_SECONDS)
        self._tasks = []

    async def _close(self) -> None:
        if self._pubsub is not None:
            await self._pubsub.aclose()
            self._pubsub = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def _subscribe(self, timeout: float) -> None:
        await self._pubsub.subscribe(*self.channels)
        deadline = asyncio.get_running_loop().time() + timeout
        confirmed = 0
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            message = await self._pubsub.get_message(timeout=left)
            if message is not None and message["type"] == "subscribe":
                confirmed += 1
                if confirmed == len(self.channels):
                    return
        raise TimeoutError(f"not subscribed to Redis channel {self.channel!r} after {timeout} s")

    async def send_text(self, text: str, timeout: float, channel: str | None = None) -> None:
        """On `channel`, by default the first. Raises RedisError, OSError or
        TimeoutError: the caller decides what a failure means."""
        assert self._redis is not None
        async with asyncio.timeout(timeout):
            await self._redis.publish(channel or self.channel, text)

    async def _listen(self) -> None:
        backoff = 1.0
        while True:
            try:
                async for message in self._pubsub.listen():
                    backoff = 1.0
                    if message["type"] == "message":
                        await self.received_on(message["channel"], message["data"])
                    elif message["type"] == "subscribe" and message["channel"] == self.channel.encode():
                        await self.subscribed()
                await self._pubsub.subscribe(*self.channels)  # the iteration ends only when unsubscribed
            except (RedisError, OSError) as error:
                log.warning("lost the %s %s (%s); listening again in %.0f s", self.what, self.channel, error, backoff)
            except Exception:  # whatever it was, a listener that stops leaves the process deaf for good
                log.exception("the listener on %s failed; listening again in %.0f s", self.channel, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
