"""Login, sessions and logout over real HTTP."""

from __future__ import annotations

import aiohttp
import pytest
import socketio

from chatbot.auth import hash_password
from helpers import ALICE, CAROL, OLGA, ChatClient


async def test_login_returns_token_user_and_a_safe_cookie(server):
    async with aiohttp.ClientSession() as s:
        async with s.post(server.url + "/api/login", json=ALICE) as r:
            assert r.status == 200
            body = await r.json()
            cookie = r.headers["Set-Cookie"]
    assert body["user"] == {"id": body["user"]["id"], "name": "Alice Chen", "role": "customer", "brand": "cltiktok"}
    assert len(body["token"]) >= 40
    assert f"chatbot_session={body['token']}" in cookie
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


async def test_the_session_cookie_alone_identifies_the_user(server):
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.post(server.url + "/api/login", json=ALICE) as r:
            assert r.status == 200
        async with s.get(server.url + "/api/me") as r:
            assert r.status == 200
            assert (await r.json())["user"]["name"] == "Alice Chen"


@pytest.mark.parametrize(
    "creds",
    [
        {**ALICE, "password": "wrong"},
        {**ALICE, "email": "nobody@example.com"},
        {**ALICE, "brand": "ttr-e"},  # alice is a cltiktok customer only
        {**CAROL, "brand": "cltiktok"},
    ],
)
async def test_bad_credentials_are_401_invalid_credentials(server, creds):
    status, body = await server.post("/api/login", creds)
    assert status == 401
    assert body["error"] == "invalid_credentials"


@pytest.mark.parametrize("body", [None, [], {"brand": "cltiktok"}, {**ALICE, "password": 5}, "x"])
async def test_malformed_login_is_400(server, body):
    status, answer = await server.post("/api/login", body)
    assert status == 400
    assert answer["error"] == "invalid_payload"


