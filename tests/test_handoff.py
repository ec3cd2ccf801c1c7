"""The human handoff with the injected clock: queue, assignment, the
first-response clock, and what agents and customers see. Time moves by
`server.clock.advance()` and `desk.tick()`, never by sleeping."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import socketio

from chatbot.auth import hash_password
from chatbot.brands import HoursSettings
from chatbot.handoff import erlang
from chatbot.handoff.hours import Hours
from chatbot.settings import REPO_ROOT
from chatbot.web.keys import DESK, KNOWLEDGE, STORE
from helpers import ALICE, BOB, CAROL, DANA, ELI, OLGA, OMAR, SUNNY, ChatClient, make_settings, start_server

MONDAY_9AM_PACIFIC = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)


def copied_intents(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """A copy of intents/ with one text of one file replaced: what an operator's edit does."""
    intents = tmp_path / "intents"
    shutil.copytree(REPO_ROOT / "intents", intents)
    text = (intents / name).read_text(encoding="utf-8")
    assert old in text
    (intents / name).write_text(text.replace(old, new), encoding="utf-8")
    return intents


def set_cap(server, cap: int, brand: str = "cltiktok") -> None:
    server.app[KNOWLEDGE].brand(brand).settings.service_levels.agent_chat_cap = cap


async def settle() -> None:
    """Let background answers and emits run (no clock involved)."""
    for _ in range(20):
        await asyncio.sleep(0.01)


async def ask_for_person(client: ChatClient) -> dict:
    await client.send("I want to talk to a real person")
    return await client.wait_for("handoff", lambda h: h["state"] in ("queued", "assigned", "offline"))


async def new_customer(server, name: str) -> dict:
    creds = {"brand": "cltiktok", "email": f"{name}@example.com", "password": f"{name}-pass"}
    await server.app[STORE].create_user(
        {
            "brand": "cltiktok",
            "email": creds["email"],
            "name": name.title(),
            "role": "customer",
            "password_hash": hash_password(creds["password"]),
            "created_at": "2026-01-01T00:00:00Z",
        }
    )
    return creds


async def agent(server, clients, creds) -> ChatClient:
    console = await clients(server, creds, namespace="/agent")
    await console.wait_for("queue")
    return console


# -- nobody there ---------------------------------------------------------------------------


async def test_no_agent_online_the_customer_is_told_plainly_and_can_leave_a_message(server, clients):
    alice = await clients(server, ALICE)
    handoff = await ask_for_person(alice)
    assert handoff["state"] == "offline" and handoff["email"] == "cltiktokshop@gmail.com"
    notice = await alice.wait_for("message", lambda m: m["sender"]["type"] == "system")
    assert "can't take the chat now: nobody from our team is online right now (" in notice["text"]
    assert "+1 443 418 2795" in notice["text"]
    left = await alice.ask("my earbuds stopped working, please email me")  # shown back before it is sent
    assert "my earbuds stopped working, please email me" in left["text"] and "Shall I send it" in left["text"]
    assert (await server.get("/api/tickets", await server.login(DANA)))[1]["tickets"] == []
    await alice.ask("yes")
    ticket_note = await alice.wait_for("message", lambda m: "ticket #" in m["text"])
    assert "alice@example.com" in ticket_note["text"]
    status, body = await server.get("/api/tickets", await server.login(DANA))
    assert status == 200
    assert body["tickets"][0]["message"] == "my earbuds stopped working, please email me"
    assert "I want to talk to a real person" in body["tickets"][0]["transcript"]


async def test_what_the_desk_tells_the_customer_is_the_brands_replies_yaml(tmp_path, clients):
    intents = copied_intents(
        tmp_path,
        "cltiktok/replies.yaml",
        "handoff.nobody_online: nobody from our team is online right now",
        "handoff.nobody_online: all of our agents are busy elsewhere",
    )
    server = await start_server(make_settings(tmp_path, intents_dir=intents))
    try:
        alice = await clients(server, ALICE)
        assert (await ask_for_person(alice))["state"] == "offline"
        notice = await alice.wait_for("message", lambda m: m["sender"]["type"] == "system")
        assert notice["text"].startswith("Our team can't take the chat now: all of our agents are busy elsewhere (")
    finally:
        await server.runner.cleanup()


