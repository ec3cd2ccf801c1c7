"""The handoff desk in a cluster, and its faults: two `run.py` processes on
one PostgreSQL and one Redis, with a brand whose first-response target and
breach come after 2 and 4 seconds (real time: the processes' own clocks).

One process leads the timers (store/leader.py): the breach offer is posted
once whichever process sees the breach, the agents' cap holds when both
processes assign at once, and when the leader is killed (kill -9, no goodbye)
the other takes the timers over within seconds, with no acknowledged message
lost or doubled and no gap in `seq`. An agent whose process dies reconnects
elsewhere and keeps the chat; a customer who leaves is counted abandoned
once; after a Redis restart, emits resume and clients fetch what they missed."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import jwt
import pytest
from async_browser import open_widget_signed_in
from browser.server_process import always_open_intents
from cluster_processes import Cluster, cluster_processes, login
from engines import PostgresServer
from redis_engine import RedisServer
from ruamel.yaml import YAML

from helpers import ALICE, DANA, ELI, OLGA, ChatClient

pytestmark = pytest.mark.asyncio

EMBED_SECRET = "cltiktok-cluster-test-secret-0123456789"
BREACH_SECONDS = 4
BREACH_OFFER = "Continue by email"  # the offer's first button (intents/dialogue.yaml, handoff.breach_offer)


def fast_timer_intents(
    target: Path,
    cap: int,
    agent_grace: int = 60,
    customer_grace: int = 300,
    target_seconds: int = 2,
    breach_seconds: int = BREACH_SECONDS,
) -> Path:
    """The repository's intents, cltiktok always open, its first-response
    target and breach after `target_seconds` and `breach_seconds`, `cap`
    chats per agent, and the agents' and customers' grace periods in seconds."""
    always_open_intents(target, agent_chat_cap=cap)
    path = target / "cltiktok" / "brand.yaml"
    yaml = YAML()
    data = yaml.load(path.read_text(encoding="utf-8"))
    data["service_levels"]["first_response_target_seconds"] = target_seconds
    data["service_levels"]["first_response_breach_seconds"] = breach_seconds
    data["service_levels"]["agent_grace_seconds"] = agent_grace
    data["service_levels"]["customer_grace_seconds"] = customer_grace
    with path.open("w", encoding="utf-8") as f:
        yaml.dump(data, f)
    return target


@contextlib.contextmanager
def running_cluster(
    postgres_server: PostgresServer, redis_server: RedisServer, folder: Path, levels: dict
) -> Iterator[Cluster]:
    """Two processes with the service levels `levels` (fast_timer_intents'
    keyword arguments), on a database of their own and `redis_server`."""
    intents = fast_timer_intents(folder / "intents", **levels)
    env = {"CHATBOT_CLTIKTOK_EMBED_SECRET": EMBED_SECRET}
    with cluster_processes(postgres_server, redis_server, folder, intents=intents, **env) as cluster:
        yield cluster


@pytest.fixture
def cluster_of_two(
    request: pytest.FixtureRequest,
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    tmp_path: Path,
) -> Iterator[Cluster]:
    """A cluster of two on the session's Redis, with the service levels the
    test gives (indirect parametrisation). A test may kill a process."""
    with running_cluster(postgres_server, redis_server, tmp_path, request.param) as cluster:
        yield cluster


@pytest.fixture
def own_redis(redis_server: RedisServer) -> Iterator[RedisServer]:
    """A Redis of the test's own, which it may stop and start again."""
    server = RedisServer(redis_server.binary)
    server.start()
    yield server
    server.remove()


@pytest.fixture
async def clients() -> AsyncIterator[object]:
    opened: list[ChatClient] = []

    async def connect(url: str, token: str, namespace: str = "/chat") -> ChatClient:
        client = ChatClient(url, namespace)
        await client.connect({"token": token})
        opened.append(client)
        return client

    yield connect
    for client in opened:
        await client.close()


async def post_json(url: str, body: dict) -> dict:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        assert response.status == 200, await response.text()
        answer: dict = await response.json()
        return answer


