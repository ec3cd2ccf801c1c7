"""Socket.IO namespace `/agent`: agents take handoffs here. Handlers are
thin: validate, call the handoff desk, answer; the desk emits the rest."""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

import socketio

from ..auth import Auth, User
from ..errors import InvalidPayload
from ..handoff import HandoffDesk
from ..knowledge import Knowledge
from ..ratelimit import Limits
from .chat_namespace import Namespace, origin_fits, token_from
from .payloads import (AgentMessage, AgentNote, AgentStatus, AgentTyping, AgentAuth, ConversationRef, Payload,
                       Transfer, parse_payload)
from .rooms import CHAT, agent_room, brand_agents_room, conversation_room, session_room, user_room
from .security import InputGuard

log = logging.getLogger(__name__)


class AgentNamespace(Namespace):
    def __init__(self, auth: Auth, desk: HandoffDesk, knowledge: Knowledge, limits: Limits,
                 guard: InputGuard) -> None:
        super().__init__("/agent", limits, guard)
        self.auth = auth
        self.desk = desk
        self.knowledge = knowledge

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        try:
            handshake = parse_payload(AgentAuth, auth or {})
        except InvalidPayload:
            raise socketio.exceptions.ConnectionRefusedError("unauthorized") from None
        token = token_from(environ, handshake)
        agent = await self.auth.user_for_token(token)
        if agent is None or agent.role != "agent":
            raise socketio.exceptions.ConnectionRefusedError("unauthorized")
        if not origin_fits(environ, []):       # the console is served by this server only
            raise socketio.exceptions.ConnectionRefusedError("origin_not_allowed")
        await self.save_session(sid, {"user": agent})
        await self.enter_room(sid, agent_room(agent.id))
        await self.enter_room(sid, brand_agents_room(agent.brand))
        await self.enter_room(sid, session_room(token))
        await self.enter_room(sid, user_room(agent.id))
        seen = {int(k): v for k, v in (handshake.last_seq or {}).items()}
        self.server.start_background_task(self._welcome, sid, agent, seen, handshake.status)

    async def _welcome(self, sid: str, agent: User, seen: dict[int, int], status: str | None) -> None:
        """The queue, and the conversations the agent still holds (a reload or
        a reconnect: then only the messages after the seq the console saw)."""
        await self.desk.agent_connected(agent, status)
        await self.emit("queue", await self.desk.queue(agent.brand), to=sid)
        for conversation_id in await self.desk.held_conversations(agent):
            await self.enter_room(sid, conversation_room(conversation_id))
            view = await self.desk.conversation_view(conversation_id, after_seq=seen.get(conversation_id))
            await self.emit("assigned", {"conversation": view}, to=sid)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        session = await self.get_session(sid)
        if session:
            await self.desk.agent_disconnected(session["user"])

    async def _handle(self, sid: str, data: Any, model: type[Payload],
                      act: Callable[[User, Any], Awaitable[dict[str, Any] | None]]) -> dict[str, Any]:
        """Errors are raised: the namespace's boundary (Namespace) turns them into error acks."""
        payload = parse_payload(model, data)
        session = await self.get_session(sid)
        result = await act(session["user"], payload)
        return {"ok": True, **(result or {})}

    async def on_accept(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(agent: User, p: ConversationRef) -> dict[str, Any]:
            view = await self.desk.accept(agent, p.conversation_id)
            await self.enter_room(sid, conversation_room(p.conversation_id))
            return {"conversation": view}
        return await self._handle(sid, data, ConversationRef, act)

    async def on_message(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(agent: User, p: AgentMessage) -> dict[str, Any]:
            self.limits.socket_messages.hit(sid, "messages")
            message, _ = await self.desk.agent_message(agent, p.conversation_id, p.client_id, p.text)
            return {"message": message}
        return await self._handle(sid, data, AgentMessage, act)

    async def on_resolve(self, sid: str, data: Any = None) -> dict[str, Any]:
        return await self._handle(sid, data, ConversationRef, lambda a, p: self.desk.resolve(a, p.conversation_id))

    async def on_release(self, sid: str, data: Any = None) -> dict[str, Any]:
        return await self._handle(sid, data, ConversationRef, lambda a, p: self.desk.release(a, p.conversation_id))

    async def on_handback(self, sid: str, data: Any = None) -> dict[str, Any]:
        return await self._handle(sid, data, ConversationRef,
                                  lambda a, p: self.desk.hand_back(a, p.conversation_id))

    async def on_transfer(self, sid: str, data: Any = None) -> dict[str, Any]:
        return await self._handle(sid, data, Transfer,
                                  lambda a, p: self.desk.transfer(a, p.conversation_id, p.agent_id))

    async def on_status(self, sid: str, data: Any = None) -> dict[str, Any]:
        return await self._handle(sid, data, AgentStatus, lambda a, p: self.desk.set_status(a, p.status))

    async def on_note(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(agent: User, p: AgentNote) -> dict[str, Any]:
            return {"note": await self.desk.add_note(agent, p.conversation_id, p.text)}
        return await self._handle(sid, data, AgentNote, act)

    async def on_typing(self, sid: str, data: Any = None) -> dict[str, Any]:
        async def act(agent: User, p: AgentTyping) -> None:
            await self.desk.check_holds(agent, p.conversation_id)
            await self.server.emit("typing", {"on": p.on, "sender": {"type": "agent", "name": agent.name}},
                                   room=conversation_room(p.conversation_id), namespace=CHAT)
        return await self._handle(sid, data, AgentTyping, act)
