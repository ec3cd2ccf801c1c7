"""Two server processes of one cluster (`run.py` with --database and --redis,
as docs/deployment.md runs them), on a real PostgreSQL and a real Redis that
the tests start, driven with the official client connected to one process or
the other. What a user sees must not depend on which process their socket
landed on.

The shared store, the Socket.IO rooms and presence across processes are
tested here; the timers and the queue's cap in test_cluster_desk.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from cluster_processes import Cluster, cluster_processes, login
from engines import PostgresServer
from redis_engine import RedisServer, watching

from helpers import ALICE, BOB, CAROL, DANA, ELI, ChatClient

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def cluster(
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    with cluster_processes(postgres_server, redis_server, tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster


@pytest.fixture
async def tabs() -> AsyncIterator[object]:
    opened: list[ChatClient] = []

    async def open_tab(url: str, token: str) -> ChatClient:
        tab = ChatClient(url)
        await tab.connect({"token": token})
        opened.append(tab)
        return tab

    yield open_tab
    for tab in opened:
        await tab.close()


async def test_one_store_both_processes_seeded_once_and_serving(cluster: Cluster) -> None:
    import psycopg

    for url in cluster.urls:
        async with aiohttp.ClientSession() as session, session.get(url + "/healthz") as response:
            assert response.status == 200
    with psycopg.connect(cluster.database_url) as conn:
        emails = [r[0] for r in conn.execute("SELECT email FROM users WHERE email = 'alice@example.com'")]
    assert emails == ["alice@example.com"]  # two processes started on an empty database: one seed


async def test_a_customers_tabs_on_two_processes_see_one_conversation(cluster: Cluster, tabs) -> None:
    one, two = cluster.urls
    token = await login(one, ALICE)
    here, there = await tabs(one, token), await tabs(two, token)
    sent = await here.send("where is my order CT-100234")
    # the other tab, on the other process, gets the message and the bot's answer, in seq order
    echoed = await there.wait_for("message", lambda m: m["seq"] == sent["seq"])
    assert echoed["text"] == "where is my order CT-100234"
    answer = await there.wait_for("message", lambda m: m["sender"]["type"] == "bot" and m["seq"] > sent["seq"])
    assert "CT-100234" in answer["text"]
    assert answer == await here.bot_reply(sent["seq"])


async def test_logging_out_on_one_process_closes_the_sessions_sockets_on_the_other(cluster: Cluster, tabs) -> None:
    one, two = cluster.urls
    token = await login(one, ALICE)
    kept = await tabs(two, await login(two, ALICE))  # another session of the same customer stays
    revoked = await tabs(two, token)
    async with aiohttp.ClientSession() as session:
        async with session.post(one + "/api/logout", headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status == 204
    for _ in range(100):
        if not revoked.sio.connected:
            break
        await asyncio.sleep(0.05)
    assert not revoked.sio.connected
    assert kept.sio.connected


async def test_a_cluster_process_without_a_shared_database_is_refused_with_the_reason() -> None:
    import sys

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "run.py",
        "--port",
        "0",
        "--redis",
        "redis://127.0.0.1:1/0",
        cwd=Path(__file__).resolve().parent.parent,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    assert "give --database postgresql://" in err.decode() and "Traceback" not in err.decode()


async def test_a_customer_on_one_process_is_handed_to_an_agent_on_the_other(cluster: Cluster, tabs) -> None:
    one, two = cluster.urls
    dana = ChatClient(two, "/agent")
    await dana.connect({"token": await login(two, DANA)})
    try:
        alice = await tabs(one, await login(one, ALICE))
        # Dana's presence reaches process one at once (a change is published within 0.1 s);
        # without it, Alice would hear "nobody from our team is online"
        await asyncio.sleep(0.5)
        await alice.send("I want to talk to a real person")
        handoff = await alice.wait_for("handoff", lambda h: h["state"] in ("queued", "assigned", "offline"))
        assert handoff["state"] == "assigned", handoff
        conversation_id = (await dana.wait_for("assigned"))["conversation"]["id"]
        ack = await dana.call(
            "message", {"conversation_id": conversation_id, "client_id": "c1", "text": "Hi, Dana here"}
        )
        assert ack["ok"], ack
        await alice.wait_for("message", lambda m: m["text"] == "Hi, Dana here")
        await alice.send("thanks Dana")
        await dana.wait_for("message", lambda m: m["text"] == "thanks Dana")
        # typing, both ways across the processes
        await dana.emit("typing", {"conversation_id": conversation_id, "on": True})
        await alice.wait_for("typing", lambda t: t["on"] and t["sender"]["type"] == "agent")
        await alice.emit("typing", {"on": True})
        await dana.wait_for("typing", lambda t: t["on"] and t["sender"]["type"] == "customer")
        # a note reaches a colleague whose console is on the other process, and never the customer
        eli = ChatClient(one, "/agent")
        await eli.connect({"token": await login(one, ELI)})
        try:
            ack = await dana.call("note", {"conversation_id": conversation_id, "text": "VIP, be quick"})
            assert ack["note"]["text"] == "VIP, be quick"
            await eli.wait_for("note", lambda n: n["text"] == "VIP, be quick")
        finally:
            await eli.close()
        assert not alice.received("note") and not [m for m in alice.received("message") if "VIP" in m["text"]]
    finally:
        await dana.close()


async def test_a_bot_conversation_on_one_process_sends_nothing_to_the_other(
    cluster: Cluster, tabs, redis_server: RedisServer
) -> None:
    """The customer's message and the bot's answer go to the conversation's
    rooms, which have members on process one only: nothing crosses (the
    broadcast tax of docs/benchmarks.md is paid only for a real audience)."""
    from chatbot.web.app import SOCKET_CHANNEL
    from chatbot.web.cluster_rooms import CHANNEL

    one, _ = cluster.urls
    bob = await tabs(one, await login(one, BOB))
    # python-socketio's channel, and every process's inbox
    async with watching(redis_server.url, (SOCKET_CHANNEL,), (CHANNEL + "#*",)) as watcher:
        await bob.ask("how long do refunds take?")
        assert await watcher.published() == []


async def test_a_tab_opened_on_the_other_process_just_after_a_reply_is_told_to_fetch_what_it_missed(
    cluster: Cluster, tabs
) -> None:
    """Process one delivered the answer to the only tab, on process one. A tab
    opened on process two now may have joined while that answer was on its
    way (the two processes hear of each other's rooms through Redis, not at
    once): process one tells it to fetch what it missed, as after a Redis
    restart (the widget does so by itself)."""
    one, two = cluster.urls
    token = await login(one, CAROL)
    here = await tabs(one, token)
    await here.ask("how long do refunds take?")
    there = await tabs(two, token)
    await there.wait_for("resync")
    assert not here.received("resync")