async def test_the_records_an_agent_sees_are_the_brands_rules(tmp_path, clients):
    # refunds for merchants only: alice, a customer, has one, and her agent no longer sees it
    intents = copied_intents(tmp_path, "cltiktok/brand.yaml", "refunds: [customer, merchant]", "refunds: [merchant]")
    server = await start_server(make_settings(tmp_path, intents_dir=intents))
    try:
        dana = await agent(server, clients, DANA)
        await ask_for_person(await clients(server, ALICE))
        conversation = (await dana.wait_for("assigned"))["conversation"]
        assert set(conversation["records"]) == {"orders"}
    finally:
        await server.runner.cleanup()


async def test_outside_hours_gives_the_next_opening(server, clients):
    server.clock.set(datetime(2026, 1, 10, 20, 0, tzinfo=UTC))  # Saturday noon in Los Angeles
    await agent(server, clients, DANA)  # online, but the team is closed
    alice = await clients(server, ALICE)
    handoff = await ask_for_person(alice)
    assert handoff["state"] == "offline"
    assert handoff["opens_at"] == "2026-01-12T17:00:00.000Z"  # Monday 9:00 Pacific
    notice = await alice.wait_for("message", lambda m: m["sender"]["type"] == "system")
    assert "can't take the chat now: it's outside our live chat hours (" in notice["text"]
    assert "Monday 09:00 America/Los_Angeles" in notice["text"]


def test_opening_hours_in_the_brands_time_zone():
    pacific = Hours(HoursSettings(timezone="America/Los_Angeles"))
    friday_evening = datetime(2026, 1, 10, 2, 30, tzinfo=UTC)  # Friday 18:30 in LA
    assert not pacific.is_open(friday_evening)
    assert pacific.next_opening(friday_evening) == datetime(2026, 1, 12, 17, 0, tzinfo=UTC)
    hong_kong = Hours(HoursSettings(timezone="Asia/Hong_Kong"))
    assert hong_kong.is_open(datetime(2026, 1, 5, 1, 0, tzinfo=UTC))  # Monday 9:00 HKT
    assert not hong_kong.is_open(datetime(2026, 1, 5, 10, 0, tzinfo=UTC))  # Monday 18:00 HKT


# -- the queue --------------------------------------------------------------------------------


async def test_position_and_estimate_update_as_the_queue_moves(server, clients):
    set_cap(server, 1)
    dana = await agent(server, clients, DANA)
    alice = await clients(server, ALICE)
    bob = await clients(server, BOB)
    sunny = await clients(server, SUNNY)
    assert (await ask_for_person(alice))["state"] == "assigned"
    assigned = await dana.wait_for("assigned")
    assert assigned["conversation"]["customer"]["name"] == "Alice Chen"
    bob_place = await ask_for_person(bob)
    assert bob_place == {"state": "queued", "position": 1, "eta_seconds": 300}
    sunny_place = await ask_for_person(sunny)
    assert sunny_place == {"state": "queued", "position": 2, "eta_seconds": 600}
    queue = await dana.wait_for("queue", lambda q: len(q["items"]) == 2)
    assert [i["customer"]["name"] for i in queue["items"]] == ["Bob Rivera", "Sunny Socks (store)"]
    assert queue["items"][0]["reason"] == "human_agent" and queue["items"][0]["preview"]

    assert (await dana.call("resolve", {"conversation_id": assigned["conversation"]["id"]}))["ok"]
    await bob.wait_for("handoff", lambda h: h["state"] == "assigned")
    moved = await sunny.wait_for("handoff", lambda h: h.get("position") == 1)
    assert moved["eta_seconds"] == 300


async def test_assignment_goes_to_the_least_busy_agent_under_the_cap(server, clients):
    set_cap(server, 2)
    dana = await agent(server, clients, DANA)
    eli = await agent(server, clients, ELI)
    customers = [await clients(server, c) for c in (ALICE, BOB, SUNNY)]
    for customer in customers:
        await ask_for_person(customer)
    await dana.wait_for("assigned", count=2)
    await eli.wait_for("assigned")

    def names(console: ChatClient) -> list[str]:
        return sorted(a["conversation"]["customer"]["name"] for a in console.received("assigned"))

    assert names(dana) == ["Alice Chen", "Sunny Socks (store)"]
    assert names(eli) == ["Bob Rivera"]
    xu = await clients(server, await new_customer(server, "xu"))
    assert (await ask_for_person(xu))["state"] == "assigned"
    # 2 + 2 now: the cap is full, so the next one waits
    yu = await clients(server, await new_customer(server, "yu"))
    assert (await ask_for_person(yu))["state"] == "queued"


