"""The OpenAPI description of the HTTP API, served at /api/openapi.json.
Request bodies come from the same pydantic models that validate them; a test
checks that every /api route of the app is described here."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from . import operator_api as op
from .payloads import EmbedLoginBody, LoginBody, ParseBody, PasswordBody

ANYONE, SESSION, STAFF, OPERATOR = "anyone", "any session", "agent or operator", "operator of the brand"
BRAND = {"name": "brand", "in": "query", "required": True, "schema": {"type": "string"}}

# (method, path) → (summary, who may call it, request body model)
ROUTES: dict[tuple[str, str], tuple[str, str, Any]] = {
    ("POST", "/api/login"): ("Log in; sets the session cookie", ANYONE, LoginBody),
    ("POST", "/api/login/embed"): ("Log in with a token signed by the brand's own site", ANYONE, EmbedLoginBody),
    ("POST", "/api/password"): ("Change the password; ends every other session", SESSION, PasswordBody),
    ("POST", "/api/logout"): ("Log out: the token stops working, its sockets close", SESSION, None),
    ("GET", "/api/me"): ("The logged-in user", SESSION, None),
    ("POST", "/api/parse"): ("Rasa-shaped parse of a message", STAFF, ParseBody),
    ("POST", "/api/attachments"): ("Attach a screenshot (multipart field 'file')", "customer or merchant", None),
    ("GET", "/api/cases"): ("Mediation cases of the brand", STAFF, None),
    ("GET", "/api/tickets"): ("Tickets of the brand", STAFF, None),
    ("GET", "/api/agent/canned"): ("Policy answers for agents", STAFF, None),
    ("GET", "/api/agent/team"): ("Connected agents and their load", STAFF, None),
    ("GET", "/api/supervisor"): ("Service-level figures of a brand", "operator or supervising agent", None),
    ("GET", "/api/operator/intents"): ("Intents with example counts and accuracy", OPERATOR, None),
    ("POST", "/api/operator/intents"): ("Create an intent", OPERATOR, op.NewIntent),
    ("GET", "/api/operator/intents/{name}"): ("One intent with its versions", OPERATOR, None),
    ("PUT", "/api/operator/intents/{name}"): ("Edit an intent (checked, versioned, reloaded)", OPERATOR,
                                              op.IntentChanges),
    ("POST", "/api/operator/intents/{name}/check"): ("What an edit would do, with nothing saved: the check, "
                                                     "accuracy before and after, the labelled messages it moves",
                                                     OPERATOR, op.IntentChanges),
    ("DELETE", "/api/operator/intents/{name}"): ("Retire an intent", OPERATOR, None),
    ("GET", "/api/operator/intents/{name}/versions"): ("Versions of an intent", OPERATOR, None),
    ("POST", "/api/operator/intents/{name}/rollback"): ("Restore a version", OPERATOR, op.Rollback),
    ("POST", "/api/operator/reload"): ("Reload the intent files now", OPERATOR, None),
    ("POST", "/api/operator/try"): ("Parse and preview the answer", OPERATOR, op.TryIt),
    ("GET", "/api/operator/misses"): ("Inbox of misses, grouped", OPERATOR, None),
    ("POST", "/api/operator/misses/resolve"): ("Add a missed message as an example, or dismiss it", OPERATOR,
                                               op.ResolveMiss),
    ("GET", "/api/operator/eval"): ("Labelled sets and past runs", OPERATOR, None),
    ("POST", "/api/operator/eval"): ("Evaluate a labelled set", OPERATOR, op.RunEval),
    ("GET", "/api/operator/analytics"): ("Figures per day", OPERATOR, None),
    ("GET", "/api/operator/policy"): ("The policy document", OPERATOR, None),
    ("PUT", "/api/operator/policy"): ("Replace the policy; lists intents to review", OPERATOR, op.PolicyText),
    ("GET", "/api/operator/policy/versions"): ("The policy's earlier texts, newest first", OPERATOR, None),
    ("GET", "/api/openapi.json"): ("This description", ANYONE, None),
}
BRAND_QUERY = {"/api/supervisor", "/api/operator/intents", "/api/operator/intents/{name}",
               "/api/operator/intents/{name}/versions", "/api/operator/intents/{name}/rollback",
               "/api/operator/intents/{name}/check",
               "/api/operator/reload", "/api/operator/misses", "/api/operator/eval", "/api/operator/analytics",
               "/api/operator/policy", "/api/operator/policy/versions"}


def describe() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), (summary, who, model) in ROUTES.items():
        operation: dict[str, Any] = {
            "summary": summary, "description": f"Who may call it: {who}.",
            "responses": {"200": {"description": "OK"}, "400": {"description": "invalid_payload"},
                          "401": {"description": "unauthorized"}, "403": {"description": "forbidden"}},
        }
        parameters = []
        if "{name}" in path:
            parameters.append({"name": "name", "in": "path", "required": True, "schema": {"type": "string"}})
        if path in BRAND_QUERY and not (path == "/api/operator/eval" and method == "POST"):
            parameters.append(BRAND)
        if parameters:
            operation["parameters"] = parameters
        if model is not None:
            operation["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": model.model_json_schema()}}}
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Support chatbot API", "version": "1",
                 "description": "Errors are {\"error\", \"detail\"}. Authenticate with the session cookie or "
                                "'Authorization: Bearer TOKEN'. Socket.IO events: docs/protocol.md."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                           "cookie": {"type": "apiKey", "in": "cookie", "name": "chatbot_session"}}},
        "security": [{"bearer": []}, {"cookie": []}],
        "paths": paths,
    }


async def serve(request: web.Request) -> web.Response:
    return web.json_response(describe())
