"""What the OpenAPI description says of a route, declared beside the route
itself with `@documented(...)`; web/openapi.py builds the description from the
route tables, so a route cannot be added without it being described."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

ANYONE, SESSION, STAFF, OPERATOR = "anyone", "any session", "agent or operator", "operator of the brand"
CUSTOMER, SUPERVISOR = "customer or merchant", "operator or supervising agent"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class RouteDoc:
    summary: str
    who: str  # who may call it, as the access check (access.py) decides
    body: Any = None  # the pydantic model of a JSON body
    brand_query: bool = False  # takes ?brand=


def documented(summary: str, who: str, body: Any = None, *, brand_query: bool = False) -> Callable[[F], F]:
    def mark(handler: F) -> F:
        handler.route_doc = RouteDoc(summary, who, body, brand_query)  # type: ignore[attr-defined]
        return handler

    return mark


def doc_of(handler: Any) -> RouteDoc | None:
    return getattr(handler, "route_doc", None)
