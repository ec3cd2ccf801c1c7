"""The one boundary every Socket.IO client event crosses, on both namespaces.

Handlers are short and have no try/except: they are declared with `@event`,
which validates the payload into its pydantic model and loads the socket's
session, and they raise typed errors (errors.py, access.py). `Namespace`
turns whatever they raise into the error ack the protocol promises:
`{"ok": false, "error", "detail"}` for a domain error (a payload that fails
validation is `invalid_payload`), `internal_error` for anything else (logged,
never a stack trace on the wire)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from typing import Any

import socketio
from pydantic import ValidationError

from ..access import AccessCheck
from ..auth import Auth, User
from ..errors import ChatbotError, InvalidPayload, Unauthorized
from ..ratelimit import Limits, RateLimited
from .payloads import Payload, parse_payload
from .security import InputGuard, RefusedEvent

log = logging.getLogger(__name__)
# Names the Socket.IO protocol keeps for itself: a client event with one of
# these names is refused, never dispatched (on_connect and on_disconnect are
# the server's own handlers).
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)
# Refusals that count as strikes against the socket (docs/security.md).
STRIKE_ERRORS = frozenset({"invalid_payload", "unknown_event", "rate_limited"})
INTERNAL_ERROR = {"ok": False, "error": "internal_error", "detail": "something went wrong on our side"}

Handler = Callable[..., Awaitable[dict[str, Any] | None]]


class UnknownEvent(ChatbotError):
    code, status = "unknown_event", 400


def error_ack(error: ChatbotError) -> dict[str, Any]:
    return {"ok": False, "error": error.code, "detail": error.detail}


def event(model: type[Payload]) -> Callable[[Handler], Handler]:
    """A client event's handler: called as `handler(self, sid, session, payload)`
    with the payload validated into `model`. What it returns is the ack:
    `{"ok": true}` for None, `{"ok": true, **result}` for a result without
    "ok", the result itself otherwise."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def on_event(self: Namespace, sid: str, data: Any = None) -> dict[str, Any]:
            payload = parse_payload(model, data)
            result = await handler(self, sid, await self.get_session(sid), payload)
            if result is None:
                return {"ok": True}
            return result if "ok" in result else {"ok": True, **result}

        return on_event

    return wrap


def token_from(environ: dict[str, Any], token: str | None) -> str | None:
    """The handshake's token, else the session cookie."""
    if token:
        return token
    cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
    morsel = cookie.get("chatbot_session")
    return morsel.value if morsel else None


def origin_fits(environ: dict[str, Any], brand_origins: list[str]) -> bool:
    """A browser may open a socket from the server's own pages or from the
    user's brand's own sites; other clients send no Origin."""
    origin = environ.get("HTTP_ORIGIN")
    own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST')}"
    return origin is None or origin == own or origin.rstrip("/") in {o.rstrip("/") for o in brand_origins}


class Namespace(socketio.AsyncNamespace):
    """python-socketio dispatches a client's event by its name to `on_<name>`,
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

    def __init__(self, namespace: str, auth: Auth, limits: Limits, guard: InputGuard) -> None:
        super().__init__(namespace)
        self.auth = auth
        self.limits = limits
        self.guard = guard
        self._live: set[str] = set()  # sids whose real connect succeeded and that have not left

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
            result = await self._dispatch(sid, event, data)
        except ChatbotError as e:
            result = error_ack(e)
        except ValidationError as e:  # a model validated outside parse_payload: still the client's input
            result = error_ack(InvalidPayload(str(e.errors()[0]["msg"]) if e.errors() else ""))
        except Exception:
            log.exception("event %s failed", str(event)[:40])
            return dict(INTERNAL_ERROR)
        if isinstance(result, dict) and result.get("ok") is False and result.get("error") in STRIKE_ERRORS:
            await self._refused(sid, event, result)
        return result

    async def _dispatch(self, sid: str, event: Any, data: list[Any]) -> Any:
        self.limits.socket_events.hit(sid, "events")
        if isinstance(event, RefusedEvent):
            raise InvalidPayload(event.detail)
        if not isinstance(event, str) or event in RESERVED_EVENTS or not hasattr(self, f"on_{event}"):
            raise UnknownEvent(f"no event {str(event)[:40]!r} here")
        if len(data) > 1:
            raise InvalidPayload("send one JSON object")
        return await super().trigger_event(event, sid, *data)

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

    async def handshake(
        self, environ: dict[str, Any], auth: Any, model: type[Payload], check: AccessCheck
    ) -> tuple[User, str, Any]:
        """The connecting user (who must pass `check`), their session token
        and the validated handshake; else the connection is refused with
        `unauthorized`, all failures alike."""
        try:
            payload: Any = parse_payload(model, auth or {})
            token = token_from(environ, payload.token)
            user = await self.auth.user_for_token(token)
            if user is None or token is None:
                raise Unauthorized()
            check(user)
        except ChatbotError:
            raise socketio.exceptions.ConnectionRefusedError("unauthorized") from None
        return user, token, payload

    @staticmethod
    def check_origin(environ: dict[str, Any], origins: list[str]) -> None:
        if not origin_fits(environ, origins):
            raise socketio.exceptions.ConnectionRefusedError("origin_not_allowed")
