"""Agents' presence and customers' tabs across the server's processes, over
Redis pub/sub: the edge's half of the cluster's presence. The domain's half is
chatbot/handoff/presence.py (PresenceBoard), which merges what this carries,
decides what it means (expiry, drops, departures) by the desk's clock, and
keeps its reads synchronous and free of Redis.

Each process publishes what changed in its own presence (JSON: its agents
and the tabs of the conversations that changed) on one channel soon after a
change (changes close together go out as one), its whole snapshot every
`heartbeat_seconds`, and feeds the others' to its board. A process with
thousands of customers online sends one conversation's tabs when one tab
opens, not all of them: each of N processes decodes what the N-1 others
send. A process that starts says `hello` and everyone answers with their
snapshot, so it knows the cluster at once; one that stops cleanly says
`goodbye`, so the others stop counting its agents at once instead of after
the TTL.

Pub/sub keeps nothing (at most once): a lost change is made good by the
next heartbeat's snapshot, and a listener that loses Redis listens again
with a backoff and says hello again. Whoever can publish on the channel can fake presence,
so Redis stays on a private network behind a password, as for the rooms
(shared/design/scale-out.md, section 2)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import uuid
from typing import Any

from redis.exceptions import RedisError

from ..auth import User
from ..clock import isoformat, parse_iso
from ..handoff.presence import STATUSES, Presence, PresenceBoard, Snapshot
from .redis_channel import RedisChannel

log = logging.getLogger(__name__)

CHANNEL = "chatbot:presence"
HEARTBEAT_SECONDS = 5.0  # a third of the board's PRESENCE_TTL: three heartbeats may be lost
COALESCE_SECONDS = 0.1  # at most one snapshot per this, however busy the process
GOODBYE_SECONDS = 2.0  # a stop does not wait longer on a Redis that is gone


def new_process_id() -> str:
    """Unique to this start of this process: a goodbye'd id is never heard again."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def encode_snapshot(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "kind": "snapshot",
        "agents": [_encode_agent(presence) for presence in snapshot.agents.values()],
        "tabs": {str(conversation_id): tabs for conversation_id, tabs in snapshot.customer_tabs.items()},
    }


def encode_changes(changes: Snapshot) -> dict[str, Any]:
    """`PresenceBoard.local_changes`: every agent, the changed conversations' tabs (0: none left)."""
    return {**encode_snapshot(changes), "kind": "changes"}


def decode_changes(message: dict[str, Any]) -> Snapshot:
    """As decode_snapshot, keeping the conversations with 0 tabs (gone from that process)."""
    agents = {presence.user.id: presence for presence in map(_decode_agent, message["agents"])}
    tabs = {int(conversation_id): max(0, int(count)) for conversation_id, count in message["tabs"].items()}
    return Snapshot(agents, tabs)


def _encode_agent(presence: Presence) -> dict[str, Any]:
    user = presence.user
    return {
        "id": user.id,
        "brand": user.brand,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "is_supervisor": user.is_supervisor,
        "status": presence.status,
        "status_at": isoformat(presence.status_at) if presence.status_at else None,
        "sockets": presence.sockets,
        "dropped_at": isoformat(presence.dropped_at) if presence.dropped_at else None,
    }


def decode_snapshot(message: dict[str, Any]) -> Snapshot:
    """Raises ValueError, KeyError or TypeError on a message that is not a snapshot."""
    agents = {}
    for item in message["agents"]:
        presence = _decode_agent(item)
        agents[presence.user.id] = presence
    tabs = {int(conversation_id): int(count) for conversation_id, count in message["tabs"].items()}
    return Snapshot(agents, {conversation_id: count for conversation_id, count in tabs.items() if count > 0})


def _decode_agent(item: dict[str, Any]) -> Presence:
    if item["status"] not in STATUSES:
        raise ValueError(f"unknown status {item['status']!r}")
    user = User(
        id=int(item["id"]),
        brand=str(item["brand"]),
        email=str(item["email"]),
        name=str(item["name"]),
        role=str(item["role"]),
        is_supervisor=bool(item["is_supervisor"]),
    )
    return Presence(
        user,
        status=item["status"],
        sockets=max(0, int(item["sockets"])),
        dropped_at=parse_iso(item["dropped_at"]) if item["dropped_at"] else None,
        status_at=parse_iso(item["status_at"]) if item["status_at"] else None,
    )


