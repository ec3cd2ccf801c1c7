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
from .security import InputGuard, RefusedEvent

log = logging.getLogger(__name__)
CUSTOMER_ROLES = ("customer", "merchant")
# Names the Socket.IO protocol keeps for itself: a client event with one of
# these names is refused, never dispatched (on_connect and on_disconnect are
# the server's own handlers).
RESERVED_EVENTS = frozenset({"connect", "connect_error", "disconnect", "disconnecting", "newListener",
                             "removeListener"})
# Refusals that count as strikes against the socket (docs/security.md).
STRIKE_ERRORS = frozenset({"invalid_payload", "unknown_event", "rate_limited"})


class UnknownEvent(ChatbotError):
    code, status = "unknown_event", 400


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
    """The one boundary every client event crosses, on both namespaces.

    python-socketio dispatches a client's event by its name to `on_<name>`,
    and calls the same method for its own connects and disconnects; so a
    client emitting `disconnect` or `connect` would run those handlers. Here
    only the server's own calls reach them: a real connect carries the very
    environ dict python-socketio keeps for the Engine.IO socket, and comes
    while the socket is still connecting; a real disconnect comes once the
    socket is marked as leaving. A client's event is neither (python-socketio
    delivers one only to a connected socket), and a disconnect runs the
    handler at most once per connect.

    Every client event first spends a token of the socket's event limit,
    valid or not. Then an unknown or reserved name, a payload of the wrong
    arity or one that could not be decoded gets a clear error ack; domain
    errors (ChatbotError) become `{"ok": false, "error", "detail"}`; an
    unexpected failure is logged and acked as internal_error. Each refused
    event is reported to the InputGuard (a log line, a count) and spends a
    strike; a socket out of strikes is disconnected."""

    def __init__(self, namespace: str, limits: Limits, guard: InputGuard) -> None:
        super().__init__(namespace)
        self.limits = limits
        self.guard = guard
        self._live: set[str] = set()         # sids whose real connect succeeded and that have not left

    async def trigger_event(self, event: Any, *args: Any) -> Any:
        if event == "connect" and self._is_real_connect(args):
            result = await super().trigger_event(event, *args)
            if result is not False:
                self._live.add(args[0])
            return result
        if event == "disconnect" and args and self._is_real_disconnect(args[0]):
            if args[0] not in self._live:
                return None
            self._live.discard(args[0])
            self.limits.forget_socket(args[0])
            return await super().trigger_event(event, *args)
        sid, *data = args
        return await self._client_event(sid, event, data)

    def _is_real_connect(self, args: tuple[Any, ...]) -> bool:
        if len(args) < 2 or self.server.manager.is_connected(args[0], self.namespace):
            return False
        eio_sid = self.server.manager.eio_sid_from_sid(args[0], self.namespace)
        return eio_sid is not None and args[1] is self.server.environ.get(eio_sid)

    def _is_real_disconnect(self, sid: Any) -> bool:
        return isinstance(sid, str) and not self.server.manager.is_connected(sid, self.namespace)

    async def _client_event(self, sid: str, event: Any, data: list[Any]) -> Any:
        try:
            self.limits.socket_events.hit(sid, "events")
            if isinstance(event, RefusedEvent):
                raise InvalidPayload(event.detail)
            if not isinstance(event, str) or event in RESERVED_EVENTS or not hasattr(self, f"on_{event}"):
                raise UnknownEvent(f"no event {str(event)[:40]!r} here")
            if len(data) > 1:
                raise InvalidPayload("send one JSON object")
            result = await super().trigger_event(event, sid, *data)
        except ChatbotError as e:
            result = error_ack(e)
        except Exception:
            log.exception("event %s failed", str(event)[:40])
            return {"ok": False, "error": "internal_error", "detail": "something went wrong on our side"}
        if isinstance(result, dict) and result.get("ok") is False and result.get("error") in STRIKE_ERRORS:
            await self._refused(sid, event, result)
        return result

    async def _refused(self, sid: str, event: Any, ack: dict[str, Any]) -> None:
        who = f"{self.namespace} socket {sid}"
        name = event.reason if isinstance(event, RefusedEvent) else str(event)[:40]
        self.guard.reject("event", ack["error"], who, f"{name}: {ack.get('detail', '')}")
        try:
            self.limits.socket_strikes.hit(sid, "refused events")
        except RateLimited:
            if self.server.manager.is_connected(sid, self.namespace):
                self.guard.abuse_disconnect("event", who)
                await self.disconnect(sid)


class ChatNamespace(Namespace):
    def __init__(self, auth: Auth, chat: ChatService, desk: HandoffDesk, knowledge: Knowledge,
                 limits: Limits, guard: InputGuard) -> None:
        super().__init__("/chat", limits, guard)
        self.auth = auth
        self.chat = chat
        self.desk = desk
        self.knowledge = knowledge

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
