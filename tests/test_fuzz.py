"""Hypothesis drives every event and every JSON route with malformed payloads
(wrong types, huge and deeply nested values, odd unicode): no unhandled
exception, no 5xx, and the connection stays usable. The suite runs a fixed,
derandomised share; FUZZ_EXAMPLES=2000 runs a longer one (docs/security.md)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import uuid

import aiohttp
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chatbot.web import openapi
from helpers import ALICE, DANA, OLGA, ChatClient, make_settings, start_server

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def nested(depth: int):
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


odd_text = st.one_of(
    st.text(max_size=50),
    st.sampled_from(
        [
            "\u0000",
            "\ud7ff\ufffe",
            "👩‍👩‍👧" * 200,
            "a" * 5000,
            "<img src=x onerror=alert(1)>",
            "' OR 1=1 --",
            "../../etc/passwd",
            "\u202e",
            "null",
        ]
    ),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True), odd_text
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(odd_text, inner, max_size=5)),
    max_leaves=20,
)
fields = [
    "client_id",
    "text",
    "on",
    "rating",
    "conversation_id",
    "agent_id",
    "status",
    "brand",
    "email",
    "password",
    "token",
    "examples",
    "answer",
    "version",
    "set",
    "action",
    "intent",
    "keys",
    "name",
]
payloads = st.one_of(
    values,
    st.dictionaries(st.sampled_from(fields), values, max_size=6),
    st.just({"text": nested(200)}),
    st.just({"client_id": "x", "text": nested(40)}),
)

CHAT_EVENTS = ["message", "typing", "rate", "nonexistent"]
AGENT_EVENTS = ["accept", "message", "resolve", "release", "handback", "transfer", "status", "note", "typing"]
JSON_ROUTES = sorted((m, p) for (m, p) in openapi.ROUTES if m in ("POST", "PUT"))


class World:
    """One server and connected clients on a loop of their own, reused by every example."""

    def __init__(self, tmp_path) -> None:
        # The loop runs all the time in its own thread, as a server's would:
        # pings and background work go on between examples too.
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = self.run(start_server(make_settings(tmp_path)))
        self.tokens = {
            name: self.run(self.server.login(creds))
            for name, creds in (("alice", ALICE), ("dana", DANA), ("olga", OLGA))
        }
        self.customer = ChatClient(self.server.url)
        self.run(self.customer.connect({"token": self.tokens["alice"]}))
        self.agent = ChatClient(self.server.url, "/agent")
        self.run(self.agent.connect({"token": self.tokens["dana"]}))

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def close(self) -> None:
        self.run(self.customer.close())
        self.run(self.agent.close())
        self.run(self.server.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()  # else its self-pipe is left for the garbage collector, which warns


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(tmp_path_factory.mktemp("fuzz"))
    yield w
    w.close()


def fits_the_socket_buffer(payload) -> bool:
    """Bigger frames make Engine.IO drop the socket by design (tests/test_security.py)."""
    return len(json.dumps(payload).encode()) < 50_000  # as the client sends it: escaped


def assert_error_ack(ack) -> None:
    assert isinstance(ack, dict) and isinstance(ack.get("ok"), bool), ack
    assert ack.get("error") != "internal_error", ack


@FUZZ
@given(event=st.sampled_from(CHAT_EVENTS), payload=payloads)
def test_chat_events_survive_any_payload(world, event, payload):
    assume(fits_the_socket_buffer(payload))
    ack = world.run(world.customer.call(event, payload))
    assert_error_ack(ack)
    assert world.customer.sio.connected


@FUZZ
@given(event=st.sampled_from(AGENT_EVENTS), payload=payloads)
def test_agent_events_survive_any_payload(world, event, payload):
    assume(fits_the_socket_buffer(payload))
    ack = world.run(world.agent.call(event, payload))
    assert_error_ack(ack)
    assert world.agent.sio.connected


@FUZZ
@given(
    route=st.sampled_from(JSON_ROUTES),
    payload=payloads,
    who=st.sampled_from(["alice", "dana", "olga"]),
    raw=st.one_of(st.none(), st.binary(max_size=200)),
)
def test_json_routes_never_answer_5xx(world, route, payload, who, raw):
    method, path = route
    if path in ("/api/logout", "/api/password"):
        return  # they would end the session the other examples use
    path = path.replace("{name}", "feedback") + "?brand=cltiktok"
    if path.startswith("/api/operator/intents") and method in ("PUT", "POST"):
        return  # saving writes the repo's intent files (tests/test_operator.py)

    async def send():
        async with aiohttp.ClientSession() as s:
            kwargs = {"data": raw} if raw is not None else {"json": payload}
            async with s.request(
                method, world.server.url + path, headers={"Authorization": f"Bearer {world.tokens[who]}"}, **kwargs
            ) as r:
                body = await r.json(content_type=None)
                return r.status, body

    try:
        status, body = world.run(send())
    except (ValueError, TypeError):
        return  # a payload aiohttp's client itself cannot encode
    assert status < 500, (path, payload, body)
    if status >= 400:
        assert set(body) == {"error", "detail"}


def test_the_connections_are_still_usable_after_the_fuzzing(world):
    reply = world.run(world.customer.ask("hello"))
    assert reply["intent"] == "greet"
    assert world.run(world.agent.call("status", {"status": "online"})) == {"ok": True}
    assert world.run(world.customer.call("message", {"client_id": str(uuid.uuid4()), "text": "hi"}))["ok"]
