"""Socket.IO rooms, and the Events interface built on them: how the domain's
messages reach the right sockets on /chat and /agent."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import socketio
from socketio.packet import Packet

from ..auth import hash_token

if TYPE_CHECKING:
    from .cluster_rooms import RoomDirectory

CHAT = "/chat"
AGENT = "/agent"


def session_room(token: str) -> str:
    return f"session:{hash_token(token)}"


def conversation_room(conversation_id: int) -> str:
    return f"conversation:{conversation_id}"


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def agent_room(agent_id: int) -> str:
    return f"agent:{agent_id}"


def brand_agents_room(brand: str) -> str:
    return f"agents:{brand}"


ROUTED_KINDS = ("conversation:", "agent:", "agents:")


def routed(room: Any) -> bool:
    """The rooms the app emits to, whose members a cluster's processes
    announce to each other (cluster_rooms.py). The session and user rooms
    only carry room commands (a logout), which go to every process; a
    socket's own room (its sid) is not announced: an emit to a socket
    elsewhere goes to every process."""
    return isinstance(room, str) and room.startswith(ROUTED_KINDS)


async def disconnect_room(sio: socketio.AsyncServer, room: str) -> None:
    """Disconnect every socket in `room`, on every namespace and every process."""
    await sio.manager.disconnect_members(room)


class SocketEvents:
    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio

    async def to_customer(self, conversation_id: int, event: str, data: Any) -> None:
        await self.sio.emit(event, data, room=conversation_room(conversation_id), namespace=CHAT)

    async def to_conversation(self, conversation_id: int, event: str, data: Any) -> None:
        await self.sio.emit(event, data, room=conversation_room(conversation_id), namespace=CHAT)
        await self.sio.emit(event, data, room=conversation_room(conversation_id), namespace=AGENT)

    async def to_agents(self, brand: str, event: str, data: Any) -> None:
        await self.sio.emit(event, data, room=brand_agents_room(brand), namespace=AGENT)

    async def to_agent(self, agent_id: int, event: str, data: Any) -> None:
        await self.sio.emit(event, data, room=agent_room(agent_id), namespace=AGENT)

    async def agent_holds(self, agent_id: int, conversation_id: int, holds: bool) -> None:
        """The agent's consoles, wherever they are connected, join or leave the conversation."""
        await self.sio.manager.move_members(AGENT, agent_room(agent_id), conversation_room(conversation_id), holds)


class RoomIndex:
    """The rooms of each client, kept beside python-socketio's own rooms, and
    the two room commands the app needs: move a room's members into or out of
    another room, and disconnect a room's members. Mixed into a manager.

    The stock manager finds a client's rooms by scanning every room of the
    namespace, so each disconnect costs O(all rooms): 9 ms of blocked loop per
    disconnect with 10,000 customers online (four rooms each), and minutes when
    they all drop at once (a restart, a network blip). Here a disconnect leaves
    only the client's own rooms. Everything else is the stock manager's, and
    tests/test_rooms.py checks both keep the same rooms through random
    sequences of joins, leaves, closes and disconnects."""

    rooms: dict[str, dict[Any, dict[str, Any]]]
    callbacks: dict[str, Any]
    pending_connect: dict[str, Any]
    pending_disconnect: dict[str, Any]
    server: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rooms_of: dict[tuple[str, str], dict[Any, None]] = {}  # (namespace, sid) -> rooms, in join order

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: str | None = None) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)  # type: ignore[misc]
        self._rooms_of.setdefault((namespace, sid), {})[room] = None

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)  # type: ignore[misc]
        rooms = self._rooms_of.get((namespace, sid))
        if rooms is not None:
            rooms.pop(room, None)
            if not rooms:
                del self._rooms_of[(namespace, sid)]

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        if namespace not in self.rooms:
            return
        for room in list(self._rooms_of.get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            sids = pending.get(namespace)
            if sids and sid in sids:
                sids.remove(sid)
                if not sids:
                    del pending[namespace]

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        return [room for room in self._rooms_of.get((namespace, sid), ()) if room is not None]

    def _anyone_in(self, namespace: str, room: str | int, skip_sid: Any) -> bool:
        members = self.rooms.get(namespace, {}).get(room)
        if not members:
            return False
        skipped = skip_sid if isinstance(skip_sid, list) else (skip_sid,)
        return any(sid not in skipped for sid in members)

    async def _move_local_members(self, namespace: str, members_room: str, room: str, enter: bool) -> None:
        for sid in list(self.rooms.get(namespace, {}).get(members_room, {})):
            if enter:
                self.basic_enter_room(sid, namespace, room)
            else:
                self.basic_leave_room(sid, namespace, room)

    async def _disconnect_local_members(self, room: str) -> None:
        for namespace in list(self.rooms):
            for sid in list(self.rooms[namespace].get(room, {})):
                await self.server.disconnect(sid, namespace=namespace, ignore_queue=True)


class IndexedRoomManager(RoomIndex, socketio.AsyncManager):
    """One process: python-socketio's in-memory manager with the room index."""

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        """The stock emit encodes the packet before it looks for recipients,
        and most of ours have none: each customer message goes to the
        conversation's agents and to the customer's other tabs, usually
        nobody. An emit to one room with nobody in it (but those skipped) is
        dropped before the encoding."""
        target = to or room
        if isinstance(target, (str, int)) and not self._anyone_in(namespace, target, skip_sid):
            return
        await super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to, **kwargs)

    async def move_members(self, namespace: str, members_room: str, room: str, enter: bool) -> None:
        await self._move_local_members(namespace, members_room, room, enter)

    async def disconnect_members(self, room: str) -> None:
        await self._disconnect_local_members(room)