async def test_two_agents_accepting_at_the_same_instant_one_wins(server, clients):
    set_cap(server, 0)  # nobody is assigned automatically: both must click
    dana = await agent(server, clients, DANA)
    eli = await agent(server, clients, ELI)
    alice = await clients(server, ALICE)
    await ask_for_person(alice)
    item = (await dana.wait_for("queue", lambda q: q["items"]))["items"][0]
    acks = await asyncio.gather(
        dana.call("accept", {"conversation_id": item["conversation_id"]}),
        eli.call("accept", {"conversation_id": item["conversation_id"]}),
    )
    assert sorted(a["ok"] for a in acks) == [False, True]
    loser = next(a for a in acks if not a["ok"])
    assert loser["error"] == "already_assigned"
    winner = dana if acks[0]["ok"] else eli
    other = eli if winner is dana else dana
    assert (
        await winner.call(
            "message", {"conversation_id": item["conversation_id"], "client_id": "c1", "text": "Hi, I'm here"}
        )
    )["ok"]
    refused = await other.call(
        "message", {"conversation_id": item["conversation_id"], "client_id": "c2", "text": "me too"}
    )
    assert refused["ok"] is False and refused["error"] == "forbidden"


async def test_messages_flow_both_ways_and_the_first_reply_stops_the_clock(server, clients):
    dana = await agent(server, clients, DANA)
    alice = await clients(server, ALICE)
    await ask_for_person(alice)
    conversation = (await dana.wait_for("assigned"))["conversation"]
    view_intents = [m.get("intent") for m in conversation["messages"] if m["sender"]["type"] == "bot"]
    assert "human_agent" in view_intents
    assert conversation["handoff"]["intent"] == "human_agent" and conversation["handoff"]["confidence"] > 0.5
    assert {o["number"] for o in conversation["records"]["orders"]} == {"CT-100234", "CT-100235", "CT-100236"}
    assert [r["number"] for r in conversation["records"]["refunds"]] == ["RF-5001"]
    sent = await alice.send("my earbuds are broken")
    assert (await dana.wait_for("message", lambda m: m["id"] == sent["id"]))["text"] == "my earbuds are broken"
    await asyncio.sleep(0.1)
    assert not alice.received("message", lambda m: m["sender"]["type"] == "bot" and m["seq"] > sent["seq"])
    server.clock.advance(seconds=90)
    ack = await dana.call(
        "message",
        {"conversation_id": conversation["id"], "client_id": "a1", "text": "Sorry to hear that, let me check"},
    )
    assert ack["ok"] and ack["message"]["sender"] == {"type": "agent", "name": "Dana"}
    got = await alice.wait_for("message", lambda m: m["sender"]["type"] == "agent")
    assert got["text"] == "Sorry to hear that, let me check"
    stats = await server.app[DESK].stats("cltiktok")
    assert stats["median_wait_seconds"] == 90 and stats["answered_within_5_min"] == 1.0


async def test_typing_and_internal_notes(server, clients):
    dana = await agent(server, clients, DANA)
    alice = await clients(server, ALICE)
    await ask_for_person(alice)
    conversation = (await dana.wait_for("assigned"))["conversation"]
    assert (await dana.call("typing", {"conversation_id": conversation["id"], "on": True}))["ok"]
    assert (await alice.wait_for("typing"))["sender"] == {"type": "agent", "name": "Dana"}
    note = await dana.call("note", {"conversation_id": conversation["id"], "text": "VIP, be nice"})
    assert note["ok"]
    await asyncio.sleep(0.1)
    assert not [m for m in alice.events if "VIP" in str(m)]


# -- the first-response clock -------------------------------------------------------------------


