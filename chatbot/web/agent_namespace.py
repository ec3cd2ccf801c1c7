"""Socket.IO namespace `/agent`: agents take handoffs here. Handlers are
thin: validate, call the handoff desk, answer; the desk emits the rest, and
errors are raised and become error acks at the boundary (boundary.py)."""

from __future__ import annotations

import logging
from typing import Any

from ..access import access_agent
from ..auth import Auth, User
from ..handoff import HandoffDesk
from ..knowledge import Knowledge
from ..ratelimit import Limits
from .boundary import Namespace, event
from .payloads import (
    AgentAuth,
    AgentHistory,
    AgentMessage,
    AgentNote,
    AgentStatus,
    AgentTyping,
    ConversationRef,
    QueueRequest,
    Transfer,
)
from .rooms import CHAT, agent_room, brand_agents_room, conversation_room, session_room, user_room
from .security import InputGuard

log = logging.getLogger(__name__)


class AgentNamespace(Namespace):
    def __init__(self, auth: Auth, desk: HandoffDesk, knowledge: Knowledge, limits: Limits, guard: InputGuard) -> None:
        super().__init__("/agent", auth, limits, guard)
        self.desk = desk
        self.knowledge = knowledge

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        agent, token, handshake = await self.handshake(environ, auth, AgentAuth, access_agent)
        self.check_origin(environ, [])  # the console is served by this server only
        await self.save_session(sid, {"user": agent})
        for room in (agent_room(agent.id), brand_agents_room(agent.brand), session_room(token), user_room(agent.id)):
            await self.enter_room(sid, room)
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

    @event(ConversationRef)
    async def on_accept(self, sid: str, session: dict[str, Any], p: ConversationRef) -> dict[str, Any]:
        view = await self.desk.accept(session["user"], p.conversation_id)
        await self.enter_room(sid, conversation_room(p.conversation_id))
        return {"conversation": view}

    @event(AgentMessage)
    async def on_message(self, sid: str, session: dict[str, Any], p: AgentMessage) -> dict[str, Any]:
        self.limits.socket_messages.hit(sid, "messages")
        message, _ = await self.desk.agent_message(session["user"], p.conversation_id, p.client_id, p.text)
        return {"message": message}

    @event(ConversationRef)
    async def on_resolve(self, sid: str, session: dict[str, Any], p: ConversationRef) -> None:
        await self.desk.resolve(session["user"], p.conversation_id)

    @event(ConversationRef)
    async def on_release(self, sid: str, session: dict[str, Any], p: ConversationRef) -> None:
        await self.desk.release(session["user"], p.conversation_id)

    @event(ConversationRef)
    async def on_handback(self, sid: str, session: dict[str, Any], p: ConversationRef) -> None:
        await self.desk.hand_back(session["user"], p.conversation_id)

    @event(Transfer)
    async def on_transfer(self, sid: str, session: dict[str, Any], p: Transfer) -> None:
        await self.desk.transfer(session["user"], p.conversation_id, p.agent_id)

    @event(AgentStatus)
    async def on_status(self, sid: str, session: dict[str, Any], p: AgentStatus) -> None:
        await self.desk.set_status(session["user"], p.status)

    @event(AgentNote)
    async def on_note(self, sid: str, session: dict[str, Any], p: AgentNote) -> dict[str, Any]:
        return {"note": await self.desk.add_note(session["user"], p.conversation_id, p.text)}

    @event(AgentHistory)
    async def on_history(self, sid: str, session: dict[str, Any], p: AgentHistory) -> dict[str, Any]:
        """What the console missed of a chat the agent holds (a gap in `seq`, or a `resync`)."""
        await self.desk.check_holds(session["user"], p.conversation_id)
        return {"messages": await self.desk.messages_after(p.conversation_id, p.last_seq)}

    @event(QueueRequest)
    async def on_queue(self, sid: str, session: dict[str, Any], p: QueueRequest) -> dict[str, Any]:
        """The queue now: a console told to `resync` may have missed a change of it."""
        return {"queue": await self.desk.queue(session["user"].brand)}

    @event(AgentTyping)
    async def on_typing(self, sid: str, session: dict[str, Any], p: AgentTyping) -> None:
        agent: User = session["user"]
        await self.desk.check_holds(agent, p.conversation_id)
        await self.server.emit(
            "typing",
            {"on": p.on, "sender": {"type": "agent", "name": agent.name}},
            room=conversation_room(p.conversation_id),
            namespace=CHAT,
        )
