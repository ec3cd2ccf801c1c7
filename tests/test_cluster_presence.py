"""Presence across processes: a board per "process", each with its own
ClusterPresence on one real redis-server (a channel per test), driven
through the board's methods as the desk drives them, and two desks on one
store for what the desk does with the answers.

Time that the domain decides by (expiry, drops, grace periods) moves on one
ManualClock that the processes share; only the messages through Redis take
real time, milliseconds, so heartbeats are made short where a test needs
them and long where a test must show that something did not wait for one."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from redis_engine import RedisServer, watching

from chatbot.auth import User
from chatbot.clock import ManualClock, isoformat
from chatbot.handoff import HandoffDesk
from chatbot.handoff.presence import PRESENCE_TTL, Presence, PresenceBoard, Snapshot
from chatbot.knowledge import Knowledge
from chatbot.settings import REPO_ROOT
from chatbot.store import Store

if TYPE_CHECKING:  # imported where used: it needs the redis package, which the fixture checks first
    from chatbot.web.cluster_presence import ClusterPresence

BRAND = "cltiktok"
DANA = User(id=101, brand=BRAND, email="dana@example.com", name="Dana", role="agent")
ERIN = User(id=102, brand=BRAND, email="erin@example.com", name="Erin", role="agent")
SHORT = 0.02  # a heartbeat for the tests that need heartbeats
LONG = 600.0  # a heartbeat that never comes within a test: what arrives came for another reason
STEP = 5.0  # clock steps below half the TTL, each heard on the channel, as with a 5 s heartbeat


class Process:
    def __init__(self, name: str, board: PresenceBoard, link: ClusterPresence) -> None:
        self.name, self.board, self.link = name, board, link

    def available(self) -> list[int]:
        return sorted(p.user.id for p in self.board.available(BRAND))


class Cluster:
    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.channel = f"presence-test-{uuid.uuid4().hex}"
        self.clock = ManualClock()
        self.processes: list[Process] = []

    async def start(self, name: str, heartbeat: float = LONG, board: PresenceBoard | None = None) -> Process:
        from chatbot.web.cluster_presence import ClusterPresence

        board = board or PresenceBoard(self.clock)
        link = ClusterPresence(board, self.redis_url, name, channel=self.channel, heartbeat_seconds=heartbeat)
        await link.start()
        process = Process(name, board, link)
        self.processes.append(process)
        return process

    async def kill(self, process: Process) -> None:
        """kill -9: it falls silent without a goodbye. What it published just
        before arrives before the clock moves on."""
        await process.link.stop(goodbye=False)
        await asyncio.sleep(0.05)

    async def advance(self, seconds: float, listening: list[Process]) -> None:
        """Move the clock in steps, each heard on the channel by `listening` (their own heartbeat)."""
        while seconds > 0:
            step = min(STEP, seconds)
            seconds -= step
            self.clock.advance(step)
            await eventually(lambda: all(p.board.channel_heard_at == self.clock.now() for p in listening))


@pytest.fixture
async def cluster(redis_server: RedisServer) -> AsyncIterator[Cluster]:
    cluster = Cluster(redis_server.url)
    yield cluster
    for process in cluster.processes:
        await process.link.stop(goodbye=False)


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "not within the time allowed"
        await asyncio.sleep(0.005)


def hears(process: Process, other: Process, check: Callable[[Snapshot], bool]) -> Callable[[], bool]:
    """`process` has heard from `other` something that passes `check`."""
    return lambda: other.name in process.board.remote and check(process.board.remote[other.name])


# -- agents ------------------------------------------------------------------------------------


async def test_an_agent_connected_to_another_process_is_available_here_at_once(cluster: Cluster) -> None:
    one, two = await cluster.start("P1"), await cluster.start("P2")
    two.board.connected(DANA, None)
    await eventually(lambda: one.available() == [DANA.id])  # no heartbeat: the change itself was published
    assert one.board.colleague(ERIN, DANA.id) is not None  # a transfer on P1 to Dana on P2
    [dana] = one.board.of_brand(BRAND)  # the team view
    assert (dana.user, dana.status, dana.sockets) == (DANA, "online", 1)
    two.board.disconnected(DANA, cluster.clock.now())
    await eventually(lambda: one.available() == [])
    [dana] = one.board.of_brand(BRAND)
    assert dana.sockets == 0 and one.board.colleague(ERIN, DANA.id) is None  # the team shows her disconnected


async def test_away_and_online_cross_and_the_status_chosen_last_wins(cluster: Cluster) -> None:
    one, two = await cluster.start("P1"), await cluster.start("P2")
    two.board.connected(DANA, None)
    await eventually(lambda: one.available() == [DANA.id])
    cluster.clock.advance(1)
    two.board.set_status(DANA, "away")
    await eventually(lambda: one.available() == [])
    assert [p.status for p in one.board.of_brand(BRAND)] == ["away"]
    one.board.connected(DANA, None)  # a second console tab, on P1, says nothing of its status: she stays away
    await eventually(hears(two, one, lambda s: DANA.id in s.agents))
    assert one.available() == [] and two.available() == []
    cluster.clock.advance(1)
    one.board.set_status(DANA, "online")  # chosen on P1 after "away" on P2
    await eventually(lambda: two.available() == [DANA.id])
    assert one.available() == [DANA.id]
    assert [(p.status, p.sockets) for p in two.board.of_brand(BRAND)] == [("online", 2)]


async def test_a_process_that_starts_late_knows_the_cluster_at_once(cluster: Cluster) -> None:
    one, two = await cluster.start("P1"), await cluster.start("P2")
    one.board.connected(DANA, None)
    two.board.connected(ERIN, "away")
    await eventually(hears(one, two, lambda s: ERIN.id in s.agents))
    three = await cluster.start("P3")  # with heartbeats of 10 minutes, only its hello explains an answer
    await eventually(
        lambda: {p.user.id: p.status for p in three.board.of_brand(BRAND)} == {DANA.id: "online", ERIN.id: "away"}
    )
    assert three.available() == [DANA.id]


async def test_a_clean_stop_takes_its_agents_away_at_once_and_keeps_their_grace(cluster: Cluster) -> None:
    one, two = await cluster.start("P1"), await cluster.start("P2")
    two.board.connected(DANA, None)
    await eventually(lambda: one.available() == [DANA.id])
    await two.link.stop()
    await eventually(lambda: "P2" not in one.board.remote)
    assert one.available() == []  # the clock did not move: the goodbye, not the TTL
    assert one.board.agents[DANA.id].dropped_at == cluster.clock.now()  # her chats: the usual grace period


async def test_a_silent_process_s_agents_are_dropped_when_last_heard_once_the_ttl_is_over(cluster: Cluster) -> None:
    one, two = await cluster.start("P1", SHORT), await cluster.start("P2", SHORT)
    two.board.connected(DANA, None)
    two.board.connected(ERIN, None)
    one.board.connected(ERIN, None)  # Erin also has a console on P1
    await eventually(hears(one, two, lambda s: set(s.agents) == {DANA.id, ERIN.id}))
    await cluster.advance(1, [one])  # P1 hears P2 at this time, last
    await eventually(hears(one, two, lambda s: s.heard_at == cluster.clock.now()))
    await cluster.kill(two)
    last_heard = one.board.remote["P2"].heard_at
    assert last_heard == cluster.clock.now()
    await cluster.advance(PRESENCE_TTL - STEP, [one])
    one.board.expire()
    assert one.available() == [DANA.id, ERIN.id] and DANA.id not in one.board.agents  # not yet
    await cluster.advance(STEP, [one])
    assert one.available() == [ERIN.id]  # P2 no longer counts
    one.board.expire()
    assert "P2" not in one.board.remote
    assert one.board.agents[DANA.id].dropped_at == last_heard and one.board.agents[ERIN.id].dropped_at is None
    grace = 60
    assert one.board.gone(BRAND, cluster.clock.now(), grace) == []
    cluster.clock.set(last_heard + timedelta(seconds=grace))
    assert one.board.gone(BRAND, cluster.clock.now(), grace) == [DANA]  # her chats go back to the queue


async def test_an_agent_dropped_here_but_connected_on_another_process_keeps_their_chats(cluster: Cluster) -> None:
    one, two = await cluster.start("P1", SHORT), await cluster.start("P2", SHORT)
    one.board.connected(DANA, None)
    one.board.disconnected(DANA, cluster.clock.now())  # her console on P1 closed...
    two.board.connected(DANA, None)  # ...and she came back on P2
    await eventually(lambda: one.available() == [DANA.id])
    await cluster.advance(60, [one])  # her grace period on P1 is over
    await eventually(hears(one, two, lambda s: s.heard_at == cluster.clock.now()))
    assert one.board.gone(BRAND, cluster.clock.now(), 60) == []  # not requeued
    assert DANA.id not in one.board.agents and one.available() == [DANA.id]  # P1 forgets her: she is P2's now


def test_a_process_that_could_not_hear_the_cluster_does_not_take_everyone_for_dead() -> None:
    clock = ManualClock()
    board = PresenceBoard(clock)
    board.channel_heard()
    board.merge("P2", Snapshot({DANA.id: Presence(DANA, sockets=1)}))
    last_heard = clock.now()
    clock.advance(60)  # this process's Redis link was down meanwhile: it heard nothing, not even itself
    board.channel_heard()  # its own heartbeat: it hears again, P2's heartbeat is on its way
    board.expire()
    assert "P2" in board.remote and DANA.id not in board.agents
    for _ in range(3):  # but P2 stays silent while this process hears the channel for a whole TTL
        clock.advance(STEP)
        board.channel_heard()
    board.expire()
    assert "P2" not in board.remote and board.agents[DANA.id].dropped_at == last_heard


async def test_what_crosses_is_json_and_a_malformed_message_does_not_deafen_a_process(cluster: Cluster) -> None:
    import redis.asyncio

    one, two = await cluster.start("P1"), await cluster.start("P2")
    outsider = redis.asyncio.Redis.from_url(cluster.redis_url)
    watcher = outsider.pubsub()
    try:
        await watcher.subscribe(cluster.channel)
        await watcher.get_message(timeout=5)  # subscribed
        for garbage in (b"\x80 not json", b"[]", b'{"process": "P9", "kind": "snapshot", "agents": [{"id": 1}]}'):
            await outsider.publish(cluster.channel, garbage)
        two.board.connected(DANA, "away")
        await eventually(lambda: [p.status for p in one.board.of_brand(BRAND)] == ["away"])  # P1 still listens
        assert "P9" not in one.board.remote
        published = []
        while (message := await watcher.get_message(timeout=0.5)) is not None:
            if message["type"] == "message" and message["data"].startswith(b'{"kind"'):
                published.append(json.loads(message["data"]))  # ours: the garbage starts otherwise
        [agent] = next(m["agents"] for m in published if m["process"] == "P2" and m["agents"])
        assert (agent["id"], agent["status"], agent["sockets"], agent["status_at"]) == (
            DANA.id,
            "away",
            1,
            isoformat(cluster.clock.now()),
        )
    finally:
        await watcher.aclose()
        await outsider.aclose()


async def test_a_listener_whose_connection_redis_closed_listens_again(cluster: Cluster) -> None:
    import redis.asyncio

    one, two = await cluster.start("P1"), await cluster.start("P2")
    admin = redis.asyncio.Redis.from_url(cluster.redis_url)
    try:
        assert await admin.client_kill_filter(_type="pubsub") == 2  # as Redis does past a client's output buffer
    finally:
        await admin.aclose()
    two.board.connected(DANA, None)
    one.board.connected(ERIN, None)
    await eventually(lambda: one.available() == two.available() == [DANA.id, ERIN.id])  # neither went deaf


# -- customers' tabs ---------------------------------------------------------------------------


async def test_a_customer_with_a_tab_on_each_process_has_left_only_when_both_are_closed(cluster: Cluster) -> None:
    one, two = await cluster.start("P1"), await cluster.start("P2")
    one.board.customer_connected(42)
    two.board.customer_connected(42)
    await eventually(hears(one, two, lambda s: s.customer_tabs == {42: 1}))
    assert one.board.customer_disconnected(42) is False  # the tab on P2 is open
    await eventually(hears(two, one, lambda s: s.customer_tabs == {}))
    assert two.board.customer_disconnected(42) is True  # that was the last one anywhere
    assert two.board.departures() == {}


async def test_tabs_closed_on_both_processes_at_once_become_a_departure_on_each(cluster: Cluster) -> None:
    one, two = await cluster.start("P1"), await cluster.start("P2")
    one.board.customer_connected(42)
    two.board.customer_connected(42)
    await eventually(hears(one, two, lambda s: s.customer_tabs == {42: 1}))
    await eventually(hears(two, one, lambda s: s.customer_tabs == {42: 1}))
    closed_at = cluster.clock.now()
    # the browser closed: each process lets its tab go before it hears of the other's
    assert one.board.customer_disconnected(42) is False and two.board.customer_disconnected(42) is False
    seen: dict[str, dict[int, datetime]] = {"P1": {}, "P2": {}}

    def departed() -> bool:
        for process in (one, two):
            seen[process.name].update(process.board.departures())
        return all(seen.values())

    await eventually(departed)
    assert seen == {"P1": {42: closed_at}, "P2": {42: closed_at}}


async def test_a_silent_process_s_customer_tabs_no_longer_count(cluster: Cluster) -> None:
    one, two = await cluster.start("P1", SHORT), await cluster.start("P2", SHORT)
    one.board.customer_connected(7)
    two.board.customer_connected(7)
    two.board.customer_connected(8)  # a customer whose only tab is on P2
    await eventually(hears(one, two, lambda s: s.customer_tabs == {7: 1, 8: 1}))
    await cluster.kill(two)
    last_heard = one.board.remote["P2"].heard_at
    await cluster.advance(PRESENCE_TTL, [one])
    one.board.expire()
    assert one.board.departures() == {8: last_heard}  # the desk starts the customer's grace period then
    assert one.board.customer_disconnected(7) is True  # P2's tab is not counted any more


# -- the desk, on two processes sharing one database -------------------------------------------


class Recorded:
    """The desk's events (sockets are not what these tests are about)."""

    def __init__(self) -> None:
        self.sent: list[tuple[Any, ...]] = []

    async def to_customer(self, conversation_id: int, event: str, data: Any) -> None:
        self.sent.append(("customer", conversation_id, event, data))

    async def to_conversation(self, conversation_id: int, event: str, data: Any) -> None:
        self.sent.append(("conversation", conversation_id, event, data))

    async def to_agents(self, brand: str, event: str, data: Any) -> None:
        self.sent.append(("agents", brand, event, data))

    async def to_agent(self, agent_id: int, event: str, data: Any) -> None:
        self.sent.append(("agent", agent_id, event, data))

    async def agent_holds(self, agent_id: int, conversation_id: int, holds: bool) -> None:
        self.sent.append(("holds", agent_id, conversation_id, holds))


