"""Who someone is: password checks, sessions, and the brake on guessing.

Passwords are hashed with argon2id. A session token is 256 random bits handed
to the client once; the database keeps only its SHA-256, so a leaked database
does not leak usable sessions."""

from __future__ import annotations

import asyncio
import hashlib
import math
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .clock import Clock, isoformat
from .errors import InvalidCredentials, InvalidPayload, TooManyAttempts, Unauthorized
from .store import Store

HOST_TOKEN_MAX_SECONDS = 600
MIN_PASSWORD = 8
KNOWN_ACCOUNTS = 10_000  # accounts whose known sources are remembered (the least recently used go first)
KNOWN_PER_ACCOUNT = 20  # addresses and devices remembered per account

ROLES = ("customer", "merchant", "agent", "operator")


def hash_password(password: str) -> str:
    return PasswordHasher().hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return PasswordHasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _address_mark(address: str) -> str | None:
    return f"address:{address}" if address and address != "unknown" else None


def _device_mark(device: str | None) -> str | None:
    return f"device:{hash_token(device)}" if device else None


@dataclass(frozen=True)
class LoginSource:
    """Where a login attempt comes from: the client's address, and the
    device token its browser holds (the `chatbot_device` cookie), if any."""

    address: str
    device: str | None = None


class LoginThrottled(TooManyAttempts):
    """Too many recent failures for this account from this source (`scope`
    "source"), or from all the sources it has not logged in from ("account")."""

    def __init__(self, detail: str, scope: str) -> None:
        super().__init__(detail)
        self.scope = scope


@dataclass(frozen=True)
class User:
    id: int
    brand: str
    email: str
    name: str
    role: str
    is_supervisor: bool = False

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> User:
        return cls(
            id=row["id"],
            brand=row["brand"],
            email=row["email"],
            name=row["name"],
            role=row["role"],
            is_supervisor=bool(row.get("is_supervisor")),
        )

    def can_supervise(self, brand: str) -> bool:
        """Operators of the brand, and its agents given the supervisor right."""
        return self.brand == brand and (self.role == "operator" or (self.role == "agent" and self.is_supervisor))

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "role": self.role, "brand": self.brand}


