"""The rooms across processes: two python-socketio servers on one real Redis,
each with the app's RedisRoomManager, and official clients connected to one
or the other. What the app asks of its rooms holds wherever the sockets are:
an emit reaches a room whose members are all on the other process (the
empty-room shortcut runs where the members are), an agent's consoles on the
other process join and leave a conversation's room, a revoked session's
sockets on the other process are disconnected, and what crosses between the
processes is JSON."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import socketio
from aiohttp import web
from engines import free_port
from redis_engine import RedisServer, watching

from chatbot.web.cluster_rooms import RoomDirectory
from chatbot.web.rooms import AGENT, CHAT, RedisRoomManager

pytestmark = pytest.mark.asyncio


@dataclass
class Process:
    sio: socketio.AsyncServer
    runner: web.AppRunner
    url: str

    @property
    def manager(self) -> RedisRoomManager:
        manager: RedisRoomManager = self.sio.manager
        return manager


async def start_process(redis_url: str, channel: str) -> Process:
    """A server whose clients say which rooms to join (the app's namespaces
    decide that from the session; here the test does)."""
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=RedisRoomManager(redis_url, channel=channel))

    for namespace in (CHAT, AGENT):

        async def connect(sid: str, environ: dict, auth: dict, namespace: str = namespace) -> None:
            for room in auth.get("rooms", []):
                await sio.enter_room(sid, room, namespace=namespace)

        sio.on("connect", connect, namespace=namespace)
    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return Process(sio, runner, f"http://127.0.0.1:{port}")


@pytest.fixture
async def cluster(redis_server: RedisServer) -> AsyncIterator[tuple[Process, Process]]:
    import redis.asyncio

    channel = f"test-{uuid.uuid4().hex}"
    one, two = await start_process(redis_server.url, channel), await start_process(redis_server.url, channel)
    for process in (one, two):
        await process.manager.listen(process.sio)
    probe = redis.asyncio.Redis.from_url(redis_server.url)
    for _ in range(200):  # both listening before anything is published
        if (await probe.pubsub_numsub(channel))[0][1] == 2:
            break
        await asyncio.sleep(0.02)
    await probe.aclose()
    yield one, two
    for process in (one, two):
        await process.sio.shutdown()
        await process.runner.cleanup()
        await process.manager.close()


class Client:
    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.gone = asyncio.Event()

    async def connect(self, process: Process, namespace: str, rooms: list[str]) -> Client:
        self.sio.on("*", lambda event, data: self.received.put_nowait((event, data)), namespace=namespace)
        self.sio.on("disconnect", lambda *_: self.gone.set(), namespace=namespace)
        await self.sio.connect(process.url, namespaces=[namespace], auth={"rooms": rooms}, transports=["websocket"])
        return self

    async def next(self, timeout: float = 5) -> tuple[str, Any]:
        return await asyncio.wait_for(self.received.get(), timeout)


@pytest.fixture
async def clients() -> AsyncIterator[Any]:
    made: list[Client] = []

    async def make(process: Process, namespace: str, rooms: list[str]) -> Client:
        made.append(await Client().connect(process, namespace, rooms))
        return made[-1]

    yield make
    for client in made:
        if client.sio.connected:
            await client.sio.disconnect()


async def test_an_emit_reaches_members_who_are_all_on_the_other_process(cluster, clients) -> None:
    one, two = cluster
    customer = await clients(two, CHAT, ["conversation:1"])
    await one.sio.emit("message", {"text": "hello"}, room="conversation:1", namespace=CHAT)
    assert await customer.next() == ("message", {"text": "hello"})


async def test_an_agents_console_on_the_other_process_joins_and_leaves_a_conversation(cluster, clients) -> None:
    one, two = cluster
    console = await clients(two, AGENT, ["agent:7"])
    await one.manager.move_members(AGENT, "agent:7", "conversation:5", True)  # assigned on process one
    await one.sio.emit("message", {"seq": 1}, room="conversation:5", namespace=AGENT)
    assert await console.next() == ("message", {"seq": 1})

    await one.manager.move_members(AGENT, "agent:7", "conversation:5", False)  # released
    await one.sio.emit("message", {"seq": 2}, room="conversation:5", namespace=AGENT)
    await one.sio.emit("queue", {"after": "release"}, room="agent:7", namespace=AGENT)
    assert await console.next() == ("queue", {"after": "release"})  # and nothing of seq 2 before it


async def test_a_revoked_sessions_sockets_on_every_process_are_disconnected(cluster, clients) -> None:
    one, two = cluster
    here = await clients(one, CHAT, ["session:abc"])
    there = await clients(two, CHAT, ["session:abc"])
    other = await clients(two, CHAT, ["session:xyz"])
    await one.manager.disconnect_members("session:abc")  # a logout handled by process one
    await asyncio.wait_for(asyncio.gather(here.gone.wait(), there.gone.wait()), 5)
    await one.sio.emit("still", {"here": True}, room="session:xyz", namespace=CHAT)
    assert await other.next() == ("still", {"here": True})


async def test_what_crosses_between_processes_is_json(cluster, redis_server: RedisServer) -> None:
    import redis.asyncio

    one, _ = cluster
    probe = redis.asyncio.Redis.from_url(redis_server.url)
    listener = probe.pubsub()
    await listener.subscribe(one.manager.channel)
    await listener.get_message(timeout=1)  # the subscription's confirmation
    await one.sio.emit("message", {"text": "hi"}, room="conversation:9", namespace=CHAT)
    published = None
    for _ in range(50):
        published = await listener.get_message(timeout=0.1)
        if published is not None:
            break
    await listener.aclose()
    await probe.aclose()
    assert published is not None
    assert json.loads(published["data"])["data"] == [{"text": "hi"}]


# -- with the room directory: an emit crosses only to the processes with members (cluster_rooms.py) --


async def start_routed(redis_url: str, channel: str) -> tuple[Process, RoomDirectory]:
    process = await start_process(redis_url, channel)
    manager = process.manager
    await manager.listen(process.sio)
    directory = RoomDirectory(
        redis_url,
        manager.host_id,
        local_rooms=manager.routed_rooms,
        deliver=manager.deliver,
        resync=manager.resync_there,
        resubscribed=manager.resync_here,
        channel=channel + ":rooms",
    )
    await directory.start()
    manager.directory = directory
    return process, directory


@pytest.fixture
async def routed(redis_server: RedisServer) -> AsyncIterator[Any]:
    """Processes that route their emits through a room directory, started on demand."""
    channel = f"test-{uuid.uuid4().hex}"
    started: list[tuple[Process, RoomDirectory]] = []

    async def start() -> Process:
        started.append(await start_routed(redis_server.url, channel))
        return started[-1][0]

    start.channel = channel  # type: ignore[attr-defined]
    yield start
    for process, directory in started:
        await process.sio.shutdown()
        await process.runner.cleanup()
        await directory.stop()
        await process.manager.close()


async def until(condition: Any, timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_an_emit_crosses_only_to_the_processes_with_members_in_its_room(
    routed, clients, redis_server: RedisServer
) -> None:
    one, two, three = await routed(), await routed(), await routed()
    heard = (one.manager.channel, RoomDirectory.inbox(routed.channel + ":rooms", three.manager.host_id))
    async with watching(redis_server.url, heard) as watcher:
        customer = await clients(two, CHAT, ["conversation:1"])
        assert one.manager.directory is not None
        await until(lambda: one.manager.directory.elsewhere(CHAT, "conversation:1"))  # type: ignore[union-attr]

        await one.sio.emit("message", {"text": "hello"}, room="conversation:1", namespace=CHAT)
        await one.sio.emit("message", {"text": "to nobody"}, room="conversation:2", namespace=CHAT)
        assert await customer.next() == ("message", {"text": "hello"})
        assert await watcher.published() == []  # not on the channel every process hears, nor to process three


async def test_a_room_left_on_another_process_is_forgotten_and_a_late_process_learns_the_rooms(routed, clients) -> None:
    one, two = await routed(), await routed()
    leaving = await clients(two, CHAT, ["conversation:3"])
    staying = await clients(two, AGENT, ["agents:cltiktok"])
    directory = one.manager.directory
    assert directory is not None
    await until(lambda: directory.elsewhere(CHAT, "conversation:3"))
    await leaving.sio.disconnect()
    await until(lambda: not directory.elsewhere(CHAT, "conversation:3"))

    three = await routed()  # says hello: the others answer with their rooms
    assert three.manager.directory is not None
    await until(lambda: three.manager.directory.elsewhere(AGENT, "agents:cltiktok"))  # type: ignore[union-attr]
    await three.sio.emit("queue", {"waiting": 1}, room="agents:cltiktok", namespace=AGENT)
    assert await staying.next() == ("queue", {"waiting": 1})


async def test_a_process_taken_for_gone_is_forgotten(routed, clients) -> None:
    one, two = await routed(), await routed()
    await clients(two, AGENT, ["agent:9"])
    directory = one.manager.directory
    assert directory is not None
    await until(lambda: directory.elsewhere(AGENT, "agent:9") == {two.manager.host_id})
    directory.process_left(two.manager.host_id)  # what the presence board says of a silent process
    assert directory.elsewhere(AGENT, "agent:9") == set()


async def test_a_join_made_while_redis_is_away_is_announced_once_it_is_back(
    routed, clients, redis_server: RedisServer
) -> None:
    one, two = await routed(), await routed()
    directory = one.manager.directory
    assert directory is not None
    redis_server.stop()
    try:
        joined = await asyncio.wait_for(clients(two, CHAT, ["conversation:12"]), 5)  # the connect is not held
    finally:
        redis_server.restart()
    await until(lambda: directory.elsewhere(CHAT, "conversation:12"), timeout=30)
    await one.sio.emit("message", {"n": 12}, room="conversation:12", namespace=CHAT)
    while (event := await joined.next(timeout=10))[0] != "message":
        assert event[0] == "resync"  # told to fetch what it missed while Redis was away
    assert event == ("message", {"n": 12})