async def test_flag_at_the_target_and_breach_with_an_email_offer(server, clients):
    set_cap(server, 0)
    dana = await agent(server, clients, DANA)
    alice = await clients(server, ALICE)
    await ask_for_person(alice)
    desk = server.app[DESK]
    server.clock.advance(seconds=299)
    await desk.tick()
    assert not (await desk.queue("cltiktok"))["items"][0]["flagged"]
    server.clock.advance(seconds=1)
    await desk.tick()
    flagged = await dana.wait_for("queue", lambda q: q["items"] and q["items"][0]["flagged"])
    assert not flagged["items"][0]["breached"] and flagged["items"][0]["waited_seconds"] == 300
    server.clock.advance(seconds=300)
    await desk.tick()
    await dana.wait_for("queue", lambda q: q["items"] and q["items"][0]["breached"])
    offer = await alice.wait_for("message", lambda m: "Continue by email" in m.get("quick_replies", []))
    assert "10 minutes" in offer["text"]
    assert (await desk.stats("cltiktok"))["breaches"] == 1
    await alice.send("Continue by email")
    await alice.wait_for("handoff", lambda h: h["state"] == "closed")
    tickets = await server.app[STORE].tickets("cltiktok")
    assert tickets[0]["kind"] == "breach_followup" and tickets[0]["email"] == "alice@example.com"
    assert await dana.wait_for("queue", lambda q: q["items"] == [])


async def test_after_a_restart_the_queue_is_the_same_with_its_original_times(tmp_path):
    settings = make_settings(tmp_path)
    server = await start_server(settings)
    set_cap(server, 0)
    try:
        dana = ChatClient(server.url, "/agent")
        await dana.connect({"token": await server.login(DANA)})
        for creds in (ALICE, BOB):
            customer = ChatClient(server.url)
            await customer.connect({"token": await server.login(creds)})
            await ask_for_person(customer)
            await customer.close()
            server.clock.advance(seconds=60)
        await dana.close()
    finally:
        await server.runner.cleanup()
    clock = server.clock
    clock.advance(seconds=60)
    server = await start_server(settings, clock)
    set_cap(server, 0)
    try:
        dana = ChatClient(server.url, "/agent")
        await dana.connect({"token": await server.login(DANA)})
        queue = await dana.wait_for("queue")
        assert [(i["customer"]["name"], i["waited_seconds"]) for i in queue["items"]] == [
            ("Alice Chen", 180),
            ("Bob Rivera", 120),
        ]
        await dana.close()
    finally:
        await server.runner.cleanup()


@contextlib.asynccontextmanager
async def running(settings, clock=None, cap: int = 1):
    """A server on `settings` (its database survives it), stopped on leaving
    with whatever is still connected."""
    server = await start_server(settings, clock)
    set_cap(server, cap)
    try:
        yield server
    finally:
        await server.runner.cleanup()


async def connected(server, creds, namespace: str = "/chat") -> ChatClient:
    client = ChatClient(server.url, namespace)
    await client.connect({"token": await server.login(creds)})
    return client


async def stop_while_dana_holds_alices_chat(settings):
    """Run a server until Dana holds Alice's chat, then stop it with her console
    and Alice's widget still open; the clock, for the server that follows."""
    async with running(settings) as server:
        dana = await connected(server, DANA, "/agent")
        await ask_for_person(await connected(server, ALICE))
        await dana.wait_for("assigned")
    return server.clock


async def test_after_a_restart_an_agent_who_does_not_come_back_loses_the_chat_after_the_grace(tmp_path):
    settings = make_settings(tmp_path)
    async with running(settings, await stop_while_dana_holds_alices_chat(settings)) as server:
        alice = await connected(server, ALICE)
        assert (await alice.wait_for("handoff"))["state"] == "assigned"
        desk = server.app[DESK]
        server.clock.advance(seconds=59)
        await desk.tick()
        assert (await desk.queue("cltiktok"))["items"] == []  # still Dana's, inside the grace
        server.clock.advance(seconds=1)
        await desk.tick()
        # Dana never came back: without this, the chat stayed hers, and Alice waited for nobody
        await alice.wait_for("message", lambda m: "front of the queue" in m["text"])
        assert [i["customer"]["name"] for i in (await desk.queue("cltiktok"))["items"]] == ["Alice Chen"]
        await alice.close()


async def test_after_a_restart_an_agent_back_within_the_grace_keeps_the_chat(tmp_path):
    settings = make_settings(tmp_path)
    async with running(settings, await stop_while_dana_holds_alices_chat(settings)) as server:
        dana = await connected(server, DANA, "/agent")
        held = await dana.wait_for("assigned")
        assert held["conversation"]["customer"]["name"] == "Alice Chen"
        server.clock.advance(seconds=120)
        await server.app[DESK].tick()
        assert (await server.app[DESK].queue("cltiktok"))["items"] == []
        await dana.close()


