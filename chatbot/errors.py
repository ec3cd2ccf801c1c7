"""Domain errors. Each carries the protocol's error code and HTTP status; the
edge (HTTP routes, Socket.IO handlers) turns them into `{"error", "detail"}`."""

from __future__ import annotations


class ChatbotError(Exception):
    code = "error"
    status = 400

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.code)
        self.detail = detail or self.code.replace("_", " ")


class InvalidPayload(ChatbotError):
    code, status = "invalid_payload", 400


class InvalidCredentials(ChatbotError):
    code, status = "invalid_credentials", 401


class Unauthorized(ChatbotError):
    code, status = "unauthorized", 401


class Forbidden(ChatbotError):
    code, status = "forbidden", 403


class NotFound(ChatbotError):
    code, status = "not_found", 404


class AccessDenied(Forbidden):
    """The user's role or brand may not do this (access.py)."""


class NotVisible(NotFound):
    """Not there for this user (access.py): another customer's or another
    brand's object is answered exactly like a missing one."""


class TooManyAttempts(ChatbotError):
    code, status = "too_many_attempts", 429


class Conflict(ChatbotError):
    code, status = "conflict", 409


class StaleVersion(Conflict):
    """An edit based on a version someone else has replaced since."""

    code = "stale_version"
