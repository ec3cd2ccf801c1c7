"""Who someone is: password checks, sessions, and the brake on guessing.

Passwords are hashed with argon2id. A session token is 256 random bits handed
to the client once; the database keeps only its SHA-256, so a leaked database
does not leak usable sessions."""
from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .clock import Clock, isoformat
from .errors import InvalidCredentials, InvalidPayload, TooManyAttempts, Unauthorized
from .store import Store

HOST_TOKEN_MAX_SECONDS = 600
MIN_PASSWORD = 8

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
        return await self._new_session(row["id"]), User.from_row(row)

    async def _new_session(self, user_id: int) -> str:
        now = self.clock.now()
        token = secrets.token_urlsafe(32)
        await self.store.create_session(hash_token(token), user_id, now, now + self.session_ttl)
        return token

    async def login_with_host_token(self, brand: str, host_token: str, secret: str | None) -> tuple[str, User]:
        """A session for the customer a brand's own website vouches for: a JWT
        signed HS256 with the brand's secret, with `sub` (the customer's email),
        `aud` (the brand), `exp` at most 10 minutes ahead and a `jti` used once."""
        if not secret:
            raise Unauthorized("this brand does not accept host tokens")
        try:
            claims = jwt.decode(host_token, secret, algorithms=["HS256"], audience=brand,
                                options={"require": ["sub", "exp", "jti", "aud"], "verify_exp": False,
                                         "verify_iat": False})
        except jwt.PyJWTError as e:
            raise Unauthorized(f"host token refused: {e}") from None
        now = self.clock.now().timestamp()
        if not isinstance(claims["exp"], (int, float)) or claims["exp"] <= now:
            raise Unauthorized("host token refused: expired")
        if claims["exp"] - now > HOST_TOKEN_MAX_SECONDS:
            raise Unauthorized("host token refused: it may live at most 10 minutes")
        email, jti = str(claims["sub"]).strip(), str(claims["jti"])
        if not email or not jti or len(jti) > 200 or len(email) > 254:
            raise Unauthorized("host token refused: bad sub or jti")
        expires = datetime.fromtimestamp(claims["exp"], timezone.utc)
        if not await self.store.use_token_id(brand, jti, expires, self.clock.now()):
            raise Unauthorized("host token refused: already used")
        row = await self.store.user_by_email(brand, email)
        if row is None:   # first visit of a customer the host site knows: an account without a password
            name = str(claims.get("name") or email.split("@")[0])[:100]
            await self.store.create_user({"brand": brand, "email": email, "name": name, "role": "customer",
                                          "password_hash": "!host-token-only", "created_at": isoformat(self.clock.now())})
            row = await self.store.user_by_email(brand, email)
        if row["role"] not in ("customer", "merchant"):
            raise Unauthorized("host tokens are for customers")
        return await self._new_session(row["id"]), User.from_row(row)

    async def change_password(self, user: User, current: str, new: str) -> str:
        """Set a new password; every session of the user ends. Returns a fresh one."""
        if len(new) < MIN_PASSWORD:
            raise InvalidPayload(f"the new password needs at least {MIN_PASSWORD} characters")
        row = await self.store.user(user.id)
        if not await asyncio.to_thread(_verify, row["password_hash"], current):
            raise InvalidCredentials("the current password is wrong")
        await self.store.set_password_hash(user.id, await asyncio.to_thread(hash_password, new), self.clock.now())
        await self.store.delete_user_sessions(user.id)
        return await self._new_session(user.id)

    async def user_for_token(self, token: str | None) -> User | None:
        if not token or len(token) > 256:
            return None
        row = await self.store.session_user(hash_token(token), self.clock.now())
        return User.from_row(row) if row else None

    async def logout(self, token: str) -> None:
        await self.store.delete_session(hash_token(token))