async def test_a_restart_longer_than_the_customer_grace_does_not_abandon_the_queue(tmp_path):
    settings = make_settings(tmp_path)
    async with running(settings, cap=0) as server:
        dana = await connected(server, DANA, "/agent")
        assert (await ask_for_person(await connected(server, ALICE)))["state"] == "queued"
        await dana.close()
    # Alice's widget was closed by the stop, so she "left"; the server was away for 10 minutes
    server.clock.advance(seconds=600)
    async with running(settings, server.clock, cap=0) as server:
        desk = server.app[DESK]
        await desk.tick()  # the ticker's first pass, before her widget is back
        assert [i["customer"]["name"] for i in (await desk.queue("cltiktok"))["items"]] == ["Alice Chen"]
        server.clock.advance(seconds=299)
        await desk.tick()
        assert len((await desk.queue("cltiktok"))["items"]) == 1
        server.clock.advance(seconds=1)  # she never came back: abandoned a grace period after the restart
        await desk.tick()
        assert (await desk.queue("cltiktok"))["items"] == []


async def test_an_agent_who_drops_keeps_chats_for_the_grace_period_then_they_go_to_the_front(server, clients):
    set_cap(server, 1)
    dana = await agent(server, clients, DANA)
    alice = await clients(server, ALICE)
    await ask_for_person(alice)
    await dana.wait_for("assigned")
    server.clock.advance(seconds=10)
    bob = await clients(server, BOB)
    assert (await ask_for_person(bob))["position"] == 1
    await dana.close()
    await settle()
    desk = server.app[DESK]
    server.clock.advance(seconds=59)
    await desk.tick()
    assert [i["customer"]["name"] for i in (await desk.queue("cltiktok"))["items"]] == ["Bob Rivera"]
    back = await clients(server, DANA, namespace="/agent")  # reconnecting inside the grace keeps the chat
    held = await back.wait_for("assigned")
    assert held["conversation"]["customer"]["name"] == "Alice Chen"
    await back.close()
    await settle()
    server.clock.advance(seconds=60)
    await desk.tick()
    queue = (await desk.queue("cltiktok"))["items"]
    assert [i["customer"]["name"] for i in queue] == ["Alice Chen", "Bob Rivera"]
    assert queue[0]["waited_seconds"] > queue[1]["waited_seconds"]
    await alice.wait_for("message", lambda m: "front of the queue" in m["text"])


async def test_a_customer_who_leaves_the_queue_is_abandoned_after_the_grace(server, clients):
    set_cap(server, 0)
    await agent(server, clients, DANA)
    alice = await clients(server, ALICE)
    await ask_for_person(alice)
    await alice.close()
    await settle()
    desk = server.app[DESK]
    server.clock.advance(seconds=299)
    await desk.tick()
    assert len((await desk.queue("cltiktok"))["items"]) == 1
    server.clock.advance(seconds=1)
    await desk.tick()
    assert (await desk.queue("cltiktok"))["items"] == []
    assert (await desk.stats("cltiktok"))["abandoned"] == 1


# -- what an agent can do with a conversation ----------------------------------------------------


async def test_transfer_to_another_agent(server, clients):
    dana = await agent(server, clients, DANA)
    eli = await agent(server, clients, ELI)
    alice = await clients(server, ALICE)
    await ask_for_person(alice)
    conversation_id = (await dana.wait_for("assigned"))["conversation"]["id"]
    eli_id = next(u["id"] for u in await server.app[STORE].users_of_brand("cltiktok", "agent") if u["name"] == "Eli")
    assert (await dana.call("transfer", {"conversation_id": conversation_id, "agent_id": eli_id}))["ok"]
    got = await eli.wait_for("assigned")
    assert got["conversation"]["id"] == conversation_id
    await alice.wait_for("handoff", lambda h: h.get("agent", {}).get("name") == "Eli")
    refused = await dana.call("message", {"conversation_id": conversation_id, "client_id": "x", "text": "hi"})
    assert refused["error"] == "forbidden"
    bad = await eli.call("transfer", {"conversation_id": conversation_id, "agent_id": 999})
    assert bad["ok"] is False and bad["error"] == "agent_not_available"