class Auth:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        session_ttl_seconds: int,
        max_failures: int,
        failure_window_seconds: int,
        account_max_failures: int = 20,
        max_delay_seconds: float = 60.0,
    ) -> None:
        self.store = store
        self.clock = clock
        self.session_ttl = timedelta(seconds=session_ttl_seconds)
        self.max_failures = max_failures
        self.failure_window = timedelta(seconds=failure_window_seconds)
        self.account_max_failures = account_max_failures
        self.max_delay = max_delay_seconds
        # account → the addresses and devices (hashed) it has logged in from; in memory, so a restart forgets them
        self._known: OrderedDict[str, list[str]] = OrderedDict()
        self._dummy_hash: str | None = None

    async def _unknown_account_hash(self) -> str:
        """Verified against when the email is unknown, so both failures cost
        the same time; hashed at first use (argon2 is slow on purpose)."""
        if self._dummy_hash is None:
            self._dummy_hash = await asyncio.to_thread(hash_password, secrets.token_urlsafe(16))
        return self._dummy_hash

    async def login(self, brand: str, email: str, password: str, source: LoginSource | None = None) -> tuple[str, User]:
        """A new session for valid credentials. Raises InvalidCredentials, or
        LoginThrottled (429) while the source must wait.

        The brake slows guessing down without locking anyone out
        (docs/security.md): failures are counted per account *and* source
        address, and after `max_failures` of them that source waits before
        each further attempt, 1 s doubling to at most `max_delay`. Failures
        from sources the account has never logged in from are also counted
        per account, so guessing from many addresses slows down too; a device
        or address the account has logged in from before is exempt from that
        one, so the owner keeps getting in. A throttled attempt is refused
        before the password is checked, and unknown accounts are throttled
        exactly like real ones: the answer says nothing about the password,
        the account or anyone else's attempts."""
        source = source or LoginSource("unknown")
        account = f"{brand}:{email.strip().lower()}"
        pair = f"{account}|{source.address}"
        known_device = self._is_known(account, _device_mark(source.device))
        known = known_device or self._is_known(account, _address_mark(source.address))
        now = self.clock.now()
        if not known_device:
            await self._brake(pair, self.max_failures, 1, "source", now)
        if not known:
            await self._brake(account, self.account_max_failures, 5, "account", now)
        row = await self.store.user_by_email(brand, email.strip())
        # argon2 is deliberately slow: keep it off the event loop.
        against = row["password_hash"] if row else await self._unknown_account_hash()
        ok = await asyncio.to_thread(_verify, against, password)
        if not (row and ok):
            await self.store.record_login_failure(pair, now)
            if not known:
                await self.store.record_login_failure(account, now)
            raise InvalidCredentials("wrong email or password")
        await self.store.clear_login_failures(pair)
        self._remember(account, _address_mark(source.address), _device_mark(source.device))
        return await self._new_session(row["id"]), User.from_row(row)

    async def _brake(self, key: str, allowed: int, per_doubling: int, scope: str, now: datetime) -> None:
        """Past `allowed` failures of `key` in the window, each further attempt
        waits 1 s, doubling every `per_doubling` failures, after the last one."""
        failures = await self.store.count_login_failures(key, now - self.failure_window)
        if failures < allowed:
            return
        delay = min(self.max_delay, 2.0 ** ((failures - allowed) // per_doubling))
        if await self.store.count_login_failures(key, now - timedelta(seconds=delay)):
            raise LoginThrottled(f"too many failed login attempts; try again in {math.ceil(delay)} s", scope)

    def _is_known(self, account: str, mark: str | None) -> bool:
        return mark is not None and mark in self._known.get(account, ())

    def _remember(self, account: str, *marks: str | None) -> None:
        known = self._known.pop(account, [])
        for mark in marks:
            if mark is not None:
                if mark in known:
                    known.remove(mark)
                known.append(mark)
        self._known[account] = known[-KNOWN_PER_ACCOUNT:]
        while len(self._known) > KNOWN_ACCOUNTS:
            self._known.popitem(last=False)

    async def _new_session(self, user_id: int) -> str:
        now = self.clock.now()
        token = secrets.token_urlsafe(32)
        await self.store.create_session(hash_token(token), user_id, now, now + self.session_ttl)
        return token

    async def login_with_host_token(self, brand: str, host_token: str, secret: str | None) -> tuple[str, User]:
        """A session for the customer a brand's own website vouches for: a JWT
        signed HS256 with the brand's secret, with `sub` (the customer's email),
        `aud` (the brand), `exp` at most 10 minutes ahead and a `jti` used once."""
        claims = self._host_token_claims(brand, host_token, secret)
        email, jti = str(claims["sub"]).strip(), str(claims["jti"])
        if not email or not jti or len(jti) > 200 or len(email) > 254:
            raise Unauthorized("host token refused: bad sub or jti")
        expires = datetime.fromtimestamp(claims["exp"], UTC)
        if not await self.store.use_token_id(brand, jti, expires, self.clock.now()):
            raise Unauthorized("host token refused: already used")
        row = await self._host_token_user(brand, email, claims.get("name"))
        if row["role"] not in ("customer", "merchant"):
            raise Unauthorized("host tokens are for customers")
        return await self._new_session(row["id"]), User.from_row(row)

    def _host_token_claims(self, brand: str, host_token: str, secret: str | None) -> dict[str, Any]:
        """The claims of a host token signed with `secret` for `brand`, not yet
        expired and expiring within HOST_TOKEN_MAX_SECONDS."""
        if not secret:
            raise Unauthorized("this brand does not accept host tokens")
        try:
            claims = jwt.decode(
                host_token,
                secret,
                algorithms=["HS256"],
                audience=brand,
                options={"require": ["sub", "exp", "jti", "aud"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError as e:
            raise Unauthorized(f"host token refused: {e}") from None
        now = self.clock.now().timestamp()
        if not isinstance(claims["exp"], (int, float)) or claims["exp"] <= now:
            raise Unauthorized("host token refused: expired")
        if claims["exp"] - now > HOST_TOKEN_MAX_SECONDS:
            raise Unauthorized("host token refused: it may live at most 10 minutes")
        return claims

    async def _host_token_user(self, brand: str, email: str, name: Any) -> dict[str, Any] | None:
        """The user with this email; on a customer's first visit, an account without a password."""
        row = await self.store.user_by_email(brand, email)
        if row is None:
            await self.store.create_user(
                {
                    "brand": brand,
                    "email": email,
                    "name": str(name or email.split("@")[0])[:100],
                    "role": "customer",
                    "password_hash": "!host-token-only",
                    "created_at": isoformat(self.clock.now()),
                }
            )
            row = await self.store.user_by_email(brand, email)
        return row

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
