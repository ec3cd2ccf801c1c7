"""Who may call from where, and what is refused at the door: allowed origins
(the server's own, and each brand's configured sites), CORS for the brands'
sites, CSRF protection for requests authenticated by the session cookie, who
may read /metrics, and the guards on raw input (JSON nesting depth, malformed
Engine.IO frames and Socket.IO packets), each refusal counted in /metrics and
logged in one rate-limited line, never a stack trace (docs/security.md)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import Any, ClassVar

import socketio
from aiohttp import web
from aiohttp.typedefs import Handler
from engineio.async_drivers.aiohttp import WebSocket as EngineIOWebSocket
from socketio import packet as sio_packet

from ..errors import Forbidden, InvalidPayload
from ..metrics import Metrics
from .keys import KNOWLEDGE

log = logging.getLogger(__name__)
MAX_JSON_DEPTH = 32  # our deepest payload is 3 levels; Python's parser recurses and fails near 1,000
MAX_REFUSED_FRAMES = 20  # malformed Engine.IO frames one connection may send before it is closed
# Frames of one WebSocket read at once, then per second: beyond that the server stops reading it for a while,
# so a flooding client is held back by TCP itself and costs the others nothing (bench/flood.py). A widget
# sends a few frames a minute; a busy agent console a few a second.
FRAME_BURST = 100
FRAMES_PER_SECOND = 20.0

CSRF_COOKIE = "chatbot_csrf"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def own_origin(scheme: str, host: str | None) -> str | None:
    return f"{scheme}://{host}" if host else None


def brand_origins(app: web.Application) -> set[str]:
    return {o.rstrip("/") for b in app[KNOWLEDGE].brands.values() for o in b.settings.embed.origins}


def origin_allowed(app: web.Application, origin: str | None, own: str | None) -> bool:
    """No Origin (a non-browser client) or the server's own are always fine."""
    return origin is None or origin == own or origin.rstrip("/") in brand_origins(app)


def socket_origin_check(app: web.Application) -> Callable[[str | None, dict[str, Any]], bool]:
    """For python-socketio's cors_allowed_origins: the same rule on the handshake."""

    def allowed(origin: str | None, environ: dict[str, Any]) -> bool:
        own = own_origin(environ.get("wsgi.url_scheme", "http"), environ.get("HTTP_HOST"))
        return origin_allowed(app, origin, own)

    return allowed


def csrf_token() -> str:
    return secrets.token_urlsafe(24)


