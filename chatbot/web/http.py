"""HTTP routes: thin. Each validates its input, calls the domain, and
answers JSON; domain errors become `{"error", "detail"}` in the middleware."""

from __future__ import annotations

import logging
import os
import secrets
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from ..access import access_customer, access_staff, access_supervisor
from ..auth import LoginSource, LoginThrottled, User
from ..errors import ChatbotError, Forbidden, InvalidPayload, Unauthorized
from .apidoc import ANYONE, CUSTOMER, SESSION, STAFF, SUPERVISOR, documented
from .keys import ATTACHMENTS, AUTH, CHAT, DESK, KNOWLEDGE, LEADER, LIMITS, METRICS, SETTINGS, SIO, STORE
from .payloads import EmbedLoginBody, LoginBody, ParseBody, PasswordBody, parse_payload
from .rooms import conversation_room, disconnect_room, session_room, user_room
from .security import CSRF_COOKIE, InputGuard, bearer_token, csrf_token, loads_bounded, metrics_allowed

log = logging.getLogger(__name__)
COOKIE = "chatbot_session"
DEVICE_COOKIE = "chatbot_device"  # marks a browser that has logged in, for the login brake (auth.py)
DEVICE_COOKIE_SECONDS = 365 * 24 * 3600
# What python-engineio raises on input it cannot read (an Engine.IO polling body, say): a refused input, not a bug.
ENGINEIO_INPUT_ERRORS = (ValueError, KeyError, IndexError, TypeError, RecursionError, UnicodeDecodeError)
MAX_JSON_BODY = 64 * 1024
MAX_UPLOAD_BODY = 6 * 1024 * 1024
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'self'"
)

routes = web.RouteTableDef()


def error_response(status: int, code: str, detail: str) -> web.Response:
    return web.json_response({"error": code, "detail": detail}, status=status)


