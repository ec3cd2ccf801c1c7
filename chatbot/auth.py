"""Who someone is: password checks, sessions, and the brake on guessing.

Passwords are hashed with argon2id. A session token is 256 random bits handed
to the client once; the database keeps only its SHA-256, so a leaked database
does not leak usable sessions."""
from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .clock import Clock
from .errors import InvalidCredentials, TooManyAttempts
from .store import Store

ROLES = ("customer", "merchant", "agent", "operator")
_hasher = PasswordHasher()
# Verified against when the email is unknown, so both failures cost the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class User:
    id: int
    brand: str
    email: str
    name: str
    role: str
    is_supervisor: bool = False

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "User":
        return cls(id=row["id"], brand=row["brand"], email=row["email"], name=row["name"], role=row["role"],
                   is_supervisor=bool(row.get("is_supervisor")))

    def can_supervise(self, brand: str) -> bool:
        """Operators of the brand, and its agents given the supervisor right."""
        return self.brand == brand and (self.role == "operator" or (self.role == "agent" and self.is_supervisor))

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "role": self.role, "brand": self.brand}


class Auth:
    def __init__(self, store: Store, clock: Clock, *, session_ttl_seconds: int,
                 max_failures: int, failure_window_seconds: int) -> None:
        self.store = store
        self.clock = clock
        self.session_ttl = timedelta(seconds=session_ttl_seconds)
        self.max_failures = max_failures
        self.failure_window = timedelta(seconds=failure_window_seconds)

    async def login(self, brand: str, email: str, password: str) -> tuple[str, User]:
        """A new session for valid credentials. Raises InvalidCredentials, or
        TooManyAttempts once an account has had too many recent failures."""
        key = f"{brand}:{email.strip().lower()}"
        now = self.clock.now()
        if await self.store.count_login_failures(key, now - self.failure_window) >= self.max_failures:
            raise TooManyAttempts("too many failed login attempts; try again later")
        row = await self.store.user_by_email(brand, email.strip())
        # argon2 is deliberately slow: keep it off the event loop.
        ok = await asyncio.to_thread(_verify, row["password_hash"] if row else _DUMMY_HASH, password)
        if not (row and ok):
            await self.store.record_login_failure(key, now)
            raise InvalidCredentials("wrong email or password")
        await self.store.clear_login_failures(key)
        token = secrets.token_urlsafe(32)
        await self.store.create_session(hash_token(token), row["id"], now, now + self.session_ttl)
        return token, User.from_row(row)

    async def user_for_token(self, token: str | None) -> User | None:
        if not token or len(token) > 256:
            return None
        row = await self.store.session_user(hash_token(token), self.clock.now())
        return User.from_row(row) if row else None

    async def logout(self, token: str) -> None:
        await self.store.delete_session(hash_token(token))
