"""Socket.IO rooms, and the Events interface built on them: how the domain's
messages reach the right sockets on /chat and /agent."""

from __future__ import annotations

from typing import Any

import socketio

from ..auth import hash_token

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


async def disconnect_room(sio: socketio.AsyncServer, room: str) -> None:
    """Disconnect every socket in `room`, on every namespace."""
    for namespace in list(sio.namespace_handlers):
        for sid, _ in list(sio.manager.get_participants(namespace, room)):
            await sio.disconnect(sid, namespace=namespace)


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
        for sid, _ in list(self.sio.manager.get_participants(AGENT, agent_room(agent_id))):
            if holds:
                await self.sio.enter_room(sid, conversation_room(conversation_id), namespace=AGENT)
            else:
                await self.sio.leave_room(sid, conversation_room(conversation_id), namespace=AGENT)


class IndexedRoomManager(socketio.AsyncManager):
    """python-socketio's manager, which also keeps the rooms of each client.

    The stock manager finds a client's rooms by scanning every room of the
    namespace, so each disconnect costs O(all rooms): 9 ms of blocked loop per
    disconnect with 10,000 customers online (four rooms each), and minutes when
    they all drop at once (a restart, a network blip). Here a disconnect leaves
    only the client's own rooms. Everything else is the stock manager's, and
    tests/test_rooms.py checks both keep the same rooms through random
    sequences of joins, leaves, closes and disconnects."""

    def __init__(self) -> None:
        super().__init__()
        self._rooms_of: dict[tuple[str, str], dict[Any, None]] = {}  # (namespace, sid) -> rooms, in join order

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: str | None = None) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        self._rooms_of.setdefault((namespace, sid), {})[room] = None

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)
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

    def _anyone_in(self, namespace: str, room: str | int, skip_sid: Any) -> bool:
        members = self.rooms.get(namespace, {}).get(room)
        if not members:
            return False
        skipped = skip_sid if isinstance(skip_sid, list) else (skip_sid,)
        return any(sid not in skipped for sid in members)

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        return [room for room in self._rooms_of.get((namespace, sid), ()) if room is not None]