async def _user(store: Store, email: str, name: str, role: str) -> User:
    row = {"brand": BRAND, "email": email, "name": name, "role": role, "password_hash": "x"}
    user_id = await store.create_user({**row, "created_at": "2026-01-01T00:00:00Z"})
    return User(id=user_id, brand=BRAND, email=email, name=name, role=role)


@pytest.fixture
async def desks(cluster: Cluster, tmp_path: Path) -> AsyncIterator[tuple[HandoffDesk, HandoffDesk, Store]]:
    knowledge = Knowledge(REPO_ROOT / "intents")
    await knowledge.load()
    async with Store(tmp_path / "chat.db") as store:
        await store.upsert_brand(BRAND, "TikTok Shop")
        one = HandoffDesk(store, cluster.clock, knowledge, Recorded())
        two = HandoffDesk(store, cluster.clock, knowledge, Recorded())
        await cluster.start("P1", SHORT, one.board)
        await cluster.start("P2", SHORT, two.board)
        yield one, two, store


async def test_a_customer_here_gets_the_agent_on_the_other_process_whose_kill_requeues_the_chat_after_grace(
    desks: tuple[HandoffDesk, HandoffDesk, Store], cluster: Cluster
) -> None:
    one, two, store = desks
    dana = await _user(store, "dana.cluster@example.com", "Dana", "agent")
    alice = await _user(store, "alice.cluster@example.com", "Alice", "customer")
    conversation = await store.open_conversation(BRAND, alice.id, cluster.clock.now())
    await two.agent_connected(dana)
    await eventually(lambda: [p.user.id for p in one.board.available(BRAND)] == [dana.id])
    answer = await one.request(alice, conversation["id"], reason="asked", intent=None, confidence=None)
    assert answer == {"state": "assigned", "agent": {"name": "Dana"}}  # not "nobody from our team is online"
    await cluster.kill(cluster.processes[1])  # P2, Dana's only process
    last_heard = one.board.remote["P2"].heard_at
    await cluster.advance(PRESENCE_TTL, [cluster.processes[0]])
    await one.tick()
    assert (await store.live_handoff(conversation["id"]))["state"] == "assigned"  # her grace period runs
    grace = one.knowledge.brand(BRAND).settings.service_levels.agent_grace_seconds
    cluster.clock.set(last_heard + timedelta(seconds=grace))
    await one.tick()
    assert (await store.live_handoff(conversation["id"]))["state"] == "queued"  # back in the queue