@web.middleware
async def no_websocket_compression(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Decline permessage-deflate on the Socket.IO WebSocket. Why: browsers
    offer it, and its zlib windows cost each connection about 90 KB of server
    memory for little gain on short JSON messages (docs/benchmarks.md);
    python-engineio has no setting for it, so the offer is removed before the
    request reaches it."""
    if "Sec-WebSocket-Extensions" in request.headers and request.path.startswith("/socket.io/"):
        headers = request.headers.copy()
        del headers["Sec-WebSocket-Extensions"]
        request = request.clone(headers=headers)
    return await handler(request)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except ChatbotError as e:
        if isinstance(e, InvalidPayload):  # refused input: counted, and one rate-limited line
            input_guard(request.app).reject(
                "http", e.code, request.remote or "?", f"{request.method} {request.path}: {e.detail}"
            )
        return error_response(e.status, e.code, e.detail)
    except web.HTTPException as e:
        if e.status >= 400 and request.path.startswith("/api/"):
            return error_response(e.status, e.reason.lower().replace(" ", "_"), e.reason)
        raise
    except ENGINEIO_INPUT_ERRORS as e:
        if not request.path.startswith("/socket.io/"):
            log.exception("unhandled error on %s %s", request.method, request.path)
            return error_response(500, "internal_error", "something went wrong on our side")
        input_guard(request.app).reject("engineio", "bad_request", request.remote or "?", f"{type(e).__name__}: {e}")
        return error_response(400, "invalid_payload", "the Engine.IO request could not be read")
    except Exception:  # never a stack trace on the wire
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "something went wrong on our side")
    return response


def input_guard(app: web.Application) -> InputGuard:
    guard: InputGuard = app[SIO].guard
    return guard


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Runs as headers go out, when even a file's content type is known."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.headers.get("Content-Type", "").startswith("text/html"):
        response.headers.setdefault("Content-Security-Policy", CSP)


async def read_json(request: web.Request) -> Any:
    """The JSON body, at most 64 KB and nested at most MAX_JSON_DEPTH deep;
    anything else is InvalidPayload (400), which errors_middleware reports."""
    if request.content_length and request.content_length > MAX_JSON_BODY:
        raise InvalidPayload("body too large")
    raw = await request.content.read(MAX_JSON_BODY + 1)
    if len(raw) > MAX_JSON_BODY:
        raise InvalidPayload("body too large")
    return loads_bounded(raw or b"null")


def request_token(request: web.Request) -> str | None:
    """A Bearer token if the request has one, else the session cookie
    (security.authenticated_by_cookie decides the CSRF check the same way)."""
    return bearer_token(request) or request.cookies.get(COOKIE)


async def current_user(request: web.Request) -> User:
    user = await request.app[AUTH].user_for_token(request_token(request))
    if user is None:
        raise Unauthorized("log in first")
    return user


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """`leads_timers`: this process runs the handoff timers (one process alone
    always does; in a cluster, one process does: store/leader.py). A
    cluster's process also says how long ago it last heard the channel the
    processes talk on, and is `degraded` past the presence TTL: it still
    answers its own customers, but misses what the others send (docs/deployment.md)."""
    leader = request.app.get(LEADER)
    health: dict[str, Any] = {"status": "ok", "leads_timers": bool(leader and leader.leads)}
    if request.app[SETTINGS].redis_url:
        hearing = request.app[DESK].board.hearing()
        health["cluster"] = {k: hearing[k] for k in ("processes", "heard_seconds_ago")}
        if hearing["deaf"]:
            health["status"] = "degraded"
    return web.json_response(health)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format, for the monitoring system only: to the bearer
    of `metrics_token` when one is set, else to loopback (docs/security.md)."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    if not metrics_allowed(request, request.app[SETTINGS].metrics_token):
        raise Forbidden("metrics are for the monitoring system")
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def session_response(request: web.Request, token: str, user: User) -> web.Response:
    """A new session: the token, the HttpOnly cookie, and the CSRF token that
    cookie-authenticated requests must echo in a header."""
    csrf = csrf_token()
    response = web.json_response({"token": token, "user": user.public(), "csrf": csrf})
    settings = request.app[SETTINGS]
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=settings.cookie_secure,
        max_age=settings.session_ttl_seconds,
        path="/",
    )
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        samesite="Strict",
        secure=settings.cookie_secure,
        max_age=settings.session_ttl_seconds,
        path="/",
    )
    return response


@routes.post("/api/login")
@documented("Log in; sets the session cookie", ANYONE, LoginBody)
async def login(request: web.Request) -> web.Response:
    await request.app[LIMITS].logins.hit(request.remote or "unknown", "login attempts")
    body = parse_payload(LoginBody, await read_json(request))
    device = request.cookies.get(DEVICE_COOKIE)
    new_device = None if device and len(device) <= 64 else secrets.token_urlsafe(32)
    source = LoginSource(request.remote or "unknown", device if new_device is None else new_device)
    try:
        token, user = await request.app[AUTH].login(body.brand, body.email, body.password, source)
    except LoginThrottled as e:
        request.app[METRICS].login_throttled.labels(e.scope).inc()
        raise
    response = session_response(request, token, user)
    if new_device:
        response.set_cookie(
            DEVICE_COOKIE,
            new_device,
            httponly=True,
            samesite="Lax",
            secure=request.app[SETTINGS].cookie_secure,
            max_age=DEVICE_COOKIE_SECONDS,
            path="/api/login",
        )
    return response


@routes.post("/api/login/embed")
@documented("Log in with a token signed by the brand's own site", ANYONE, EmbedLoginBody)
async def login_embed(request: web.Request) -> web.Response:
    """The widget on a brand's own site: the site's signed customer token
    becomes a session, with no second login (docs/security.md)."""
    await request.app[LIMITS].logins.hit(request.remote or "unknown", "login attempts")
    body = parse_payload(EmbedLoginBody, await read_json(request))
    brand = request.app[KNOWLEDGE].brand(body.brand)
    secret = os.environ.get(brand.settings.embed.secret_env) if brand.settings.embed.secret_env else None
    token, user = await request.app[AUTH].login_with_host_token(body.brand, body.token, secret)
    return session_response(request, token, user)


@routes.post("/api/password")
@documented("Change the password; ends every other session", SESSION, PasswordBody)
async def change_password(request: web.Request) -> web.Response:
    """New password: every session of the user ends and its sockets close."""
    user = await current_user(request)
    body = parse_payload(PasswordBody, await read_json(request))
    token = await request.app[AUTH].change_password(user, body.current_password, body.new_password)
    await disconnect_room(request.app[SIO], user_room(user.id))
    return session_response(request, token, user)


@routes.post("/api/logout")
@documented("Log out: the token stops working, its sockets close", SESSION)
async def logout(request: web.Request) -> web.Response:
    token = request_token(request)
    if token:
        user = await request.app[AUTH].user_for_token(token)
        await request.app[AUTH].logout(token)
        if user:
            # Sockets that were opened with this session go too.
            await disconnect_room(request.app[SIO], session_room(token))
    response = web.Response(status=204)
    response.del_cookie(COOKIE, path="/")
    return response


@routes.get("/api/me")
@documented("The logged-in user", SESSION)
async def me(request: web.Request) -> web.Response:
    user = await current_user(request)
    return web.json_response({"user": user.public()})


@routes.post("/api/parse")
@documented("Rasa-shaped parse of a message", STAFF, ParseBody)
async def parse(request: web.Request) -> web.Response:
    body = parse_payload(ParseBody, await read_json(request))
    access_staff(await current_user(request), body.brand)
    result = request.app[KNOWLEDGE].parse(body.brand, body.text)
    return web.json_response(result.to_rasa())


@routes.post("/api/attachments")
@documented("Attach a screenshot (multipart field 'file')", CUSTOMER)
async def upload_attachment(request: web.Request) -> web.Response:
    """A screenshot for the customer's open conversation (multipart, field `file`)."""
    user = access_customer(await current_user(request), "only customers attach files to their conversation")
    await request.app[LIMITS].uploads.hit(str(user.id), "uploads")
    filename, data = await _file_part(request)
    chat = request.app[CHAT]
    conversation = await chat.open(user)
    attachment = await request.app[ATTACHMENTS].save(user, conversation["id"], filename, data)
    message = await chat.post_attachment(user, attachment)
    await request.app[SIO].emit("message", message, room=conversation_room(conversation["id"]), namespace="/chat")
    return web.json_response(
        {
            "id": attachment["id"],
            "filename": attachment["filename"],
            "content_type": attachment["content_type"],
            "size": attachment["size"],
            "message": message,
        },
        status=201,
    )


async def _file_part(request: web.Request) -> tuple[str | None, bytes]:
    """The multipart body's field `file`: its file name and content."""
    if not request.content_type.startswith("multipart/"):
        raise InvalidPayload("send the file as multipart/form-data in a field named 'file'")
    reader = await request.multipart()
    part = await reader.next()
    while part is not None and getattr(part, "name", None) != "file":
        part = await reader.next()
    if part is None:
        raise InvalidPayload("no field named 'file'")
    return part.filename, bytes(await part.read(decode=False))


@routes.get("/api/cases")
@documented("Mediation cases of the brand", STAFF)
async def list_cases(request: web.Request) -> web.Response:
    """Mediation cases of the staff member's brand."""
    user = access_staff(await current_user(request))
    cases = await request.app[STORE].cases(user.brand)
    for case in cases:
        case["attachments"] = [
            {"id": a["id"], "filename": a["filename"], "size": a["size"]}
            for a in await request.app[STORE].attachments(case["conversation_id"])
            if a["case_id"] == case["id"]
        ]
    return web.json_response({"cases": cases})


def brand_param(request: web.Request) -> str:
    brand = request.query.get("brand", "")
    if brand not in request.app[KNOWLEDGE].brands:
        raise InvalidPayload("pass ?brand= with one of the brands")
    return brand


@routes.get("/api/supervisor")
@documented("Service-level figures of a brand", SUPERVISOR, brand_query=True)
async def supervisor(request: web.Request) -> web.Response:
    """The service-level figures of a brand, live (shared/spec/service-levels.md)."""
    brand = brand_param(request)
    access_supervisor(await current_user(request), brand)
    try:
        hours = min(24 * 31, max(1, int(request.query.get("hours", "24"))))
    except ValueError:
        raise InvalidPayload("hours must be a whole number") from None
    return web.json_response(await request.app[DESK].stats(brand, hours))


@routes.get("/api/agent/canned")
@documented("Policy answers for agents", STAFF)
async def canned_answers(request: web.Request) -> web.Response:
    """The policy answers, for agents to send or adapt."""
    user = access_staff(await current_user(request))
    brand = request.app[KNOWLEDGE].brand(user.brand)
    return web.json_response(
        {
            "answers": [
                {"intent": i.name, "text": i.answer, "citation": brand.citation(i.policy_section)}
                for i in brand.intents.values()
                if i.answer
            ]
        }
    )


@routes.get("/api/agent/team")
@documented("Connected agents and their load", STAFF)
async def team(request: web.Request) -> web.Response:
    """Connected agents of the caller's brand, for transfers."""
    user = access_staff(await current_user(request))
    return web.json_response({"agents": await request.app[DESK].team(user.brand)})


@routes.get("/api/tickets")
@documented("Tickets of the brand", STAFF)
async def tickets(request: web.Request) -> web.Response:
    user = access_staff(await current_user(request))
    return web.json_response({"tickets": await request.app[STORE].tickets(user.brand)})


def add_static_routes(app: web.Application) -> None:
    settings = app[SETTINGS]

    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(settings.static_dir / "index.html")

    async def socketio_client(request: web.Request) -> web.FileResponse:
        path = settings.vendor_dir / "socket.io-client" / "dist" / "socket.io.min.js"
        if not path.exists():
            raise web.HTTPNotFound(text="socket.io-client is not installed: run npm ci")
        return web.FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})

    app.router.add_get("/", index)
    app.router.add_get("/vendor/socket.io.min.js", socketio_client)
    app.router.add_static("/static/", settings.static_dir, follow_symlinks=False)