def from_address(address: str, jar: aiohttp.CookieJar | None = None) -> aiohttp.ClientSession:
    """A client at another loopback address (the brake counts per account and address)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(local_addr=(address, 0)),
        cookie_jar=jar if jar is not None else aiohttp.CookieJar(unsafe=True),
    )


async def attempt(session: aiohttp.ClientSession, server, creds: dict) -> tuple[int, dict]:
    async with session.post(server.url + "/api/login", json=creds) as r:
        return r.status, await r.json()


async def test_failed_logins_slow_their_source_down_and_do_not_lock_the_owner_out(server):
    async with from_address("127.0.0.2") as attacker, from_address("127.0.0.3") as owner:
        for _ in range(5):
            assert (await attempt(attacker, server, {**ALICE, "password": "guess"}))[0] == 401
        status, body = await attempt(attacker, server, ALICE)  # even the right password
        assert status == 429 and body["error"] == "too_many_attempts" and "try again in 1 s" in body["detail"]
        # the owner, from an address and a browser the account has never used, is not held up
        assert (await attempt(owner, server, ALICE))[0] == 200
        # a slow-down, not a lock: after the wait, the attacker may guess once more, then waits twice as long
        server.clock.advance(seconds=1.5)
        assert (await attempt(attacker, server, {**ALICE, "password": "guess"}))[0] == 401
        status, body = await attempt(attacker, server, ALICE)
        assert status == 429 and "try again in 2 s" in body["detail"]
        server.clock.advance(seconds=2.5)
        assert (await attempt(attacker, server, ALICE))[0] == 200
        # an account that does not exist is throttled exactly the same way: no hint either way
        for _ in range(5):
            assert (await attempt(attacker, server, {**ALICE, "email": "nobody@example.com"}))[0] == 401
        status, nobody = await attempt(attacker, server, {**ALICE, "email": "nobody@example.com"})
        assert status == 429 and nobody == {**nobody, "error": "too_many_attempts"}
    # other accounts are not affected
    assert (await server.post("/api/login", CAROL))[0] == 200


async def test_guessing_from_many_addresses_slows_unknown_sources_not_the_owners_device_or_address(server):
    jar = aiohttp.CookieJar(unsafe=True)
    async with from_address("127.0.0.2", jar) as owner:  # the owner has logged in here before
        assert (await attempt(owner, server, ALICE))[0] == 200
        assert any(c.key == "chatbot_device" for c in jar)
    for n in range(5):  # 4 guesses from each of 5 addresses
        async with from_address(f"127.0.0.{10 + n}") as attacker:
            for _ in range(4):
                assert (await attempt(attacker, server, {**ALICE, "password": "guess"}))[0] == 401
    async with from_address("127.0.0.20") as stranger:  # a new source waits...
        status, body = await attempt(stranger, server, ALICE)
        assert status == 429 and body["error"] == "too_many_attempts"
    async with from_address("127.0.0.21", jar) as owner_elsewhere:  # ...the owner's browser does not
        assert (await attempt(owner_elsewhere, server, ALICE))[0] == 200
    async with from_address("127.0.0.2") as owner_address:  # nor another browser at a known address
        assert (await attempt(owner_address, server, ALICE))[0] == 200
    server.clock.advance(seconds=2)  # and the new source only waits
    async with from_address("127.0.0.20") as stranger:
        assert (await attempt(stranger, server, ALICE))[0] == 200


async def test_the_same_email_on_another_brand_is_another_account(server):
    from chatbot.web.keys import STORE

    await server.app[STORE].create_user(
        {
            "brand": "ttr-e",
            "email": ALICE["email"],
            "name": "Alice at TTR-E",
            "role": "customer",
            "password_hash": hash_password("other-pass"),
            "created_at": "2026-01-01T00:00:00Z",
        }
    )
    status, body = await server.post("/api/login", {**ALICE, "brand": "ttr-e", "password": "other-pass"})
    assert status == 200 and body["user"]["brand"] == "ttr-e" and body["user"]["name"] == "Alice at TTR-E"
    status, body = await server.post("/api/login", ALICE)
    assert status == 200 and body["user"]["name"] == "Alice Chen"
    assert (await server.post("/api/login", {**ALICE, "brand": "ttr-e"}))[0] == 401


async def test_tokens_are_stored_hashed(server):
    from chatbot.web.keys import STORE

    token = await server.login(ALICE)
    sessions = await server.app[STORE].table_rows("sessions")
    assert sessions and all(token not in str(row) for row in sessions)


async def test_sessions_expire(server):
    token = await server.login(ALICE)
    assert (await server.get("/api/me", token))[0] == 200
    server.clock.advance(days=8)
    assert (await server.get("/api/me", token))[0] == 401


async def test_logout_revokes_the_token_and_its_sockets(server):
    token = await server.login(ALICE)
    client = ChatClient(server.url)
    await client.connect({"token": token})
    await client.wait_for("conversation")
    status, _ = await server.post("/api/logout", token=token)
    assert status == 204
    assert (await server.get("/api/me", token))[0] == 401
    for _ in range(50):
        if not client.sio.connected:
            break
        await __import__("asyncio").sleep(0.02)
    assert not client.sio.connected
    again = ChatClient(server.url)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await again.connect({"token": token})


async def test_errors_never_carry_a_stack_trace(server):
    status, body = await server.post("/api/nothing-here", {})
    assert status in (404, 405)
    assert set(body) == {"error", "detail"}


async def test_parse_needs_staff_of_the_brand(server):
    operator = await server.login(OLGA)
    customer = await server.login(ALICE)
    status, body = await server.post("/api/parse", {"brand": "cltiktok", "text": "hello there"}, operator)
    assert status == 200 and body["intent"]["name"] == "greet"
    assert (await server.post("/api/parse", {"brand": "cltiktok", "text": "hi"}, customer))[0] == 403
    assert (await server.post("/api/parse", {"brand": "ttr-e", "text": "hi"}, operator))[0] == 403
    assert (await server.post("/api/parse", {"brand": "cltiktok", "text": "hi"}))[0] == 401
