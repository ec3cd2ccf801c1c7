"""Socket.IO namespace `/chat`: customers and merchants talk to the bot here.
Handlers are thin: validate the payload, call the chat service, emit."""
from __future__ import annotations

import logging
from http.cookies import SimpleCookie
from typing import Any

import socketio

from ..auth import Auth, User
from ..conversation.chat import ChatService
from ..errors import ChatbotError, InvalidPayload
from ..handoff import HandoffDesk
from ..knowledge import Knowledge
from ..ratelimit import Limits, RateLimited
from .payloads import ChatAuth, ChatMessage, Rate, Typing, parse_payload
from .rooms import AGENT, conversation_room, session_room, user_room

log = logging.getLogger(__name__)
CUSTOMER_ROLES = ("customer", "merchant")


def token_from(environ: dict[str, Any], auth: ChatAuth) -> str | None:
    if auth.token:
        return auth.token
    cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
    morsel = cookie.get("chatbot_session")
    return morsel.value if morsel else None


def error_ack(error: ChatbotError) -> dict[str, Any]:
    return {"ok": False, "error": error.code, "detail": error.detail}


def origin_fits(environ: dict[str, Any], brand_origins: list[str]) -> bool:
    """A browser may open a socket from the server's own pages or from the
    user's brand's own sites; other clients send no Origin."""
    origin = environ.get("HTTP_ORIGIN")
    own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST')}"
    return origin is None or origin == own or origin.rstrip("/") in {o.rstrip("/") for o in brand_origins}


class Namespace(socketio.AsyncNamespace):
    """What both namespaces do with any event: an unknown event or a payload
    of the wrong arity gets a clear error ack, and an unexpected failure is
    logged and acked as internal_error; the connection lives on either way."""

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event in ("connect", "disconnect"):
            return await super().trigger_event(event, *args)
        if not hasattr(self, f"on_{event}"):
            return {"ok": False, "error": "unknown_event", "detail": f"no event {str(event)[:40]!r} here"}
        sid, *data = args
        if len(data) > 1:
            return error_ack(InvalidPayload("send one JSON object"))
        try:
            return await super().trigger_event(event, sid, *data)
        except Exception:
            log.exception("event %s failed", event)
            return {"ok": False, "error": "internal_error", "detail": "something went wrong on our side"}


class ChatNamespace(Namespace):
    def __init__(self, auth: Auth, chat: ChatService, desk: HandoffDesk, knowledge: Knowledge,
                 limits: Limits) -> None:
        super().__init__("/chat")
        self.auth = auth
        self.chat = chat
        self.desk = desk
        self.knowledge = knowledge
        self.limits = limits

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        try:
            handshake = parse_payload(ChatAuth, auth or {})
        except InvalidPayload:
            raise socketio.exceptions.ConnectionRefusedError("unauthorized") from None
        token = token_from(environ, handshake)
        user = await self.auth.user_for_token(token)
        if user is None or user.role not in CUSTOMER_ROLES:
            raise socketio.exceptions.ConnectionRefusedError("unauthorized")
        if not origin_fits(environ, self.knowledge.brand(user.brand).settings.embed.origins):
            raise socketio.exceptions.ConnectionRefusedError("origin_not_allowed")
        conversation = await self.chat.open(user)
        await self.save_session(sid, {"user": user, "conversation_id": conversation["id"]})
        await self.enter_room(sid, conversation_room(conversation["id"]))
        await self.enter_room(sid, session_room(token))
        await self.enter_room(sid, user_room(user.id))
        await self.desk.customer_connected(conversation["id"])
        # The CONNECT packet goes out when this handler returns; the history follows it.
        self.server.start_background_task(self._send_conversation, sid, conversation, handshake.last_seq)

    async def _send_conversation(self, sid: str, conversation: dict[str, Any], last_seq: int | None) -> None:
        messages = await self.chat.history(conversation["id"], last_seq)
        current = await self.chat.conversation(conversation["id"])
        await self.emit("conversation", {"id": conversation["id"], "state": current["state"],
                                         "messages": messages}, to=sid)
        if current["state"] in ("queued", "agent"):
            await self.emit("handoff", await self.desk.customer_view(conversation["id"]), to=sid)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self.limits.socket_messages.forget(sid)
        session = await self.get_session(sid)
        if session:
            await self.desk.customer_disconnected(session["conversation_id"])

    async def on_message(self, sid: str, data: Any = None) -> dict[str, Any]:
        try:
            payload = parse_payload(ChatMessage, data)
        except InvalidPayload as e:
            return error_ack(e)
        session = await self.get_session(sid)
        user: User = session["user"]
        try:
            self.limits.socket_messages.hit(sid, "messages")
            self.limits.user_messages.hit(str(user.id), "messages")
        except RateLimited as e:
            return error_ack(e)
        conversation_id = session["conversation_id"]
        message, created = await self.chat.post_customer_message(user, conversation_id, payload.client_id,
                                                                 payload.text)
        if created:
            room = conversation_room(conversation_id)
            await self.emit("message", message, room=room, skip_sid=sid)
            await self.server.emit("message", message, room=room, namespace=AGENT)
            button = payload.payload.model_dump() if payload.payload else None
            self.server.start_background_task(self._answer, user, conversation_id, payload.text, button)
        return {"ok": True, "message": message}

    async def _answer(self, user: User, conversation_id: int, text: str,
                      button: dict[str, Any] | None = None) -> None:
        try:
            await self.chat.respond(user, conversation_id, text, button)
        except Exception:
            log.exception("answering failed in conversation %s", conversation_id)

    async def on_rate(self, sid: str, data: Any = None) -> dict[str, Any]:
        try:
            payload = parse_payload(Rate, data)
        except InvalidPayload as e:
            return error_ack(e)
        session = await self.get_session(sid)
        rated = await self.desk.rate(session["user"], session["conversation_id"], payload.rating)
        return {"ok": True} if rated else {"ok": False, "error": "nothing_to_rate"}

    async def on_typing(self, sid: str, data: Any = None) -> dict[str, Any]:
        try:
            payload = parse_payload(Typing, data)
        except InvalidPayload as e:
            return error_ack(e)
        session = await self.get_session(sid)
        user: User = session["user"]
        typing = {"on": payload.on, "sender": {"type": "customer", "name": user.name},
                  "conversation_id": session["conversation_id"]}
        room = conversation_room(session["conversation_id"])
        await self.emit("typing", typing, room=room, skip_sid=sid)
        await self.server.emit("typing", typing, room=room, namespace=AGENT)
        return {"ok": True}
