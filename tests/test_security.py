"""Identity and access: host-site tokens, origins, CSRF, password changes,
rate limits and size limits, against the real server."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
import jwt
import pytest
import socketio

from helpers import ALICE, BOB, CAROL, ChatClient, make_settings, start_server

SECRET = "cltiktok-test-secret-0123456789abcdef"
TTR_SECRET = "ttr-e-test-secret-0123456789abcdef"


@pytest.fixture(autouse=True)
def brand_secrets(monkeypatch):
    monkeypatch.setenv("CHATBOT_CLTIKTOK_EMBED_SECRET", SECRET)
    monkeypatch.setenv("CHATBOT_TTR_E_EMBED_SECRET", TTR_SECRET)


def host_token(server, sub="alice@example.com", brand="cltiktok", secret=SECRET, lifetime=300, **extra) -> str:
    now = server.clock.now().timestamp()
    claims = {"sub": sub, "aud": brand, "iat": int(now), "exp": int(now + lifetime), "jti": str(uuid.uuid4()), **extra}
    return jwt.encode(claims, secret, algorithm="HS256")


async def post(server, path, body, headers=None, session=None):
    async with session or aiohttp.ClientSession() as s:
        async with s.post(server.url + path, json=body, headers=headers or {}) as r:
            return r.status, (await r.json(content_type=None) if r.status != 204 else None), r.headers


# -- host-site identity ----------------------------------------------------------------------------


async def test_a_host_site_token_becomes_a_session_without_a_second_login(server):
    status, body, _ = await post(server, "/api/login/embed", {"brand": "cltiktok", "token": host_token(server)})
    assert status == 200 and body["user"]["name"] == "Alice Chen"
    client = ChatClient(server.url)
    await client.connect({"token": body["token"]})
    assert (await client.ask("hi"))["intent"] == "greet"
    await client.close()


async def test_a_new_customer_of_the_host_site_gets_an_account(server):
    token = host_token(server, sub="newbie@example.com", name="New Bie")
    status, body, _ = await post(server, "/api/login/embed", {"brand": "cltiktok", "token": token})
    assert status == 200 and body["user"] == {**body["user"], "name": "New Bie", "role": "customer"}
    # that account has no password anyone could guess
    status, _, _ = await post(
        server, "/api/login", {"brand": "cltiktok", "email": "newbie@example.com", "password": "!host-token-only"}
    )
    assert status == 401


@pytest.mark.parametrize(
    "make",
    [
        lambda s: host_token(s)[:-3] + "abc",  # tampered signature
        lambda s: host_token(s, lifetime=-5),  # expired
        lambda s: host_token(s, lifetime=3600),  # lives longer than 10 minutes
        lambda s: host_token(s, brand="ttr-e"),  # for another brand
        lambda s: host_token(s, secret=TTR_SECRET),  # signed by another brand
        lambda s: jwt.encode(
            {"sub": "alice@example.com", "aud": "cltiktok", "exp": int(s.clock.now().timestamp()) + 60},
            SECRET,
            algorithm="HS256",
        ),  # no jti
        lambda s: host_token(s, sub="dana@cltiktok.example"),  # staff cannot come in this way
        lambda s: jwt.encode(
            {"sub": "alice@example.com", "aud": "cltiktok", "jti": "x", "exp": int(s.clock.now().timestamp()) + 60},
            None,
            algorithm="none",
        ),
    ],
)
async def test_bad_host_tokens_are_refused(server, make):
    status, body, _ = await post(server, "/api/login/embed", {"brand": "cltiktok", "token": make(server)})
    assert status == 401 and body["error"] == "unauthorized"


async def test_a_host_token_works_once(server):
    token = host_token(server)
    assert (await post(server, "/api/login/embed", {"brand": "cltiktok", "token": token}))[0] == 200
    status, body, _ = await post(server, "/api/login/embed", {"brand": "cltiktok", "token": token})
    assert status == 401 and "already used" in body["detail"]


# -- origins, CORS and CSRF ----------------------------------------------------------------------


async def test_only_the_brands_sites_may_call_the_api_cross_origin(server):
    status, body, _ = await post(server, "/api/login", ALICE, {"Origin": "https://evil.example"})
    assert status == 403 and body["error"] == "forbidden"
    status, _, headers = await post(server, "/api/login", ALICE, {"Origin": "https://shop.cltiktok.example"})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "https://shop.cltiktok.example"
    async with aiohttp.ClientSession() as s:
        async with s.options(
            server.url + "/api/login",
            headers={"Origin": "https://shop.cltiktok.example", "Access-Control-Request-Method": "POST"},
        ) as r:
            assert r.status == 204 and "POST" in r.headers["Access-Control-Allow-Methods"]
        async with s.options(server.url + "/api/login", headers={"Origin": "https://evil.example"}) as r:
            assert r.status == 403


async def test_sockets_from_other_origins_are_refused(server):
    token = await server.login(ALICE)
    evil = ChatClient(server.url)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await evil.sio.connect(
            server.url,
            namespaces=["/chat"],
            auth={"token": token},
            transports=["websocket"],
            headers={"Origin": "https://evil.example"},
            wait_timeout=5,
        )
    await evil.close()
    # a ttr-e site may not open a cltiktok customer's chat
    other = ChatClient(server.url)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await other.sio.connect(
            server.url,
            namespaces=["/chat"],
            auth={"token": token},
            transports=["websocket"],
            headers={"Origin": "https://www.ttr-e.example"},
            wait_timeout=5,
        )
    await other.close()
    own = ChatClient(server.url)
    await own.sio.connect(
        server.url,
        namespaces=["/chat"],
        auth={"token": token},
        transports=["websocket"],
        headers={"Origin": "https://shop.cltiktok.example"},
        wait_timeout=5,
    )
    assert own.sio.connected
    await own.close()


async def test_cookie_sessions_need_the_csrf_header_for_changes(server):
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as s:
        async with s.post(server.url + "/api/login", json=ALICE) as r:
            csrf = (await r.json())["csrf"]
        async with s.post(server.url + "/api/logout") as r:
            assert r.status == 403
        async with s.get(server.url + "/api/me") as r:
            assert r.status == 200  # reading needs no token
        async with s.post(server.url + "/api/logout", headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 204


async def test_each_login_is_a_fresh_session(server):
    first = await server.login(ALICE)
    second = await server.login(ALICE)
    assert first != second
    assert (await server.get("/api/me", first))[0] == 200  # other devices stay logged in


# -- password changes --------------------------------------------------------------------------------


async def test_a_password_change_ends_every_session_and_socket_within_a_second(server):
    old = await server.login(BOB)
    other_device = await server.login(BOB)
    tab = ChatClient(server.url)
    await tab.connect({"token": other_device})
    await tab.wait_for("conversation")
    status, body, _ = await post(
        server,
        "/api/password",
        {"current_password": "bob-demo-pass", "new_password": "a-new-long-pass"},
        {"Authorization": f"Bearer {old}"},
    )
    assert status == 200 and body["token"] not in (old, other_device)
    started = time.monotonic()
    while tab.sio.connected and time.monotonic() - started < 1:
        await asyncio.sleep(0.02)
    assert not tab.sio.connected
    assert (await server.get("/api/me", old))[0] == 401 and (await server.get("/api/me", other_device))[0] == 401
    assert (await server.get("/api/me", body["token"]))[0] == 200
    assert (await post(server, "/api/login", {**BOB, "password": "a-new-long-pass"}))[0] == 200
    status, body, _ = await post(
        server,
        "/api/password",
        {"current_password": "wrong", "new_password": "x" * 10},
        {"Authorization": f"Bearer {body['token']}"},
    )
    assert status == 401


# -- limits ----------------------------------------------------------------------------------------------


async def test_a_flood_from_one_socket_is_limited_and_does_not_slow_the_others(server, clients):
    flooder = await clients(server, ALICE)
    calm = await clients(server, CAROL)
    acks = await asyncio.gather(
        *(flooder.call("message", {"client_id": str(uuid.uuid4()), "text": f"spam {i}"}) for i in range(40))
    )
    limited = [a for a in acks if not a["ok"]]
    assert limited and all(a["error"] == "rate_limited" and "try again" in a["detail"] for a in limited)
    assert sum(a["ok"] for a in acks) <= 10
    started = time.monotonic()
    reply = await calm.ask("hello")
    assert reply["intent"] == "greet" and time.monotonic() - started < 2


async def test_too_many_logins_from_one_address_are_refused(server):
    statuses = [(await post(server, "/api/login", {**ALICE, "email": f"x{i}@example.com"}))[0] for i in range(25)]
    assert statuses.count(429) >= 4 and set(statuses) <= {401, 429}


async def test_oversized_inputs_are_refused(server, clients):
    token = await server.login(ALICE)
    status, body, _ = await post(
        server, "/api/parse", {"brand": "cltiktok", "text": "a" * 70_000}, {"Authorization": f"Bearer {token}"}
    )
    assert status in (400, 413)
    client = await clients(server, ALICE)
    ack = await client.call("message", {"client_id": "x", "text": "a" * 5000})
    assert ack["error"] == "invalid_payload"
    big = ChatClient(server.url)
    await big.connect({"token": token})
    await big.emit("message", {"client_id": "y", "text": "b" * 200_000})  # beyond the Engine.IO buffer
    for _ in range(100):
        if not big.sio.connected:
            break
        await asyncio.sleep(0.02)
    assert not big.sio.connected  # that socket is dropped...
    assert (await client.ask("hello"))["intent"] == "greet"  # ...the others carry on


async def _agreed_compression(url: str) -> int:
    """Open the Socket.IO WebSocket offering permessage-deflate, as browsers do;
    the window bits the server agreed to (0: no compression)."""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket", compress=15) as ws:
            await ws.receive(timeout=5)  # Engine.IO's open packet: the socket works
            return ws.compress


async def test_sockets_decline_permessage_deflate_unless_configured(tmp_path):
    """Each compressed socket keeps zlib windows: about 90 KB of server memory
    (docs/benchmarks.md). Declined by default; a setting turns it back on."""
    for compression in (False, True):
        srv = await start_server(make_settings(tmp_path / str(compression), websocket_compression=compression))
        try:
            agreed = await _agreed_compression(srv.url)
        finally:
            await srv.runner.cleanup()
        assert bool(agreed) is compression, agreed