async def customer_token(url: str, email: str) -> str:
    """A customer the brand's site vouches for (a new account on first visit)."""
    now = int(time.time())
    claims = {"sub": email, "aud": "cltiktok", "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex}
    body = {"brand": "cltiktok", "token": jwt.encode(claims, EMBED_SECRET, algorithm="HS256")}
    return str((await post_json(url + "/api/login/embed", body))["token"])


async def leader_of(cluster: Cluster, timeout: float = 15) -> int:
    """The index of the process that leads the timers, once one does."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            leading = []
            for index, url in enumerate(cluster.urls):
                if cluster.processes[index].poll() is None:
                    async with session.get(url + "/healthz") as response:
                        leading.append(index) if (await response.json())["leads_timers"] else None
            assert len(leading) <= 1, "two processes lead the timers"
            if leading:
                return leading[0]
            await asyncio.sleep(0.2)
    raise AssertionError(f"no process led the timers within {timeout} s")


async def hand_off(customer: ChatClient) -> dict:
    await customer.send("I want to talk to a real person")
    return await customer.wait_for("handoff", lambda h: h["state"] in ("queued", "assigned", "offline"))


def system_messages(database_url: str, conversation_id: int, containing: str) -> list[str]:
    import psycopg

    with psycopg.connect(database_url) as conn:
        found = conn.execute(
            "SELECT meta FROM messages WHERE conversation_id = %s AND sender_type = 'system' AND meta LIKE %s",
            [conversation_id, f"%{containing}%"],
        ).fetchall()
    return [row[0] for row in found]


def seqs(database_url: str, conversation_id: int) -> list[int]:
    import psycopg

    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT seq FROM messages WHERE conversation_id = %s ORDER BY seq", [conversation_id])
        return [row[0] for row in rows.fetchall()]


@pytest.mark.parametrize("cluster_of_two", [{"cap": 3}], indirect=True)
async def test_the_cap_holds_and_every_breach_offer_is_posted_once(cluster_of_two: Cluster, clients) -> None:
    """Ten customers ask for a person at once through both processes, with
    two agents at a cap of 3: nobody holds more than 3, no chat has two
    holders, the other four wait, and after the breach each of the ten
    conversations has exactly one email offer, though both processes tick."""
    one, two = cluster_of_two.urls
    await clients(one, await login(one, DANA), "/agent")
    await clients(two, await login(two, ELI), "/agent")
    await asyncio.sleep(0.5)  # both agents' presence has reached both processes
    customers = [
        await clients(url, await customer_token(url, f"cap{n}@example.com")) for n, url in enumerate([one, two] * 5)
    ]
    handoffs = await asyncio.gather(*(hand_off(customer) for customer in customers))
    assert all(h["state"] in ("queued", "assigned") for h in handoffs), handoffs
    await asyncio.sleep(1)  # the assignments both processes started are done
    import psycopg

    with psycopg.connect(cluster_of_two.database_url) as conn:
        held = conn.execute(
            "SELECT assigned_agent_id, count(*) FROM handoffs WHERE state = 'assigned' GROUP BY assigned_agent_id"
        ).fetchall()
        states = [row[0] for row in conn.execute("SELECT state FROM handoffs").fetchall()]
        conversations = [row[0] for row in conn.execute("SELECT conversation_id FROM handoffs").fetchall()]
    assert sorted(count for _, count in held) == [3, 3]  # one holder per chat: the state is one row each
    assert sorted(states) == ["assigned"] * 6 + ["queued"] * 4
    await asyncio.sleep(BREACH_SECONDS + 3)  # past the breach, and two more ticks of each process
    offers = {c: system_messages(cluster_of_two.database_url, c, BREACH_OFFER) for c in conversations}
    assert all(len(posted) == 1 for posted in offers.values()), offers


@pytest.mark.parametrize("cluster_of_two", [{"cap": 1}], indirect=True)
async def test_killing_the_timers_leader_moves_the_timers_and_loses_nothing(cluster_of_two: Cluster, clients) -> None:
    leader = await leader_of(cluster_of_two)
    survivor = 1 - leader
    url = cluster_of_two.urls[survivor]
    await clients(url, await login(url, DANA), "/agent")
    await asyncio.sleep(0.5)
    first = await clients(url, await customer_token(url, "held@example.com"))
    assert (await hand_off(first))["state"] == "assigned"
    waiting = await clients(url, await customer_token(url, "waiting@example.com"))
    acked = [await waiting.send(f"order question {n}") for n in range(3)]
    queued_at = time.monotonic()
    assert (await hand_off(waiting))["state"] == "queued"  # Dana is at her cap of 1

    cluster_of_two.processes[leader].send_signal(signal.SIGKILL)
    cluster_of_two.processes[leader].wait(10)
    assert await leader_of(cluster_of_two, timeout=10) == survivor  # the lock went with the dead connection

    offer = await waiting.wait_for("message", lambda m: BREACH_OFFER in str(m.get("quick_replies")), timeout=20)
    assert time.monotonic() - queued_at < BREACH_SECONDS + 10, "the timers did not move within seconds"
    conversation_id = offer["conversation_id"]
    assert len(system_messages(cluster_of_two.database_url, conversation_id, BREACH_OFFER)) == 1
    stored = seqs(cluster_of_two.database_url, conversation_id)
    assert stored == list(range(1, len(stored) + 1))  # no gap, nothing doubled
    assert all(message["seq"] in stored for message in acked)


AGENT_GRACE = 4
# The brand's own first-response target and breach: no timer posts a message during the test.
UNHURRIED = {"cap": 3, "target_seconds": 300, "breach_seconds": 600}


@pytest.mark.parametrize("cluster_of_two", [{"cap": 3, "agent_grace": AGENT_GRACE}], indirect=True)
async def test_an_agent_whose_process_is_killed_reconnects_elsewhere_and_keeps_the_chat(
    cluster_of_two: Cluster, clients
) -> None:
    """Dana's console is on the process that dies (kill -9: no goodbye). She
    reconnects on the other within her grace period and keeps Alice's chat:
    after the dead process is counted out (15 s silent) and the grace period
    has passed, the chat is still hers, and what she writes reaches Alice.
    Eli, whose process died too and who does not come back, loses his chat
    to the queue."""
    one, two = cluster_of_two.urls
    dana = await clients(one, await login(one, DANA), "/agent")
    alice = await clients(two, await customer_token(two, "kept@example.com"))
    assert (await hand_off(alice))["state"] == "assigned"
    conversation_id = (await dana.wait_for("assigned"))["conversation"]["id"]
    await clients(one, await login(one, ELI), "/agent")
    await asyncio.sleep(0.5)
    carol = await clients(two, await customer_token(two, "dropped@example.com"))
    assert (await hand_off(carol))["state"] == "assigned"  # to Eli, the least busy

    cluster_of_two.processes[0].send_signal(signal.SIGKILL)
    cluster_of_two.processes[0].wait(10)
    dana_again = await clients(two, await login(two, DANA), "/agent")
    await asyncio.sleep(15 + AGENT_GRACE + 3)  # the dead process counted out, the grace period over, ticks
    import psycopg

    with psycopg.connect(cluster_of_two.database_url) as conn:
        held = dict(conn.execute("SELECT conversation_id, assigned_agent_id FROM handoffs").fetchall())
    assert held[conversation_id] == 4  # Dana's, still
    assert carol.received("message", lambda m: m["sender"]["type"] == "system" and "lost their connection" in m["text"])
    ack = await dana_again.call(
        "message", {"conversation_id": conversation_id, "client_id": "d1", "text": "Still here"}
    )
    assert ack["ok"], ack
    await alice.wait_for("message", lambda m: m["text"] == "Still here")


@pytest.mark.parametrize("cluster_of_two", [{"cap": 1, "customer_grace": 3}], indirect=True)
async def test_a_customer_who_leaves_the_queue_on_one_process_is_counted_abandoned_once(
    cluster_of_two: Cluster, clients
) -> None:
    """Bob waits in the queue with tabs on both processes. Closing one keeps
    him waiting; once the last is closed and his grace period is over, the
    handoff is abandoned, whichever process leads the timers, and the
    supervisor's figures on either process count it."""
    one, two = cluster_of_two.urls
    await clients(one, await login(one, DANA), "/agent")
    await asyncio.sleep(0.5)
    assert (await hand_off(await clients(one, await customer_token(one, "first@example.com"))))["state"] == "assigned"
    token = await customer_token(two, "bob-waits@example.com")
    here, there = await clients(two, token), await clients(one, token)
    assert (await hand_off(here))["state"] == "queued"
    await here.close()
    await asyncio.sleep(3 + 3)  # longer than his grace period: still waiting, one tab is open
    assert handoff_states(cluster_of_two.database_url) == ["assigned", "queued"]
    await there.close()
    await asyncio.sleep(3 + 4)  # the grace period, the presence reaching the leader, ticks
    assert handoff_states(cluster_of_two.database_url) == ["abandoned", "assigned"]
    for url in cluster_of_two.urls:
        stats = await get_json(url + "/api/supervisor?brand=cltiktok", await login(url, OLGA))
        assert stats["abandoned"] == 1, stats


def handoff_states(database_url: str) -> list[str]:
    import psycopg

    with psycopg.connect(database_url) as conn:
        return sorted(row[0] for row in conn.execute("SELECT state FROM handoffs").fetchall())


async def get_json(url: str, token: str) -> dict:
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status == 200, await response.text()
            answer: dict = await response.json()
            return answer


async def test_after_a_redis_restart_emits_resume_and_clients_are_told_to_fetch_what_they_missed(
    postgres_server: PostgresServer, own_redis: RedisServer, tmp_path: Path, clients
) -> None:
    """Dana (process one) writes to Alice (process two) while Redis is down:
    the message is stored and acknowledged, but cannot reach Alice live
    (pub/sub keeps nothing). When Redis is back, Alice's tab is told to
    `resync` and fetches it; what Dana writes next arrives live again."""
    with running_cluster(postgres_server, own_redis, tmp_path, UNHURRIED) as cluster:
        one, two = cluster.urls
        dana = await clients(one, await login(one, DANA), "/agent")
        await asyncio.sleep(0.5)
        alice = await clients(two, await customer_token(two, "alice-redis@example.com"))
        assert (await hand_off(alice))["state"] == "assigned"
        conversation_id = (await dana.wait_for("assigned"))["conversation"]["id"]
        seen = max(m["seq"] for m in alice.received("message"))

        own_redis.stop()
        ack = await dana.call("message", {"conversation_id": conversation_id, "client_id": "away", "text": "Sent away"})
        assert ack["ok"], ack
        own_redis.restart()
        await alice.wait_for("resync", timeout=30)
        missed = await alice.call("history", {"last_seq": seen})
        assert [m["text"] for m in missed["messages"]] == ["Sent away"]
        assert not alice.received("message", lambda m: m["text"] == "Sent away")  # it was lost live

        for attempt in range(20):  # process one may still be reconnecting its publisher
            await dana.call(
                "message", {"conversation_id": conversation_id, "client_id": f"back{attempt}", "text": "Back"}
            )
            with contextlib.suppress(TimeoutError):
                await alice.wait_for("message", lambda m: m["text"] == "Back", timeout=1)
                break
        assert alice.received("message", lambda m: m["text"] == "Back")


async def test_the_widget_fills_what_it_missed_while_redis_was_away_without_a_reload(
    postgres_server: PostgresServer, own_redis: RedisServer, tmp_path: Path, clients, chromium
) -> None:
    """Alice's widget (Chromium, on process two) talks to Dana (process one).
    Dana writes while Redis is down: stored, acknowledged, lost live. Once
    Redis is back, the widget shows it by itself, once, in its place, with
    no reload of the page."""
    from playwright.async_api import expect

    with running_cluster(postgres_server, own_redis, tmp_path, UNHURRIED) as cluster:
        one, two = cluster.urls
        dana = await clients(one, await login(one, DANA), "/agent")
        await asyncio.sleep(0.5)
        context = await chromium.new_context(base_url=two)
        page = await context.new_page()
        loads: list[str] = []
        page.on("load", lambda _: loads.append("load"))
        await open_widget_signed_in(page, ALICE)
        await page.get_by_test_id("input").fill("I want to talk to a real person")
        await page.get_by_test_id("send").click()
        conversation_id = (await dana.wait_for("assigned", timeout=15))["conversation"]["id"]

        own_redis.stop()
        ack = await dana.call("message", {"conversation_id": conversation_id, "client_id": "gap", "text": "Sent away"})
        assert ack["ok"], ack
        own_redis.restart()
        shown = page.locator('[data-testid="message"][data-sender="agent"]', has_text="Sent away")
        await expect(shown).to_have_count(1, timeout=30_000)
        assert loads == ["load"]  # the page was never reloaded
        await context.close()


async def test_the_agent_console_fills_what_it_missed_while_redis_was_away(
    postgres_server: PostgresServer, own_redis: RedisServer, tmp_path: Path, clients, chromium
) -> None:
    """Dana's console (Chromium, process one) holds Alice's chat (Alice on
    process two). Alice writes while Redis is down; once it is back, the
    console shows her message by itself, once."""
    from playwright.async_api import expect

    with running_cluster(postgres_server, own_redis, tmp_path, UNHURRIED) as cluster:
        one, two = cluster.urls
        context = await chromium.new_context(base_url=one)
        console = await context.new_page()
        await console.goto("/static/agent.html")
        await expect(console.get_by_test_id("login-form")).to_be_visible()
        await console.get_by_test_id("login-brand").select_option("cltiktok")
        await console.get_by_test_id("login-email").fill(DANA["email"])
        await console.get_by_test_id("login-password").fill(DANA["password"])
        await console.get_by_test_id("login-submit").click()
        await expect(console.get_by_test_id("connection-state")).to_have_attribute("data-state", "online")
        await asyncio.sleep(0.5)  # Dana's presence has reached process two
        alice = await clients(two, await customer_token(two, "alice-console@example.com"))
        assert (await hand_off(alice))["state"] == "assigned"
        await alice.send("Before the outage")
        customer = console.locator('[data-testid="message"][data-sender="customer"]')
        await expect(customer.filter(has_text="Before the outage")).to_have_count(1, timeout=15_000)

        own_redis.stop()
        await alice.send("Written while Redis was away")
        own_redis.restart()
        await expect(customer.filter(has_text="Written while Redis was away")).to_have_count(1, timeout=30_000)
        await context.close()