class ClusterPresence(RedisChannel):
    """Connects `board` to the other processes' boards through the Redis at
    `redis_url`. `start()` and `stop()`, or `async with`: for an aiohttp
    cleanup context, started before the desk's recovery and stopped after
    the sockets are closed. `stop(goodbye=False)` falls silent the way a
    killed process does (for tests)."""

    what = "presence channel"

    def __init__(
        self,
        board: PresenceBoard,
        redis_url: str,
        process_id: str | None = None,
        *,
        channel: str = CHANNEL,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        coalesce_seconds: float = COALESCE_SECONDS,
    ) -> None:
        super().__init__(redis_url, channel)
        self.board = board
        self.process_id = process_id or new_process_id()
        self.heartbeat_seconds = heartbeat_seconds
        self.coalesce_seconds = coalesce_seconds
        self._to_publish = asyncio.Event()
        self._whole_due = True  # the next publication is our whole snapshot, not the changes
        self._said_goodbye: set[str] = set()  # their later messages are stale: ignored

    async def start(self, timeout: float = 10) -> None:
        """Subscribed before it says hello, so no answer passes it by."""
        await super().start(timeout)
        self.board.on_local_change = self._to_publish.set
        self._to_publish.set()  # our own snapshot right after the hello
        self.listen(asyncio.create_task(self._publish_changes()))
        await self._send({"kind": "hello"})

    async def stop(self, *, goodbye: bool = True) -> None:
        """Publishing stops before the goodbye, so nothing of ours follows it."""
        if self.board.on_local_change == self._to_publish.set:
            self.board.on_local_change = None
        await self._stop_tasks()
        if goodbye and self._redis is not None:
            await self._send({"kind": "goodbye"})
        await self._close()

    async def received(self, data: bytes) -> None:
        self._received(data)

    async def subscribed(self) -> None:
        """Subscribed again after a lost connection: hello again, to hear the
        cluster at once, and our whole snapshot (changes may have been lost)."""
        await self._send({"kind": "hello"})
        self._whole_due = True
        self._to_publish.set()

    async def _send(self, message: dict[str, Any]) -> None:
        """Failures are logged, not raised: the next heartbeat tries again."""
        try:
            await self.send_text(json.dumps({**message, "process": self.process_id}), GOODBYE_SECONDS)
        except (RedisError, OSError, TimeoutError) as error:
            log.warning("could not publish %s on %s: %s", message["kind"], self.channel, error)
            self._whole_due = True  # what changed meanwhile goes out whole, next

    async def _publish_changes(self) -> None:
        """What changed, soon after a change; our whole snapshot every
        heartbeat, and at once for a process that says hello. It
        never stops on an error: a process that falls silent is taken for
        dead, and its agents' chats go back to the queue."""
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11, wait_for can swallow a cancellation that
            # arrives as the wait ends (gh-86296), and this loop then never stopped
            try:
                async with asyncio.timeout(self.heartbeat_seconds):
                    await self._to_publish.wait()
            except TimeoutError:
                self._whole_due = True  # the heartbeat: everything, which makes good a lost change
            self._to_publish.clear()
            try:
                if self._whole_due:
                    self._whole_due = False
                    await self._send(encode_snapshot(self.board.local_snapshot()))
                else:
                    await self._send(encode_changes(self.board.local_changes()))
            except Exception:
                log.exception("could not publish this process's presence on %s", self.channel)
            await asyncio.sleep(self.coalesce_seconds)  # the changes meanwhile go out together, next

    def _received(self, data: bytes) -> None:
        """Never raises: a listener that stopped on one bad message would leave
        this process deaf to the cluster for good."""
        try:
            message = json.loads(data)
            self._handle(str(message["process"]), message["kind"], message)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            log.warning("ignored a malformed message on %s: %r", self.channel, error)
        except Exception:
            log.exception("could not handle a message on %s", self.channel)

    def _handle(self, sender: str, kind: str, message: dict[str, Any]) -> None:
        if sender == self.process_id:
            self.board.channel_heard()
        elif kind == "hello":
            self._said_goodbye.discard(sender)  # started again under the same id
            self.board.channel_heard()
            self._whole_due = True
            self._to_publish.set()
        elif sender in self._said_goodbye:
            return  # sent before its goodbye, arrived after it
        elif kind == "snapshot":
            self.board.merge(sender, decode_snapshot(message))
        elif kind == "changes":
            self.board.merge_changes(sender, decode_changes(message))
        elif kind == "goodbye":
            self._said_goodbye.add(sender)
            self.board.forget(sender)