async def test_tabs_closed_at_once_on_two_processes_start_the_customer_s_grace_period(
    desks: tuple[HandoffDesk, HandoffDesk, Store], cluster: Cluster
) -> None:
    one, two, store = desks
    alice = await _user(store, "alice.tabs@example.com", "Alice", "customer")
    conversation_id = (await store.open_conversation(BRAND, alice.id, cluster.clock.now()))["id"]
    await store.create_handoff(
        {"brand": BRAND, "conversation_id": conversation_id, "user_id": alice.id, "reason": "asked",
         "queued_at": isoformat(cluster.clock.now())},
        "queued",
    )  # fmt: skip
    await one.customer_connected(conversation_id)
    await two.customer_connected(conversation_id)
    await eventually(lambda: one.board.remote.get("P2", Snapshot()).customer_tabs == {conversation_id: 1})
    await eventually(lambda: two.board.remote.get("P1", Snapshot()).customer_tabs == {conversation_id: 1})
    closed_at = cluster.clock.advance(3)  # within the TTL: both processes still count
    # the browser closed: each process lets its tab go before it hears of the other's
    await asyncio.gather(one.customer_disconnected(conversation_id), two.customer_disconnected(conversation_id))
    assert (await store.live_handoff(conversation_id))["customer_left_at"] is None  # each saw the other's tab
    await eventually(lambda: not one.board.remote["P2"].customer_tabs)
    await one.tick()
    assert (await store.live_handoff(conversation_id))["customer_left_at"] == isoformat(closed_at)


