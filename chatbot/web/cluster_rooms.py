"""Which processes of a cluster have members in which rooms, so that an emit
crosses to the processes that have someone to deliver it to, and to no other.

python-socketio's Redis manager publishes every emit on one channel that
every process receives and decodes: with N processes each message costs N
receptions, and most have nobody to deliver to (a bot conversation has no
agent in its /agent room; a customer's tabs are together behind the
proxy's affinity). Measured here, that broadcast tax decided the cluster's
cost (docs/benchmarks.md). Socket.IO's own answer is its sharded Redis
adapter (a channel per room); this is the same idea with one channel per
process: each process announces the rooms it has members in, keeps what
the others announce, and sends an emit to a room on the channels of the
processes listed for it. Nobody elsewhere: delivered here, nothing crosses.

The announcements, on one directory channel (JSON):
- `changes`: rooms this process now has members in (`joined`) or no longer
  (`left`). A first member's join is published before its connect returns
  (`announce_joins`), so the others know of it before the client can do
  anything; leaves go out in the background (a stale entry costs a useless
  publish). A failed announcement is made good by a whole `snapshot`, sent
  again every second until it goes through.
- `hello` from a process that (re)subscribes; everyone answers with a
  `snapshot` of its rooms, which replaces what it said before.
- `goodbye` on a clean stop; a killed process's entries go when the
  presence board takes it for gone (`process_left`).

Pub/sub is at most once, and an announcement and an emit travel
independently, so one process may deliver a message here alone in the
moment another's client is joining the room. The message is stored (every
emitted message has a `seq`) and the joining client fetched the history when
it joined; what was emitted between that and the announcement arriving is
covered by a `resync`: a process that hears a room arrive elsewhere, and
delivered to that room alone within `RECENT_SECONDS`, tells the arriving
process's members to fetch what they missed (the same event as after a
Redis restart). A process that loses the directory channel asks all its
clients to resync once it hears again."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from collections.abc import Set as AbstractSet
from typing import Any

from redis.exceptions import RedisError

from .redis_channel import RedisChannel

log = logging.getLogger(__name__)

CHANNEL = "chatbot:rooms"
SEND_SECONDS = 2.0
RETRY_SECONDS = 1.0  # a failed announcement is sent again (as a snapshot) this often
RECENT_SECONDS = 60.0  # an alone delivery this recent to a room that arrives elsewhere asks for a resync

Room = tuple[str, str]  # (namespace, room)
NOBODY: frozenset[str] = frozenset()


class RoomDirectory(RedisChannel):
    """`local_rooms()`: the routed rooms this process has members in now.
    `deliver(message)`: an emit another process sent here (python-socketio's
    message dict). `resync(process, rooms)`: ask that process's members of
    `rooms` to fetch what they missed.
    `resubscribed()`: this process heard nothing for a while."""

    what = "room directory"

    def __init__(
        self,
        redis_url: str,
        process_id: str,
        *,
        local_rooms: Callable[[], Iterable[Room]],
        deliver: Callable[[dict[str, Any]], Awaitable[None]],
        resync: Callable[[str, list[Room]], Awaitable[None]],
        resubscribed: Callable[[], Awaitable[None]],
        channel: str = CHANNEL,
    ) -> None:
        super().__init__(redis_url, channel, self.inbox(channel, process_id))
        self.process_id = process_id
        self._local_rooms = local_rooms
        self._deliver = deliver
        self._resync = resync
        self._resubscribed = resubscribed
        self._elsewhere: dict[Room, set[str]] = {}  # room → the other processes with members in it
        self._rooms_of: dict[str, set[Room]] = {}  # process → its rooms
        self._changes: dict[Room, bool] = {}  # not yet announced: room → whether we have members now
        self._changed = asyncio.Event()
        self._announcing = asyncio.Lock()  # announcements leave in the order they were made
        self._lost = False  # an announcement failed: the next one is a whole snapshot
        self._alone: dict[Room, float] = {}  # room → when last delivered here alone (loop time)
        self._alone_pruned = 0.0

    @staticmethod
    def inbox(channel: str, process_id: str) -> str:
        return f"{channel}#{process_id}"

    # -- what the manager asks --------------------------------------------------------------------

    def elsewhere(self, namespace: str, room: str) -> AbstractSet[str]:
        """The other processes with members in the room (a view: `send_to` copies it before it waits)."""
        return self._elsewhere.get((namespace, room)) or NOBODY

    def delivered_alone(self, namespace: str, room: str) -> None:
        now = asyncio.get_running_loop().time()
        self._alone[(namespace, room)] = now
        if now - self._alone_pruned > RECENT_SECONDS:
            self._alone = {room: at for room, at in self._alone.items() if now - at < RECENT_SECONDS}
            self._alone_pruned = now

    def here_changed(self, namespace: str, room: str, present: bool) -> None:
        self._changes[(namespace, room)] = present
        self._changed.set()

    async def announce_joins(self) -> None:
        """A client's first joins, announced before its connect completes;
        in the background while announcements fail (a Redis that is away
        must not hold every connect for the send's timeout)."""
        if self._lost:
            self._changed.set()
        else:
            await self.flush()

    async def flush(self) -> None:
        """Announce the changes made so far, now."""
        async with self._announcing:
            if self._lost:
                self._changes.clear()
                self._lost = not await self._send(self._snapshot())
                return
            if not self._changes:
                return
            changes, self._changes = self._changes, {}
            joined = [list(room) for room, present in changes.items() if present]
            left = [list(room) for room, present in changes.items() if not present]
            self._lost = not await self._send({"kind": "changes", "joined": joined, "left": left})

    async def send_to(self, processes: Iterable[str], text: str) -> None:
        """An emit to the processes that have members in its room. A failure
        is logged: the receivers' clients fill the gap at the next message
        (seq) or when they are told to resync."""
        assert self._redis is not None
        for process in list(processes):  # the set changes when an announcement arrives meanwhile
            try:
                async with asyncio.timeout(SEND_SECONDS):
                    await self._redis.publish(self.inbox(self.channel, process), text)
            except (RedisError, OSError, TimeoutError) as error:
                log.warning("could not send an emit to process %s: %s", process, error)

    def process_left(self, process: str) -> None:
        """The presence board takes `process` for gone (its goodbye, or silent for a TTL)."""
        for room in self._rooms_of.pop(process, set()):
            self._forget(room, process)

    # -- the channel ------------------------------------------------------------------------------

    async def start(self, timeout: float = 10) -> None:
        await super().start(timeout)
        self.listen(asyncio.create_task(self._announce_changes()))
        await self._send({"kind": "hello"})

    async def stop(self) -> None:
        await self._stop_tasks()
        if self._redis is not None:
            await self._send({"kind": "goodbye"})
        await self._close()

    async def subscribed(self) -> None:
        """Heard again after a lost connection: what was sent here meanwhile
        is lost, so this process's clients resync; the others are asked for
        their rooms and told ours."""
        await self._resubscribed()
        await self._send({"kind": "hello"})
        async with self._announcing:
            self._changes.clear()
            self._lost = not await self._send(self._snapshot())

    async def received_on(self, channel: bytes, data: bytes) -> None:
        """Never raises: a listener that stopped would leave this process deaf."""
        try:
            message = json.loads(data)
            if channel != self.channel.encode():
                await self._deliver(message)
            else:
                await self._heard(str(message["process"]), message)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            log.warning("ignored a malformed message on %s: %r", channel, error)
        except Exception:
            log.exception("could not handle a message on %s", channel)

    async def _heard(self, sender: str, message: dict[str, Any]) -> None:
        kind = message["kind"]
        if sender == self.process_id:
            return
        if kind == "hello":
            async with self._announcing:
                await self._send(self._snapshot())
        elif kind == "changes":
            arrived = [room for room in _rooms(message["joined"]) if self._remember(room, sender)]
            for room in _rooms(message["left"]):
                self._forget(room, sender)
                self._rooms_of.get(sender, set()).discard(room)
            await self._resync_if_missed(sender, arrived)
        elif kind == "snapshot":
            rooms = set(_rooms(message["rooms"]))
            for room in self._rooms_of.get(sender, set()) - rooms:
                self._forget(room, sender)
            arrived = [room for room in rooms if self._remember(room, sender)]
            self._rooms_of[sender] = rooms
            await self._resync_if_missed(sender, arrived)
        elif kind == "goodbye":
            self.process_left(sender)

    def _remember(self, room: Room, process: str) -> bool:
        """True when the room is new for that process."""
        self._rooms_of.setdefault(process, set()).add(room)
        processes = self._elsewhere.setdefault(room, set())
        if process in processes:
            return False
        processes.add(process)
        return True

    def _forget(self, room: Room, process: str) -> None:
        processes = self._elsewhere.get(room)
        if processes is not None:
            processes.discard(process)
            if not processes:
                del self._elsewhere[room]

    async def _resync_if_missed(self, process: str, arrived: list[Room]) -> None:
        """The rooms that arrived on `process` and that this process
        delivered to alone lately: their members there may have missed it."""
        now = asyncio.get_running_loop().time()
        missed = [room for room in arrived if now - self._alone.get(room, -RECENT_SECONDS) < RECENT_SECONDS]
        if missed:
            await self._resync(process, missed)

    def _snapshot(self) -> dict[str, Any]:
        return {"kind": "snapshot", "rooms": [list(room) for room in self._local_rooms()]}

    async def _send(self, message: dict[str, Any]) -> bool:
        try:
            await self.send_text(json.dumps({**message, "process": self.process_id}), SEND_SECONDS)
            return True
        except (RedisError, OSError, TimeoutError) as error:
            log.warning("could not announce %s on %s: %s", message["kind"], self.channel, error)
            return False

    async def _announce_changes(self) -> None:
        """Leaves and the joins of room commands, soon after they happen."""
        while True:
            await self._changed.wait()
            self._changed.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("could not announce this process's rooms on %s", self.channel)
            if self._lost:  # tried again, as a whole snapshot, until it goes through
                await asyncio.sleep(RETRY_SECONDS)
                self._changed.set()


def _rooms(items: list[Any]) -> list[Room]:
    return [(str(namespace), str(room)) for namespace, room in items]
