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