async def test_a_customer_whose_other_tab_was_not_yet_heard_of_is_not_counted_as_abandoned(
    desks: tuple[HandoffDesk, HandoffDesk, Store], cluster: Cluster
) -> None:
    """Bob's tab on P1 closes before P1 hears of his tab on P2: P1 starts his
    grace period. When the timers run past it, the tab on P2 is known, so
    he never left: he keeps his place and his grace period is called off."""
    one, two, store = desks
    bob = await _user(store, "bob.late@example.com", "Bob", "customer")
    conversation_id = (await store.open_conversation(BRAND, bob.id, cluster.clock.now()))["id"]
    await store.create_handoff(
        {"brand": BRAND, "conversation_id": conversation_id, "user_id": bob.id, "reason": "asked",
         "queued_at": isoformat(cluster.clock.now())},
        "queued",
    )  # fmt: skip
    await one.customer_connected(conversation_id)
    await one.customer_disconnected(conversation_id)  # P1 has not heard of P2's tab: it was his last, as far as P1 knew
    assert (await store.live_handoff(conversation_id))["customer_left_at"] is not None
    await two.customer_connected(conversation_id)  # opened just before, heard of just after
    await eventually(lambda: one.board.remote.get("P2", Snapshot()).customer_tabs == {conversation_id: 1})
    grace = one.knowledge.brand(BRAND).settings.service_levels.customer_grace_seconds
    await cluster.advance(grace + 1, cluster.processes)
    await one.tick()
    handoff = await store.live_handoff(conversation_id)
    assert handoff is not None and handoff["state"] == "queued" and handoff["customer_left_at"] is None


async def test_a_tab_that_opens_or_closes_is_told_alone_not_with_every_other(cluster: Cluster) -> None:
    """A process with a thousand customers online tells the others the one
    conversation whose tabs changed (each of N processes decodes what the
    N-1 others send); its whole snapshot goes out at a hello and every heartbeat."""
    one, two = await cluster.start("P1"), await cluster.start("P2")
    for conversation_id in range(1, 1001):
        two.board.customer_connected(conversation_id)
    await eventually(hears(one, two, lambda s: len(s.customer_tabs) == 1000))
    await asyncio.sleep(0.3)  # what the thousand joins sent has gone out
    async with watching(cluster.redis_url, (cluster.channel,)) as watcher:
        two.board.customer_connected(1001)
        await eventually(hears(one, two, lambda s: s.customer_tabs.get(1001) == 1))
        two.board.customer_disconnected(3)
        await eventually(hears(one, two, lambda s: 3 not in s.customer_tabs and len(s.customer_tabs) == 1000))
        sent = [json.loads(data) for data in await watcher.published()]
    assert [(m["kind"], m["tabs"]) for m in sent] == [("changes", {"1001": 1}), ("changes", {"3": 0})]
