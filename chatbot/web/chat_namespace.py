"""Socket.IO namespace `/chat`: customers and merchants talk to the bot here.
Handlers are thin: validate the payload, call the chat service, emit; errors
are raised and become error acks at the boundary (boundary.py)."""

from __future__ import annotations

import logging
from typing import Any

from ..access import access_conversation, access_customer
from ..auth import Auth, User
from ..conversation.chat import ChatService
from ..handoff import HandoffDesk
from ..knowledge import Knowledge
from ..ratelimit import Limits
from .boundary import Namespace, event
from .payloads import ChatAuth, ChatMessage, History, Rate, Typing
from .rooms import AGENT, conversation_room, session_room, user_room
from .security import InputGuard

log = logging.getLogger(__name__)


class ChatNamespace(Namespace):
    def __init__(
        self, auth: Auth, chat: ChatService, desk: HandoffDesk, knowledge: Knowledge, limits: Limits, guard: InputGuard
    ) -> None:
        super().__init__("/chat", auth, limits, guard)
        self.chat = chat
        self.desk = desk
        self.knowledge = knowledge

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        user, token, handshake = await self.handshake(environ, auth, ChatAuth, access_customer)
        self.check_origin(environ, self.knowledge.brand(user.brand).settings.embed.origins)
        conversation = await self.chat.open(user)
        await self.save_session(sid, {"user": user, "conversation_id": conversation["id"]})
        for room in (conversation_room(conversation["id"]), session_room(token), user_room(user.id)):
            await self.enter_room(sid, room)
        await self.desk.customer_connected(conversation["id"])
        # The CONNECT packet goes out when this handler returns; the history follows it.
        self.server.start_background_task(self._send_conversation, sid, user, conversation["id"], handshake.last_seq)

    async def _send_conversation(self, sid: str, user: User, conversation_id: int, last_seq: int | None) -> None:
        messages = await self.chat.history(conversation_id, last_seq)
        current = await access_conversation(self.chat.store, user, conversation_id)
        await self.emit(
            "conversation", {"id": conversation_id, "state": current["state"], "messages": messages}, to=sid
        )
        if current["state"] in ("queued", "agent"):
            await self.emit("handoff", await self.desk.customer_view(conversation_id), to=sid)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        session = await self.get_session(sid)
        if session:
            await self.desk.customer_disconnected(session["conversation_id"])

    @event(ChatMessage)
    async def on_message(self, sid: str, session: dict[str, Any], payload: ChatMessage) -> dict[str, Any]:
        user: User = session["user"]
        self.limits.socket_messages.hit(sid, "messages")
        await self.limits.user_messages.hit(str(user.id), "messages")
        message, created = await self.chat.post_customer_message(
            user, session["conversation_id"], payload.client_id, payload.text
        )
        if created:
            room = conversation_room(session["conversation_id"])
            await self.emit("message", message, room=room, skip_sid=sid)
            await self.server.emit("message", message, room=room, namespace=AGENT)
            button = payload.payload.model_dump() if payload.payload else None
            self.server.start_background_task(self._answer, user, session["conversation_id"], payload.text, button)
        return {"message": message}

    async def _answer(self, user: User, conversation_id: int, text: str, button: dict[str, Any] | None = None) -> None:
        try:
            await self.chat.respond(user, conversation_id, text, button)
        except Exception:  # a background task: nobody else would see it
            log.exception("answering failed in conversation %s", conversation_id)

    @event(History)
    async def on_history(self, sid: str, session: dict[str, Any], payload: History) -> dict[str, Any]:
        """What the tab missed: it asks when it sees a gap in `seq`, or when told to `resync`."""
        return {"messages": await self.chat.history(session["conversation_id"], payload.last_seq)}

    @event(Rate)
    async def on_rate(self, sid: str, session: dict[str, Any], payload: Rate) -> dict[str, Any]:
        rated = await self.desk.rate(session["user"], session["conversation_id"], payload.rating)
        return {"ok": True} if rated else {"ok": False, "error": "nothing_to_rate"}

    @event(Typing)
    async def on_typing(self, sid: str, session: dict[str, Any], payload: Typing) -> None:
        typing = {
            "on": payload.on,
            "sender": {"type": "customer", "name": session["user"].name},
            "conversation_id": session["conversation_id"],
        }
        room = conversation_room(session["conversation_id"])
        await self.emit("typing", typing, room=room, skip_sid=sid)
        await self.server.emit("typing", typing, room=room, namespace=AGENT)
