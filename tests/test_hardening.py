"""Issue 17, the outside attack run: reserved event names, deeply nested JSON,
malformed frames and events (limited, counted, one log line each, the sender
disconnected), CSRF decided by what authenticates, /metrics kept private.
Against the real server, with the official clients (socketio.AsyncClient;
aiohttp for raw Engine.IO frames, which no Socket.IO client would send)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid

import aiohttp
import pytest

from chatbot.web.keys import DESK
from helpers import ALICE, CAROL, DANA, ChatClient, make_settings, start_server

DEEP = "[" * 20_000 + "]" * 20_000  # 40 KB of nested arrays


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def no_stack_traces(caplog: pytest.LogCaptureFixture) -> None:
    traced = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert not traced, [r.getMessage() for r in traced]


async def metric(server, name: str, **labels: str) -> float:
    async with aiohttp.ClientSession() as s:
        async with s.get(server.url + "/metrics") as r:
            text = await r.text()
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def until(condition, timeout: float = 5) -> None:
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    assert condition()


# -- 1. a client cannot fire the server's own connect and disconnect handlers ------------------------


async def test_a_customer_emitting_disconnect_keeps_its_rate_limit_and_its_tab_count(server, clients):
    client = await clients(server, ALICE)
    conversation = await client.wait_for("conversation")
    for i in range(10):  # the socket's burst
        await client.send(f"message {i}")
    ack = await client.call("disconnect", {})
    assert ack["ok"] is False and ack["error"] == "unknown_event"
    assert client.sio.connected
    ack = await client.call("message", {"client_id": str(uuid.uuid4()), "text": "one more"})
    assert ack["ok"] is False and ack["error"] == "rate_limited"  # the limit was not reset
    assert server.app[DESK].customer_sockets[conversation["id"]] == 1  # nor the tab count lowered


async def test_an_agent_emitting_disconnect_or_connect_changes_nothing(server, clients):
    token = await server.login(DANA)
    agent = ChatClient(server.url, "/agent")
    await agent.connect({"token": token})
    await agent.wait_for("queue")
    dana = next(p for p in server.app[DESK].presence.values() if p.user.email == DANA["email"])

    async def team_status() -> str:
        _, body = await server.get("/api/agent/team", token)
        return next(a["status"] for a in body["agents"] if a["id"] == dana.user.id)

    assert (await agent.call("disconnect", {}))["error"] == "unknown_event"
    assert await team_status() == "online" and dana.sockets == 1 and dana.dropped_at is None
    # a forged environ carrying the session cookie, as a real connect's would
    fake = ({"HTTP_COOKIE": f"chatbot_session={token}"}, {"token": token})
    assert (await agent.call("connect", fake))["error"] == "unknown_event"
    await asyncio.sleep(0.1)
    assert dana.sockets == 1  # not inflated
    await agent.close()
    await until(lambda: dana.sockets == 0)
    assert await team_status() == "disconnected"  # the real disconnect still counts


# -- 2. deeply nested JSON ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/login", "/api/login/embed", "/api/parse", "/api/password"])
async def test_deeply_nested_json_bodies_are_400_invalid_payload(server, path, caplog):
    token = await server.login(ALICE)
    async with aiohttp.ClientSession() as s:
        for body in (DEEP, json.dumps({"brand": "cltiktok", "text": nested(40)}), '{"a": [[[[' + "[" * 2000):
            async with s.post(
                server.url + path,
                data=body,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            ) as r:
                answer = await r.json()
                assert r.status == 400 and answer["error"] == "invalid_payload", answer
    no_stack_traces(caplog)
    assert await metric(server, "chatbot_rejected_inputs_total", layer="http", reason="invalid_payload") == 3


async def test_deeply_nested_socket_payloads_are_invalid_payload_and_the_socket_lives(server, clients, caplog):
    client = await clients(server, ALICE)
    ack = await client.call("message", {"client_id": "x", "text": nested(200)})
    assert ack == {**ack, "ok": False, "error": "invalid_payload"}
    assert (await client.call("typing", nested(100)))["error"] == "invalid_payload"
    assert client.sio.connected
    assert (await client.ask("hello"))["intent"] == "greet"
    no_stack_traces(caplog)


async def raw_socket(server, session: aiohttp.ClientSession, token: str) -> aiohttp.ClientWebSocketResponse:
    """A bare Engine.IO WebSocket joined to /chat, to send frames no client library would."""
    ws = await session.ws_connect(f"{server.url}/socket.io/?EIO=4&transport=websocket")
    assert (await ws.receive(timeout=5)).data.startswith("0")
    await ws.send_str("40/chat," + json.dumps({"token": token}))
    assert (await ws.receive(timeout=5)).data.startswith("40/chat,")
    return ws


async def acks_until(ws: aiohttp.ClientWebSocketResponse, last_id: int) -> dict[int, object]:
    """The acks that arrive (by id) until the one with `last_id`."""
    acks: dict[int, object] = {}
    while last_id not in acks:
        message = await ws.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.TEXT, message
        match = re.match(r"43/chat,(\d+)(.*)", message.data)
        if match:
            acks[int(match.group(1))] = json.loads(match.group(2))[0]
    return acks


async def test_malformed_frames_are_refused_without_a_stack_trace_and_the_socket_lives(server, caplog):
    token = await server.login(ALICE)
    async with aiohttp.ClientSession() as s:
        ws = await raw_socket(server, s, token)
        frames = [
            "",
            "4",
            "9zz",
            "x",
            "4" + DEEP,
            "42/chat,",
            "42/chat,[",
            "42/chat,1[",
            "42/chat,2" + DEEP,
            '42/chat,3["message",{"text":' + "[" * 5000 + "]" * 5000 + "}]",
            "4" + "9" * 50,
            "bAAA*",
        ]
        for frame in frames:
            await ws.send_str(frame)
        await asyncio.sleep(0.2)
        await ws.send_str('42/chat,7["typing",{"on":true}]')
        acks = await acks_until(ws, 7)
        assert acks[7] == {"ok": True}  # the connection lives
        for ack_id in (1, 2, 3):
            assert acks[ack_id] == {**acks[ack_id], "ok": False, "error": "invalid_payload"}  # type: ignore[dict-item]
        await ws.close()
    no_stack_traces(caplog)
    assert await metric(server, "chatbot_rejected_inputs_total", layer="engineio", reason="empty_frame") == 1
    assert await metric(server, "chatbot_rejected_inputs_total", layer="event", reason="invalid_payload") >= 4


async def test_a_connection_that_keeps_sending_malformed_frames_is_closed(server, caplog):
    token = await server.login(ALICE)
    async with aiohttp.ClientSession() as s:
        ws = await raw_socket(server, s, token)
        for _ in range(30):
            await ws.send_str("")
        while (await ws.receive(timeout=5)).type not in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.CLOSING,
        ):
            pass
    assert await metric(server, "chatbot_abuse_disconnects_total", layer="engineio") == 1
    no_stack_traces(caplog)


# -- 3 and 4. refused events are limited, counted, logged in one line, and the sender cut off ----------


async def flood(client: ChatClient, make_payload, count: int) -> int:
    """Fire `count` events without waiting for acks, until the socket is dropped; how many went out."""
    sent = 0
    for i in range(count):
        if not client.sio.connected:
            break
        try:
            await client.emit("message", make_payload(i))
        except Exception:  # the namespace went away between the check and the emit
            break
        sent += 1
        if i % 20 == 0:
            await asyncio.sleep(0)
    return sent


@pytest.mark.parametrize("kind", ["invalid", "valid"])
async def test_a_flooding_socket_is_limited_and_disconnected_while_another_customer_is_answered(
    server, clients, caplog, kind
):
    caplog.set_level(logging.WARNING, logger="chatbot.web.security")
    flooder = await clients(server, ALICE)
    calm = await clients(server, CAROL)
    await calm.wait_for("conversation")
    make = (
        (lambda i: {"client_id": f"c{i}", "text": nested(i % 50)})
        if kind == "invalid"
        else (lambda i: {"client_id": f"c{i}", "text": f"spam {i}"})
    )
    flooding = asyncio.create_task(flood(flooder, make, 1000))
    acks = []
    for i in range(5):
        acks.append(await calm.call("message", {"client_id": str(uuid.uuid4()), "text": f"hello {i}"}))
    await flooding
    await until(lambda: not flooder.sio.connected)
    assert all(a["ok"] for a in acks), acks
    assert await metric(server, "chatbot_abuse_disconnects_total", layer="event") == 1
    refused = await metric(server, "chatbot_rejected_inputs_total", layer="event")
    assert refused >= 100
    lines = [r for r in caplog.records if r.name == "chatbot.web.security"]
    assert 1 <= len(lines) < refused / 2  # one line each, but rate-limited
    assert await metric(server, "chatbot_rejection_log_lines_suppressed_total") > 0
    no_stack_traces(caplog)
    # the flood's own user has not been locked out: a new socket works
    again = await clients(server, ALICE)
    assert (await again.call("typing", {"on": True}))["ok"]


async def test_invalid_events_spend_the_sockets_event_limit_like_valid_ones(tmp_path, clients):
    srv = await start_server(make_settings(tmp_path, socket_event_burst=5, socket_strike_burst=50))
    try:
        client = await clients(srv, ALICE)
        for _ in range(5):
            assert (await client.call("typing", {"on": "yes"}))["error"] == "invalid_payload"
        ack = await client.call("typing", {"on": True})  # valid, but the socket's burst is spent
        assert ack["error"] == "rate_limited"
        srv.clock.advance(seconds=1)
        assert (await client.call("typing", {"on": True}))["ok"]
    finally:
        await client.close()
        await srv.runner.cleanup()


# -- 6. CSRF: decided by what authenticates the request ------------------------------------------------


async def test_a_cookie_session_needs_the_csrf_header_whatever_authorization_header_comes_along(server):
    token = await server.login(CAROL)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.post(server.url + "/api/login", json=ALICE) as r:
            assert r.status == 200
        for header in ("Basic YWxpY2U6eA==", "Bearer", "bearer ", "Token abc", "Digest x"):
            async with s.post(server.url + "/api/logout", headers={"Authorization": header}) as r:
                assert r.status == 403, header  # the cookie authenticates: CSRF applies
        async with s.get(server.url + "/api/me") as r:
            assert r.status == 200  # ...and the session is still there
        async with s.post(server.url + "/api/logout", headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 204  # a Bearer token authenticates: no CSRF
    assert (await server.get("/api/me", token))[0] == 401  # and it was that token's session that ended


# -- 7. /metrics is not public -----------------------------------------------------------------------------


async def test_metrics_are_served_to_loopback_only_by_default(server):
    async with aiohttp.ClientSession() as s:
        async with s.get(server.url + "/metrics") as r:
            assert r.status == 200 and "chatbot_messages_total" in await r.text()
        for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):  # a proxy passing someone on
            async with s.get(server.url + "/metrics", headers={header: "203.0.113.9"}) as r:
                assert r.status == 403


async def test_metrics_need_the_configured_token(tmp_path):
    srv = await start_server(make_settings(tmp_path, metrics_token="metrics-token-0123456789"))
    try:
        async with aiohttp.ClientSession() as s:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "metrics-token-0123456789"}):
                async with s.get(srv.url + "/metrics", headers=headers) as r:
                    assert r.status == 403 and (await r.json())["error"] == "forbidden"
            async with s.get(srv.url + "/metrics", headers={"Authorization": "Bearer metrics-token-0123456789"}) as r:
                assert r.status == 200 and "chatbot_rejected_inputs_total" in await r.text()
    finally:
        await srv.runner.cleanup()


async def test_long_polling_posts_of_a_cookie_session_are_not_refused_as_csrf(server):
    """A browser on Engine.IO long-polling sends the session cookie with its
    POSTs too; they are not API calls (the socket id, known only to the
    handshake, authenticates them), so no CSRF header is asked for."""
    token = await server.login(ALICE)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        s.cookie_jar.update_cookies({"chatbot_session": token})
        async with s.get(server.url + "/socket.io/?EIO=4&transport=polling") as r:
            sid = json.loads((await r.text())[1:])["sid"]
        polling = f"{server.url}/socket.io/?EIO=4&transport=polling&sid={sid}"
        async with s.post(polling, data="40/chat,") as r:
            assert r.status == 200
        async with s.get(polling) as r:
            assert "40/chat,{" in await r.text()  # joined /chat on the cookie session
        async with s.post(polling, data="1") as r:  # Engine.IO close
            assert r.status == 200
