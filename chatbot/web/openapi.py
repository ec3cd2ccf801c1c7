"""The OpenAPI description of the HTTP API, served at /api/openapi.json. It
is built from the route tables: each route declares its summary, who may call
it and its body model beside itself (`@documented`, apidoc.py), and request
bodies come from the same pydantic models that validate them. A test checks
that every /api route of the app is described here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from aiohttp import web

from . import http, operator_api
from .apidoc import ANYONE, CUSTOMER, OPERATOR, SESSION, STAFF, SUPERVISOR, RouteDoc, doc_of, documented

__all__ = [
    "ANYONE",
    "BRAND_QUERY",
    "CUSTOMER",
    "OPERATOR",
    "ROUTES",
    "SESSION",
    "STAFF",
    "SUPERVISOR",
    "describe",
    "routes",
]

BRAND = {"name": "brand", "in": "query", "required": True, "schema": {"type": "string"}}
routes = web.RouteTableDef()


@routes.get("/api/openapi.json")
@documented("This description", ANYONE)
async def serve(request: web.Request) -> web.Response:
    return web.json_response(describe())


def _docs(tables: Iterable[web.RouteTableDef]) -> dict[tuple[str, str], RouteDoc]:
    docs = {}
    for table in tables:
        for route in table:
            if isinstance(route, web.RouteDef) and route.path.startswith("/api/"):
                doc = doc_of(route.handler)
                if doc is None:
                    raise TypeError(f"{route.method} {route.path} has no @documented")
                docs[(route.method, route.path)] = doc
    return docs


DOCS: Mapping[tuple[str, str], RouteDoc] = MappingProxyType(_docs((http.routes, operator_api.routes, routes)))
# (method, path) → (summary, who may call it, request body model)
ROUTES: Mapping[tuple[str, str], tuple[str, str, Any]] = MappingProxyType(
    {key: (doc.summary, doc.who, doc.body) for key, doc in DOCS.items()}
)
BRAND_QUERY = frozenset(path for (_, path), doc in DOCS.items() if doc.brand_query)


def _operation(path: str, doc: RouteDoc) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": doc.summary,
        "description": f"Who may call it: {doc.who}.",
        "responses": {
            "200": {"description": "OK"},
            "400": {"description": "invalid_payload"},
            "401": {"description": "unauthorized"},
            "403": {"description": "forbidden"},
        },
    }
    parameters = []
    if "{name}" in path:
        parameters.append({"name": "name", "in": "path", "required": True, "schema": {"type": "string"}})
    if doc.brand_query:
        parameters.append(BRAND)
    if parameters:
        operation["parameters"] = parameters
    if doc.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": doc.body.model_json_schema()}},
        }
        if "base_version" in doc.body.model_fields:
            operation["responses"]["409"] = {"description": "stale_version: another save came after base_version"}
    return operation


def describe() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), doc in DOCS.items():
        paths.setdefault(path, {})[method.lower()] = _operation(path, doc)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Support chatbot API",
            "version": "1",
            "description": 'Errors are {"error", "detail"}. Authenticate with the session cookie or '
            "'Authorization: Bearer TOKEN'. Socket.IO events: docs/protocol.md.",
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "chatbot_session"},
            }
        },
        "security": [{"bearer": []}, {"cookie": []}],
        "paths": paths,
    }