async def test_release_puts_it_back_for_someone_else(server, clients):
    dana = await agent(server, clients, DANA)
    alice = await clients(server, ALICE)
    await ask_for_person(alice)
    conversation_id = (await dana.wait_for("assigned"))["conversation"]["id"]
    assert (await dana.call("release", {"conversation_id": conversation_id}))["ok"]
    queue = await dana.wait_for("queue", lambda q: q["items"])
    assert queue["items"][0]["conversation_id"] == conversation_id
    eli = await agent(server, clients, ELI)
    assert (await eli.wait_for("assigned"))["conversation"]["id"] == conversation_id


async def test_hand_back_to_the_bot(server, clients):
    dana = await agent(server, clients, DANA)
    alice = await clients(server, ALICE)
    await ask_for_person(alice)
    conversation_id = (await dana.wait_for("assigned"))["conversation"]["id"]
    assert (await dana.call("handback", {"conversation_id": conversation_id}))["ok"]
    handoff = await alice.wait_for("handoff", lambda h: h["state"] == "closed")
    assert handoff["back_to"] == "bot"  # the person's part ends, the chat does not
    reply = await alice.ask("what payment methods do you support?")
    assert reply["intent"] == "payment_methods"


async def test_resolve_then_the_customer_rates_it(server, clients):
    dana = await agent(server, clients, DANA)
    alice = await clients(server, ALICE)
    await ask_for_person(alice)
    conversation_id = (await dana.wait_for("assigned"))["conversation"]["id"]
    assert (await dana.call("resolve", {"conversation_id": conversation_id}))["ok"]
    prompt = await alice.wait_for("message", lambda m: m.get("quick_replies") == ["5", "4", "3", "2", "1"])
    assert "How did we do" in prompt["text"]
    thanks = await alice.ask("5")
    assert "Thank you for rating" in thanks["text"]
    stats = await server.app[DESK].stats("cltiktok")
    assert stats["average_rating"] == 5 and stats["ratings"] == 1
    again = await alice.call("rate", {"rating": 1})
    assert again == {"ok": False, "error": "nothing_to_rate"}


async def test_a_console_that_was_away_reconnects_away_and_is_assigned_nothing(server, clients):
    set_cap(server, 0)
    eli = await agent(server, clients, ELI)  # someone online, so Alice is queued
    alice = await clients(server, ALICE)
    assert (await ask_for_person(alice))["state"] == "queued"
    assert (await eli.call("status", {"status": "away"})) == {"ok": True}
    set_cap(server, 1)
    dana = await clients(server, DANA, namespace="/agent", auth={"status": "away"})
    assert (await dana.wait_for("queue"))["items"]
    await settle()
    assert (await server.app[DESK].queue("cltiktok"))["items"], "an away agent was given the chat"
    assert not [e for e, _ in dana.events if e == "assigned"]
    assert (await dana.call("status", {"status": "online"})) == {"ok": True}
    assert (await dana.wait_for("assigned"))["conversation"]["customer"]["name"] == "Alice Chen"


async def test_bad_agent_payloads_are_refused_and_the_console_lives_on(server, clients):
    dana = await agent(server, clients, DANA)
    for event, payload in [
        ("accept", {}),
        ("accept", {"conversation_id": "x"}),
        ("status", {"status": "asleep"}),
        ("message", {"conversation_id": 1}),
        ("transfer", {"conversation_id": 1}),
        ("resolve", 7),
    ]:
        ack = await dana.call(event, payload)
        assert ack["ok"] is False and ack["error"] == "invalid_payload", (event, ack)
    assert (await dana.call("status", {"status": "away"})) == {"ok": True}


async def test_customers_and_other_brands_cannot_use_the_agent_namespace(server):
    for creds in (ALICE, OLGA):
        console = ChatClient(server.url, "/agent")
        with pytest.raises(socketio.exceptions.ConnectionError):
            await console.connect({"token": await server.login(creds)})
        assert console.connect_error == {"message": "unauthorized"}