ROOM_COMMAND = "\x00room-command"  # an event name no client can send (the wire's are plain words)


class RedisRoomManager(RoomIndex, socketio.AsyncRedisManager):
    """Many processes: python-socketio's Redis manager with the room index,
    and three changes:
    - once the room directory is running (cluster_rooms.py), an emit to a
      routed room is delivered here and sent only to the processes that have
      members in it; to nobody else when none has. An emit to a socket of
      this process stays here. Anything else (a broadcast, a socket
      elsewhere, an emit with a callback) is python-socketio's: published to
      every process;
    - the empty-room shortcut runs where the recipients are: a process with
      nobody in the room drops the message before delivering it;
    - the room commands ride python-socketio's channel as an emit to the
      room whose members they act on; each process carries them out on its
      own sockets (python-socketio's get_participants sees only this process's)."""

    directory: RoomDirectory | None = None

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        target, namespace = to or room, namespace or "/"
        directory = self.directory
        if directory is None or callback is not None or kwargs.get("ignore_queue") or not isinstance(target, str):
            await super().emit(event, data, namespace, room=target, skip_sid=skip_sid, callback=callback, **kwargs)
        elif routed(target):
            elsewhere = directory.elsewhere(namespace, target)
            if elsewhere and Packet.data_is_binary([data]):  # python-socketio's own encoding, to every process
                await super().emit(event, data, namespace, room=target, skip_sid=skip_sid, **kwargs)
                return
            if self._anyone_in(namespace, target, skip_sid):
                await socketio.AsyncManager.emit(self, event, data, namespace=namespace, room=target, skip_sid=skip_sid)
            if elsewhere:
                text = self.json.dumps(self._emit_message(event, data, namespace, target, skip_sid))
                await directory.send_to(elsewhere, text)
            else:
                directory.delivered_alone(namespace, target)
        elif self.is_connected(target, namespace):
            await socketio.AsyncManager.emit(self, event, data, namespace=namespace, to=target)
        else:
            await super().emit(event, data, namespace, room=target, skip_sid=skip_sid, callback=callback, **kwargs)

    def _emit_message(self, event: str, data: Any, namespace: str, room: str, skip_sid: Any) -> dict[str, Any]:
        """python-socketio's message for an emit without a callback, as its receivers read it."""
        return {
            "method": "emit",
            "event": event,
            "data": list(data) if isinstance(data, tuple) else [data],
            "binary": False,
            "namespace": namespace,
            "room": room,
            "skip_sid": skip_sid,
            "callback": None,
            "host_id": self.host_id,
        }

    async def enter_room(self, sid: str, namespace: str, room: Any, eio_sid: str | None = None) -> None:
        """A first member here is announced before this returns (before the
        client's connect completes): the other processes send to this one from then on."""
        await super().enter_room(sid, namespace, room, eio_sid=eio_sid)
        if self.directory is not None and routed(room):
            await self.directory.announce_joins()

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: str | None = None) -> None:
        first = self.directory is not None and routed(room) and not self.rooms.get(namespace, {}).get(room)
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        if first and self.directory is not None:
            self.directory.here_changed(namespace, room, True)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)
        if self.directory is not None and routed(room) and not self.rooms.get(namespace, {}).get(room):
            self.directory.here_changed(namespace, room, False)

    def routed_rooms(self) -> list[tuple[str, str]]:
        """The routed rooms this process has members in (for the directory's snapshots)."""
        return [(namespace, room) for namespace, rooms in self.rooms.items() for room in rooms if routed(room)]

    async def deliver(self, message: dict[str, Any]) -> None:
        """An emit another process sent to this one (through the directory)."""
        await self._handle_emit(message)

    async def resync_there(self, process: str, rooms: list[tuple[str, str]]) -> None:
        """Tell another process's members of `rooms` to fetch what they missed."""
        if self.directory is None:
            return
        for namespace, room in rooms:
            message = self._emit_message("resync", {}, namespace, room, None)
            await self.directory.send_to([process], self.json.dumps(message))

    async def resync_here(self) -> None:
        """Tell every client of this process to fetch what it missed."""
        for namespace in list(self.rooms):
            await socketio.AsyncManager.emit(self, "resync", {}, namespace=namespace)

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        namespace, room = message.get("namespace") or "/", message.get("room")
        if message.get("event") == ROOM_COMMAND:
            await self._carry_out(namespace, room, message["data"][0])
            return
        if isinstance(room, (str, int)) and not self._anyone_in(namespace, room, message.get("skip_sid")):
            return
        await super()._handle_emit(message)

    async def _carry_out(self, namespace: str, room: Any, command: dict[str, Any]) -> None:
        if command["do"] == "move":
            await self._move_local_members(namespace, room, command["room"], command["enter"])
        elif command["do"] == "disconnect":
            await self._disconnect_local_members(room)

    async def _command(self, namespace: str, room: str, command: dict[str, Any]) -> None:
        """Here at once, then on every other process."""
        await self._carry_out(namespace, room, command)
        await self._publish(
            {
                "method": "emit",
                "event": ROOM_COMMAND,
                "data": [command],
                "namespace": namespace,
                "room": room,
                "skip_sid": None,
                "callback": None,
                "host_id": self.host_id,
            }
        )

    async def move_members(self, namespace: str, members_room: str, room: str, enter: bool) -> None:
        await self._command(namespace, members_room, {"do": "move", "room": room, "enter": enter})

    async def disconnect_members(self, room: str) -> None:
        await self._command("/", room, {"do": "disconnect"})

    def _redis_connect(self) -> None:
        """python-socketio connects again after losing Redis (its listener
        retries with a backoff). Whatever was published meanwhile is lost:
        pub/sub keeps nothing. Once subscribed again, this process's clients
        are told to `resync`: each fetches what it missed after the last
        `seq` it saw (the widget and the console do so by themselves too
        when a message arrives past a gap)."""
        again = getattr(self, "pubsub", None) is not None
        super()._redis_connect()
        if again and (self._resyncing is None or self._resyncing.done()):
            self._resyncing = asyncio.create_task(self._resync_when_subscribed())

    _resyncing: asyncio.Task[None] | None = None

    async def _resync_when_subscribed(self, seconds: float = 120) -> None:
        deadline = asyncio.get_running_loop().time() + seconds
        while not self.pubsub.subscribed:
            if asyncio.get_running_loop().time() > deadline:
                return  # still away; the next connection schedules another
            await asyncio.sleep(0.05)
        await self.resync_here()
        self._get_logger().warning("Redis is back: this process's clients were asked to fetch what they missed")

    async def listen(self, server: socketio.AsyncServer, timeout: float = 10) -> None:
        """Subscribe now and wait until subscribed. python-socketio subscribes
        at a process's first client connection; until then, room commands and
        emits from the other processes (an agent's console joining a room,
        a logout) would pass it by."""
        if not server.manager_initialized:
            server.manager_initialized = True
            self.initialize()
        deadline = asyncio.get_running_loop().time() + timeout
        while not (getattr(self, "pubsub", None) is not None and self.pubsub.subscribed):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"not subscribed to Redis channel {self.channel!r} after {timeout} s")
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        """Stop listening and close the Redis connections (python-socketio's
        shutdown leaves both open)."""
        listener = getattr(self, "thread", None)
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        if getattr(self, "pubsub", None) is not None:
            await self.pubsub.aclose()
        if getattr(self, "redis", None) is not None:
            await self.redis.aclose()
