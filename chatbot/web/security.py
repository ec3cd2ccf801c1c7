"""Who may call from where: allowed origins (the server's own, and each
brand's configured sites), CORS for the brands' sites, and CSRF protection for
requests authenticated by the session cookie."""
from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from ..errors import Forbidden
from .keys import KNOWLEDGE

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


def socket_origin_check(app: web.Application):
    """For python-socketio's cors_allowed_origins: the same rule on the handshake."""
    def allowed(origin: str | None, environ: dict[str, Any]) -> bool:
        own = own_origin(environ.get("wsgi.url_scheme", "http"), environ.get("HTTP_HOST"))
        return origin_allowed(app, origin, own)
    return allowed


def csrf_token() -> str:
    return secrets.token_urlsafe(24)


@web.middleware
async def origin_middleware(request: web.Request, handler) -> web.StreamResponse:
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
        uses_cookie = "Authorization" not in request.headers and "chatbot_session" in request.cookies
        if uses_cookie and request.path != "/api/login":
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
