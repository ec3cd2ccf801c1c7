"""IndexedRoomManager keeps exactly the rooms python-socketio's own manager
keeps, and sends every emit to the same clients, through random sequences of
what the server does with rooms; a disconnect no longer scans every room, and
an emit to nobody encodes nothing."""

from __future__ import annotations

import itertools
import random

import pytest
import socketio

from chatbot.web.rooms import IndexedRoomManager

NAMESPACES = ["/chat", "/agent"]
ROOMS = [f"conversation:{i}" for i in range(6)] + ["agents:cltiktok", "user:1", "user:2"]


def managed(manager: socketio.AsyncManager) -> socketio.AsyncManager:
    server = socketio.AsyncServer()
    ids = itertools.count()
    server.eio.generate_id = lambda: f"sid{next(ids)}"  # the same sids for both managers
    manager.sent = []

    async def send(eio_sid: str, pkt) -> None:  # where python-socketio hands packets to Engine.IO
        manager.sent.append((eio_sid, pkt.encode()))

    server._send_eio_packet = send
    manager.set_server(server)
    return manager


def state(manager: socketio.AsyncManager, sids: list[tuple[str, str]]) -> dict:
    return {
        "rooms": {ns: {room: dict(members) for room, members in rooms.items()} for ns, rooms in manager.rooms.items()},
        "rooms_of": {(ns, sid): sorted(manager.get_rooms(sid, ns), key=str) for ns, sid in sids},
        "callbacks": sorted(manager.callbacks),
        "pending_connect": manager.pending_connect,
        "pending_disconnect": manager.pending_disconnect,
        "sent": sorted(manager.sent),
    }


async def apply(manager: socketio.AsyncManager, step: tuple, sids: list[tuple[str, str]]) -> None:
    kind, *args = step
    if kind == "connect":
        eio_sid, namespace, complete = args
        sid = await manager.pre_connect(eio_sid, namespace)
        if sid is None:
            return
        sids.append((namespace, sid))
        if complete:
            await manager.connect(sid, namespace)
    elif kind == "callback":
        namespace, sid = sids[args[0] % len(sids)]
        manager._generate_ack_id(sid, lambda *a: None)
    elif kind == "enter":
        namespace, sid = sids[args[0] % len(sids)]
        if manager.is_connected(sid, namespace):
            await manager.enter_room(sid, namespace, args[1])
    elif kind == "leave":
        namespace, sid = sids[args[0] % len(sids)]
        await manager.leave_room(sid, namespace, args[1])
    elif kind == "close":
        await manager.close_room(args[0], args[1])
    elif kind == "emit":
        namespace, target, skip = args
        if isinstance(target, int):  # a client's own room
            target = sids[target % len(sids)][1]
        if isinstance(skip, int):
            skip = sids[skip % len(sids)][1]
        await manager.emit("message", {"n": len(manager.sent)}, namespace, room=target, skip_sid=skip)
    elif kind == "disconnect":
        namespace, sid = sids[args[0] % len(sids)]
        if namespace in manager.rooms and sid in manager.rooms[namespace].get(None, {}):
            if args[1]:
                manager.pre_disconnect(sid, namespace)
            await manager.disconnect(sid, namespace)


def random_steps(rng: random.Random, count: int) -> list[tuple]:
    steps = []
    for _ in range(count):
        kind = rng.choice(
            [
                "connect",
                "connect",
                "enter",
                "enter",
                "enter",
                "leave",
                "close",
                "disconnect",
                "disconnect",
                "callback",
                "emit",
                "emit",
            ]
        )
        if kind == "connect" or not steps:
            steps.append(("connect", f"eio{rng.randrange(12)}", rng.choice(NAMESPACES), rng.random() < 0.9))
        elif kind in ("enter", "leave"):
            steps.append((kind, rng.randrange(1000), rng.choice(ROOMS)))
        elif kind == "close":
            steps.append(("close", rng.choice(ROOMS), rng.choice(NAMESPACES)))
        elif kind == "disconnect":
            steps.append(("disconnect", rng.randrange(1000), rng.random() < 0.7))
        elif kind == "emit":
            target = rng.choice(ROOMS + ["nobody's room", None, rng.randrange(1000)])
            skip = rng.choice([None, rng.randrange(1000), [rng.randrange(1000) for _ in range(2)]])
            if isinstance(skip, list):
                skip = skip if rng.random() < 0.5 else None
            steps.append(("emit", rng.choice(NAMESPACES), target, skip))
        else:
            steps.append(("callback", rng.randrange(1000)))
    return steps


@pytest.mark.parametrize("seed", range(40))
async def test_the_same_rooms_as_python_socketios_own_manager(seed):
    stock, indexed = managed(socketio.AsyncManager()), managed(IndexedRoomManager())
    stock_sids: list[tuple[str, str]] = []
    indexed_sids: list[tuple[str, str]] = []
    for step in random_steps(random.Random(seed), 300):
        await apply(stock, step, stock_sids)
        await apply(indexed, step, indexed_sids)
        assert indexed_sids == stock_sids
        assert state(indexed, indexed_sids) == state(stock, stock_sids), step
    assert len(stock_sids) > 20  # the sequence did connect and disconnect many clients
    assert len(stock.sent) > 5  # and sent packets


class RoomsThatMustNotBeScanned(dict):
    def copy(self):
        raise AssertionError("walked every room of the namespace")

    def items(self):
        raise AssertionError("walked every room of the namespace")

    def __iter__(self):
        raise AssertionError("walked every room of the namespace")


async def test_a_disconnect_leaves_only_the_clients_own_rooms():
    """The stock manager walks every room of the namespace on each disconnect
    (40,000 rooms with 10,000 customers online); this one must not."""
    manager = managed(IndexedRoomManager())
    customers = []
    for i in range(1_000):
        sid = await manager.connect(f"eio{i}", "/chat")
        for room in (f"conversation:{i}", f"session:{i}", f"user:{i}"):
            await manager.enter_room(sid, "/chat", room)
        customers.append(sid)
    manager.rooms["/chat"] = RoomsThatMustNotBeScanned(manager.rooms["/chat"])
    for sid in customers[:100]:
        manager.pre_disconnect(sid, "/chat")
        await manager.disconnect(sid, "/chat")
    assert dict.__len__(manager.rooms["/chat"]) == 900 * 4 + 1  # their sid rooms, and the connected room
    assert manager.get_rooms(customers[100], "/chat") == [customers[100], "conversation:100", "session:100", "user:100"]
    assert not manager.is_connected(customers[0], "/chat") and manager.is_connected(customers[100], "/chat")


async def test_an_emit_to_nobody_encodes_nothing():
    """Each customer message is also sent to the conversation's agents and to
    the customer's other tabs, usually nobody: no packet is built for them."""
    manager = managed(IndexedRoomManager())
    sid = await manager.connect("eio0", "/chat")
    await manager.enter_room(sid, "/chat", "conversation:1")
    await manager.connect("eio1", "/agent")
    built = []
    packet_class = manager.server.packet_class
    manager.server.packet_class = lambda *args, **kwargs: built.append(args) or packet_class(*args, **kwargs)
    await manager.emit("message", {"text": "hi"}, "/chat", room="conversation:2")
    await manager.emit("message", {"text": "hi"}, "/chat", room="conversation:1", skip_sid=sid)
    await manager.emit("message", {"text": "hi"}, "/agent", room="conversation:1")
    assert built == [] and manager.sent == []
    await manager.emit("message", {"text": "hi"}, "/chat", room="conversation:1")
    assert len(built) == 1 and manager.sent == [("eio0", '42/chat,["message",{"text":"hi"}]')]