def bearer_token(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer` header, if that is what the request carries."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


def authenticated_by_cookie(request: web.Request) -> bool:
    """What authenticates the request (http.request_token): a Bearer token when
    there is one, otherwise the session cookie, which browsers attach on their
    own and so needs the CSRF check. Any other Authorization header is not a
    credential here and changes nothing."""
    return bearer_token(request) is None and "chatbot_session" in request.cookies


def metrics_allowed(request: web.Request, token: str | None) -> bool:
    """With a configured token, only `Authorization: Bearer <token>`; without
    one, only a loopback peer that is not a reverse proxy forwarding someone."""
    if token:
        presented = bearer_token(request)
        return presented is not None and secrets.compare_digest(presented.encode(), token.encode())
    if any(h in request.headers for h in ("Forwarded", "X-Forwarded-For", "X-Real-IP")):
        return False
    return is_loopback(request.remote)


def is_loopback(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


# -- raw input ---------------------------------------------------------------------------------------

_JSON_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)


def json_too_deep(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON text nests arrays and objects deeper than `limit`, found
    without parsing it (Python's parser recurses: deep input costs a
    RecursionError). Linear: each string (even an unterminated one) and each
    bracket is one token; brackets inside strings are skipped."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8", "replace")
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for token in _JSON_TOKENS.finditer(text):
        char = token.group()[0]
        if char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def loads_bounded(text: str | bytes, **kwargs: Any) -> Any:
    """json.loads with the depth bounded first; every failure is InvalidPayload."""
    if json_too_deep(text):
        raise InvalidPayload(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text, **kwargs)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidPayload("body is not valid JSON") from None


class InputGuard:
    """Where refused input is reported: counted in /metrics
    (`chatbot_rejected_inputs_total{layer, reason}`) and logged as one line
    each, at most `lines_per_second` of them on average (bursts of `burst`);
    lines over that are counted as suppressed, not written."""

    def __init__(self, metrics: Metrics, lines_per_second: float = 5, burst: int = 20) -> None:
        self.metrics = metrics
        self.rate, self.burst = lines_per_second, burst
        self._tokens, self._at = float(burst), time.monotonic()
        self._suppressed = 0

    def reject(self, layer: str, reason: str, who: str, detail: str = "") -> None:
        self.metrics.rejected.labels(layer, reason).inc()
        self._line("refused %s input (%s) from %s: %s", layer, reason, who, detail[:120])

    def abuse_disconnect(self, layer: str, who: str) -> None:
        self.metrics.abuse_disconnects.labels(layer).inc()
        self._line("disconnected %s: too many refused %s inputs", who, layer)

    def _line(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            self._suppressed += 1
            self.metrics.rejection_logs_suppressed.inc()
            return
        self._tokens -= 1
        if self._suppressed:
            message += " (%d similar lines suppressed)"
            args = (*args, self._suppressed)
            self._suppressed = 0
        log.warning(message, *args)


class RefusedEvent:
    """Stands in for the name of a Socket.IO event whose packet could not be
    decoded (bad or too deeply nested JSON, no event name), so the namespace
    can answer it `invalid_payload` and count it. JSON cannot produce one, so
    a client cannot forge it."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason, self.detail = reason, detail

    def __repr__(self) -> str:
        return f"<refused event: {self.reason}>"


class FrameRefused(ValueError):
    """A Socket.IO packet that is not an event and could not be decoded."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


class _BoundedJson:
    """The JSON module python-socketio's packets use, with the depth bounded before parsing."""

    dumps = staticmethod(sio_packet.Packet.json.dumps)

    @staticmethod
    def loads(text: str, **kwargs: Any) -> Any:
        if json_too_deep(text):
            raise FrameRefused("too_deep", f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        return sio_packet.Packet.json.loads(text, **kwargs)


CLIENT_PACKETS = {
    sio_packet.CONNECT,
    sio_packet.DISCONNECT,
    sio_packet.EVENT,
    sio_packet.ACK,
    sio_packet.BINARY_EVENT,
    sio_packet.BINARY_ACK,
}


class GuardedPacket(sio_packet.Packet):
    """python-socketio's packet, decoding client input defensively: an event
    whose JSON is malformed or too deep becomes a RefusedEvent on its
    namespace (answered `invalid_payload`, the connection lives on); any
    other undecodable packet raises FrameRefused (GuardedServer logs it)."""

    json = _BoundedJson

    def decode(self, encoded_packet: Any) -> int:
        self.packet_type, self.id = None, None
        try:
            attachments: int = super().decode(encoded_packet)
        except (ValueError, TypeError, IndexError, RecursionError) as e:
            reason = e.reason if isinstance(e, FrameRefused) else "bad_json"
            detail = e.detail if isinstance(e, FrameRefused) else "the packet's JSON could not be read"
            if self.packet_type in (sio_packet.EVENT, sio_packet.BINARY_EVENT):
                self.packet_type, self.data = sio_packet.EVENT, [RefusedEvent(reason, detail)]
                return 0
            raise FrameRefused(reason, detail) from None
        if self.packet_type not in CLIENT_PACKETS:
            raise FrameRefused("bad_packet", f"no packet type {str(self.packet_type)[:10]!r} from a client")
        if self.packet_type in (sio_packet.EVENT, sio_packet.BINARY_EVENT) and not (
            isinstance(self.data, list) and self.data
        ):
            self.packet_type, self.data = sio_packet.EVENT, [RefusedEvent("no_event", "an event needs a name")]
            return 0
        return attachments


class GuardedServer(socketio.AsyncServer):
    """The Socket.IO server with its input guarded: packets are GuardedPackets,
    a packet that still cannot be handled is one counted log line instead of
    python-engineio's stack trace, and the Engine.IO WebSocket refuses
    malformed frames (empty, unknown type, too deep) the same way."""

    def __init__(self, guard: InputGuard, **kwargs: Any) -> None:
        super().__init__(serializer=GuardedPacket, **kwargs)
        self.guard = guard
        # python-engineio builds each WebSocket from this driver table (its
        # only hook for it); a copy, so other servers in the process keep theirs.
        self.eio._async = {**self.eio._async, "websocket": guarded_websocket(guard)}

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        if not data and eio_sid not in self._binary_packet:  # python-socketio would not even decode it
            self.guard.reject("socketio", "empty_packet", f"socket {eio_sid}", "an empty Socket.IO packet")
            return
        try:
            await super()._handle_eio_message(eio_sid, data)
        except FrameRefused as e:
            self.guard.reject("socketio", e.reason, f"socket {eio_sid}", e.detail)


def engineio_frame_fault(data: str | bytes) -> tuple[str, str] | None:
    """Why python-engineio could not take this WebSocket frame, or None. It
    decodes a frame outside any error handling (an empty one ends the
    request with a stack trace), and JSON-parses every text frame."""
    if isinstance(data, (bytes, bytearray)):
        return None  # a binary MESSAGE: always decodable
    if not data:
        return "empty_frame", "an empty frame"
    if data[0] not in "0123456" or (len(data) > 1 and data[1].isdigit() and data[0] != "4"):
        return "bad_frame", f"no Engine.IO packet type {data[:1]!r}"
    if data[1:2] in ("[", "{") and json_too_deep(data[1:]):
        return "too_deep", f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    return None


class GuardedWebSocket(EngineIOWebSocket):
    """Hands python-engineio only frames it can decode; refused ones are
    reported to `guard`, and a connection that keeps sending them is closed.
    Reads at most FRAME_BURST frames at once and FRAMES_PER_SECOND after."""

    guard: ClassVar[InputGuard]
    refused = 0
    paced = False
    tokens = float(FRAME_BURST)
    at = 0.0

    async def wait(self) -> Any:
        while True:
            await self._pace()
            data = await super().wait()
            fault = engineio_frame_fault(data)
            if fault is None:
                return data
            self.refused += 1
            who = f"{self.environ.get('REMOTE_ADDR', '?')} ({self.environ.get('QUERY_STRING', '')[:60]})"
            self.guard.reject("engineio", fault[0], who, fault[1])
            if self.refused > MAX_REFUSED_FRAMES:
                self.guard.abuse_disconnect("engineio", who)
                raise OSError("too many malformed frames")  # python-engineio closes the socket on it

    async def _pace(self) -> None:
        now = time.monotonic()
        self.tokens = min(
            float(FRAME_BURST), self.tokens + (now - self.at) * FRAMES_PER_SECOND if self.at else self.tokens
        )
        self.at = now
        if self.tokens < 1:
            if not self.paced:  # once per connection: a count and a line, not one a frame
                self.paced = True
                self.guard.reject(
                    "engineio",
                    "frame_rate",
                    str(self.environ.get("REMOTE_ADDR", "?")),
                    f"more than {FRAME_BURST} frames at once; read at {FRAMES_PER_SECOND:.0f}/s",
                )
            await asyncio.sleep((1 - self.tokens) / FRAMES_PER_SECOND)
            self.tokens, self.at = 1.0, time.monotonic()
        self.tokens -= 1


def guarded_websocket(guard: InputGuard) -> type[EngineIOWebSocket]:
    """A GuardedWebSocket class reporting to `guard`: python-engineio builds
    each WebSocket from a class alone, so each server has a class of its own."""

    class ServerWebSocket(GuardedWebSocket):
        pass

    ServerWebSocket.guard = guard
    return ServerWebSocket


@web.middleware
async def origin_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    origin = request.headers.get("Origin")
    own = own_origin(request.scheme, request.host)
    allowed = origin_allowed(request.app, origin, own)
    if request.method == "OPTIONS" and request.path.startswith("/api/") and origin:
        if not allowed:
            raise Forbidden("this site may not call the API")
        return _cors(web.Response(status=204), origin, preflight=True)
    if request.method in UNSAFE:
        if not allowed:
            raise Forbidden("requests from this site are not accepted")
        # The API's state-changing routes; not /socket.io/, whose POSTs (long-polling) carry packets for a
        # socket id only its handshake knows, authenticated then.
        if request.path.startswith("/api/") and request.path != "/api/login" and authenticated_by_cookie(request):
            expected = request.cookies.get(CSRF_COOKIE)
            if not expected or not secrets.compare_digest(expected, request.headers.get(CSRF_HEADER, "")):
                raise Forbidden(f"a cookie session needs the {CSRF_HEADER} header")
    response = await handler(request)
    if origin and origin != own and allowed and request.path.startswith("/api/"):
        _cors(response, origin)
    return response


def _cors(response: web.StreamResponse, origin: str, preflight: bool = False) -> web.StreamResponse:
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"
    if preflight:
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, DELETE"
        response.headers["Access-Control-Allow-Headers"] = f"Authorization, Content-Type, {CSRF_HEADER}"
        response.headers["Access-Control-Max-Age"] = "600"
    return response