async def test_agents_of_one_brand_never_see_the_others_queue(server, clients):
    server.clock.set(datetime(2026, 1, 5, 2, 0, tzinfo=UTC))  # Monday 10:00 in Hong Kong
    tom = await clients(
        server, {"brand": "ttr-e", "email": "tom@ttr-e.example", "password": "tom-demo-pass"}, namespace="/agent"
    )
    await tom.wait_for("queue")
    set_cap(server, 0, "ttr-e")
    carol = await clients(server, CAROL)
    assert (await ask_for_person(carol))["state"] == "queued"
    conversation_id = (await tom.wait_for("queue", lambda q: q["items"]))["items"][0]["conversation_id"]
    server.clock.set(MONDAY_9AM_PACIFIC)
    dana = await agent(server, clients, DANA)
    ack = await dana.call("accept", {"conversation_id": conversation_id})
    assert ack["ok"] is False and ack["error"] == "not_found"
    assert all(not q["items"] for q in dana.received("queue"))
    # asked for (a console told to resync), the queue is the agent's brand's too
    assert (await dana.call("queue", {}))["queue"]["items"] == []
    asked = await tom.call("queue", {})
    assert [i["conversation_id"] for i in asked["queue"]["items"]] == [conversation_id]


# -- the figures ----------------------------------------------------------------------------------


def test_erlang_c_against_the_textbook_example():
    # 200 calls an hour, 3-minute handle time: A = 10 erlangs; 80% within 20 s.
    assert erlang.erlang_c(11, 10) == pytest.approx(0.6821, abs=1e-4)
    assert erlang.service_level(14, 10, 180, 20) == pytest.approx(0.8884, abs=1e-3)
    assert erlang.agents_needed(200, 180, target=0.8, within_seconds=20) == 14
    assert erlang.agents_needed(0, 180) == 0


async def test_the_supervisor_api_is_for_operators_and_supervising_agents(server, clients):
    await agent(server, clients, DANA)
    alice = await clients(server, ALICE)
    await ask_for_person(alice)
    status, stats = await server.get("/api/supervisor?brand=cltiktok", await server.login(OLGA))
    assert status == 200
    assert stats["handoffs"] == 1 and stats["agents"][0]["name"] == "Dana" and stats["agents"][0]["open_chats"] == 1
    assert stats["agents_needed_80_in_5_min"] >= 1 and stats["containment"] == 0.0
    dana_token = await server.login(DANA)
    assert (await server.get("/api/supervisor?brand=cltiktok", dana_token))[0] == 403
    dana_id = next(u["id"] for u in await server.app[STORE].users_of_brand("cltiktok", "agent") if u["name"] == "Dana")
    await server.app[STORE].set_supervisor(dana_id, True)
    assert (await server.get("/api/supervisor?brand=cltiktok", dana_token))[0] == 200
    assert (await server.get("/api/supervisor?brand=cltiktok", await server.login(OMAR)))[0] == 403
    assert (await server.get("/api/supervisor?brand=cltiktok", await server.login(ALICE)))[0] == 403
    assert (await server.get("/api/supervisor?brand=nope", await server.login(OLGA)))[0] == 400


async def test_an_agent_reconnecting_with_last_seq_gets_exactly_the_missed_messages(server, clients):
    dana = await agent(server, clients, DANA)
    alice = await clients(server, ALICE)
    await ask_for_person(alice)
    conversation = (await dana.wait_for("assigned"))["conversation"]
    assert any("has joined" in m["text"] for m in conversation["messages"])
    seen = max(m["seq"] for m in conversation["messages"] + dana.received("message"))
    await dana.close()
    await settle()
    missed = [await alice.send(text) for text in ("are you there?", "hello??")]
    back = await clients(server, DANA, namespace="/agent", auth={"last_seq": {str(conversation["id"]): seen}})
    replay = (await back.wait_for("assigned"))["conversation"]
    assert [m["id"] for m in replay["messages"]] == [m["id"] for m in missed]
    bad = ChatClient(server.url, "/agent")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await bad.connect({"token": await server.login(DANA), "last_seq": {"x": "y"}})


async def test_the_agent_is_told_when_a_held_chat_leaves_by_email(server, clients):
    dana = await agent(server, clients, DANA)
    alice = await clients(server, ALICE)
    await ask_for_person(alice)
    conversation_id = (await dana.wait_for("assigned"))["conversation"]["id"]
    server.clock.advance(seconds=600)  # assigned, but no first reply: a breach
    await server.app[DESK].tick()
    await alice.wait_for("message", lambda m: "Continue by email" in m.get("quick_replies", []))
    await alice.send("Continue by email")
    gone = await dana.wait_for("unassigned")
    assert gone == {"conversation_id": conversation_id, "reason": "continued_by_email"}
