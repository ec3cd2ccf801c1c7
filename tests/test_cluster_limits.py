"""The rate limits a user or an address carries from process to process
(logins per address, uploads per user, messages per user across tabs) are
one budget in a cluster: on a real Redis, two limiters, as two processes
would have, spend and refill one token bucket per key, by the injected clock.
A Redis that is down or goes away fails open to each process's own buckets,
with a warning, and the cluster's buckets are used again once it is back.
Through two real servers, the login and upload routes and the /chat
namespace spend the cluster's budget. The per-socket limits stay each
process's own (chatbot/ratelimit.py), as before."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import aiohttp
import pytest
import redis_engine
from cluster_processes import Cluster, cluster_processes
from engines import free_port
from redis_engine import RedisServer

from chatbot.clock import ManualClock
from chatbot.ratelimit import (
    LOGINS,
    UPLOADS,
    USER_MESSAGES,
    Limit,
    Limiter,
    Limits,
    RateLimited,
    SharedLimiter,
    SharedLimiters,
)
from chatbot.web.keys import LIMITS
from helpers import ALICE, BOB, Server, make_settings, start_server

pytestmark = pytest.mark.asyncio

SHARED = {"logins": LOGINS, "uploads": UPLOADS, "user_messages": USER_MESSAGES}


def redis_limiters(url: str, clock: ManualClock, prefix: str | None = None) -> SharedLimiters:
    """A process's shared limits on Redis; after the `redis_server` fixture,
    which skips (or fails, with CHATBOT_ENGINES_REQUIRED=1) without redis."""
    from chatbot.web import cluster_limits

    return cluster_limits.RedisLimiters(url, clock, prefix=prefix or f"test-{uuid.uuid4().hex}")


@pytest.fixture
async def two_processes(redis_server: RedisServer) -> AsyncIterator[tuple[Limits, Limits, ManualClock]]:
    """The limits of two processes on one Redis, each with its own connection."""
    clock, prefix = ManualClock(), f"test-{uuid.uuid4().hex}"
    one, two = (Limits(clock, shared=redis_limiters(redis_server.url, clock, prefix)) for _ in range(2))
    yield one, two, clock
    for limits in (one, two):
        await limits.close()


def shared(limits: Limits, name: str) -> SharedLimiter:
    limiter: SharedLimiter = getattr(limits, name)
    return limiter


@pytest.mark.parametrize("name", SHARED)
async def test_two_processes_spend_one_budget_per_key(two_processes, name):
    one, two, _ = two_processes
    burst = SHARED[name].burst
    for i in range(burst):  # alternating, as a load balancer would send them
        await shared(one if i % 2 else two, name).hit("key-a")
    for limits in (one, two):
        with pytest.raises(RateLimited, match="try again in"):
            await shared(limits, name).hit("key-a")
    await shared(two, name).hit("key-b")  # another user or address has its own budget


@pytest.mark.parametrize("name", SHARED)
async def test_the_shared_buckets_refill_by_the_injected_clock(two_processes, name):
    one, two, clock = two_processes
    limit = SHARED[name]
    for _ in range(limit.burst):
        await shared(one, name).hit("key")
    clock.advance(0.9 / limit.per_second)  # nine tenths of a token
    with pytest.raises(RateLimited, match=f"try again in {max(1, round(0.1 / limit.per_second))} s"):
        await shared(two, name).hit("key")
    clock.advance(0.1 / limit.per_second)  # a whole token: no real time has passed
    await shared(two, name).hit("key")
    with pytest.raises(RateLimited):
        await shared(one, name).hit("key")


async def test_a_redis_that_is_down_fails_open_to_each_process_with_one_warning(redis_server, caplog):
    clock = ManualClock()
    limits = Limits(clock, shared=redis_limiters(f"redis://127.0.0.1:{free_port()}/0", clock))
    caplog.set_level(logging.WARNING, "chatbot.web.cluster_limits")
    try:
        for _ in range(LOGINS.burst):  # the chat goes on: the logins are this process's own again
            await limits.logins.hit("10.0.0.1")
        with pytest.raises(RateLimited):
            await limits.logins.hit("10.0.0.1")
        clock.advance(retry_seconds())  # Redis is tried again, still down: no second warning within the minute
        await limits.uploads.hit("7")
    finally:
        await limits.close()
    warnings = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


async def test_a_redis_that_goes_away_and_comes_back(redis_server, monkeypatch, caplog):
    server = RedisServer(redis_server.binary)  # a Redis of its own, to stop and start again
    server.start()
    clock = ManualClock()
    limits = Limits(clock, shared=redis_limiters(server.url, clock))
    caplog.set_level(logging.WARNING, "chatbot.web.cluster_limits")
    try:
        for _ in range(LOGINS.burst):
            await limits.logins.hit("10.0.0.2")
        server.stop()
        await limits.logins.hit("10.0.0.2")  # Redis's bucket is empty, but Redis is gone: this process's own
        assert any("Redis unreachable" in r.getMessage() for r in caplog.records)
        monkeypatch.setattr(redis_engine, "free_port", lambda: server.port)
        server.start()  # on the same port, empty (it persists nothing)
        clock.advance(retry_seconds())
        for _ in range(LOGINS.burst):  # the cluster's bucket again, a new one: a full burst
            await limits.logins.hit("10.0.0.2")
        with pytest.raises(RateLimited):
            await limits.logins.hit("10.0.0.2")
        assert any("Redis is back" in r.getMessage() for r in caplog.records)
    finally:
        await limits.close()
        server.remove()


def retry_seconds() -> float:
    from chatbot.web.cluster_limits import RETRY_SECONDS

    return RETRY_SECONDS


# -- through the real server: the routes and the namespace await the shared limits ----------------


@pytest.fixture
async def two_servers(tmp_path, redis_server: RedisServer) -> AsyncIterator[tuple[Server, Server]]:
    """Two servers (each on its own SQLite, as the routes only need a user)
    whose shared limits are on one Redis, as app.py makes them in a cluster."""
    prefix, servers = f"test-{uuid.uuid4().hex}", []
    for n in range(2):
        server = await start_server(make_settings(tmp_path / str(n)))
        limits = server.app[LIMITS]
        limits.shared = redis_limiters(redis_server.url, server.clock, prefix)
        for name, limit in SHARED.items():
            setattr(limits, name, limits.shared.limiter(name, limit))
        limits.socket_messages = Limiter(server.clock, Limit(burst=1000, per_second=1))  # only the user's limit
        servers.append(server)
    yield servers[0], servers[1]
    for server in servers:
        await server.app[LIMITS].close()
        await server.runner.cleanup()


async def post_each(servers: tuple[Server, Server], count: int, send: Callable) -> list[int]:
    return [await send(servers[i % 2], i) for i in range(count)]


async def test_logins_from_one_address_share_one_budget_across_processes(two_servers):
    async def login(server: Server, i: int) -> int:
        # a new account each time: the failed-login brake (per account) stays out of it
        status, body = await server.post("/api/login", {**ALICE, "email": f"x{i}@example.com"})
        return status if status != 429 else body["error"]

    statuses = await post_each(two_servers, LOGINS.burst, login)
    assert set(statuses) == {401}
    assert [await login(server, 99) for server in two_servers] == ["rate_limited", "rate_limited"]


async def test_uploads_of_one_user_share_one_budget_across_processes(two_servers):
    tokens = {id(server): await server.login(ALICE) for server in two_servers}

    async def upload(server: Server, i: int = 0) -> int:
        form = aiohttp.FormData()
        form.add_field("file", io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64), filename="a.png")
        async with aiohttp.ClientSession() as s:
            headers = {"Authorization": f"Bearer {tokens[id(server)]}"}
            async with s.post(server.url + "/api/attachments", data=form, headers=headers) as r:
                return r.status

    statuses = await post_each(two_servers, UPLOADS.burst, upload)
    assert 429 not in statuses
    assert [await upload(server) for server in two_servers] == [429, 429]


async def test_messages_of_one_user_share_one_budget_across_processes(two_servers, clients):
    tabs = [await clients(server, ALICE) for server in two_servers]
    acks = [
        await tabs[i % 2].call("message", {"client_id": f"m{i}", "text": "hello"}) for i in range(USER_MESSAGES.burst)
    ]
    assert all(ack.get("ok", True) is not False for ack in acks)
    for tab in tabs:
        ack = await tab.call("message", {"client_id": str(uuid.uuid4()), "text": "hello"})
        assert ack["ok"] is False and ack["error"] == "rate_limited"


# -- real processes: run.py --redis gives them the shared limits (chatbot/web/app.py) --------------

ADDRESS_BUCKET = "chatbot:limit:logins:127.0.0.1"  # every test logs in from this address


@pytest.fixture(scope="module")
def processes(postgres_server, redis_server: RedisServer, tmp_path_factory) -> Iterator[Cluster]:
    with cluster_processes(postgres_server, redis_server, tmp_path_factory.mktemp("limits-cluster")) as cluster:
        yield cluster


@pytest.fixture
async def fresh_address(redis_server: RedisServer) -> AsyncIterator[None]:
    """The address's login bucket in the session's Redis, emptied before and
    after: the other cluster tests log in from the same address."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_server.url)
    await client.delete(ADDRESS_BUCKET)
    yield
    await client.delete(ADDRESS_BUCKET)
    await client.aclose()


async def login_status(url: str, creds: dict[str, str]) -> int | str:
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/api/login", json=creds) as r:
            return r.status if r.status != 429 else str((await r.json())["error"])


async def test_run_py_with_redis_shares_the_login_budget_between_its_processes(processes, fresh_address):
    """Logins from one address, alternating between two processes of a
    cluster, run out after the one burst, not one burst per process."""
    urls = processes.urls
    first = [await login_status(urls[i % 2], {**ALICE, "email": f"x{i}@example.com"}) for i in range(LOGINS.burst)]
    assert set(first) == {401}
    more = [await login_status(url, {**ALICE, "email": f"y{i}@example.com"}) for i in range(2) for url in urls]
    assert more.count("rate_limited") >= 2, more  # real time refills a token every 5 s


async def test_the_failed_login_brake_counts_in_the_shared_database(processes, fresh_address):
    """chatbot/auth.py counts failures in the database, so the cluster's
    processes brake one account and address together (docs/security.md)."""
    urls, wrong = processes.urls, {**BOB, "password": "wrong"}
    assert [await login_status(urls[i % 2], wrong) for i in range(5)] == [401] * 5
    assert [await login_status(url, wrong) for url in urls] == ["too_many_attempts"] * 2
