"""The /chat namespace, driven by socketio.AsyncClient against the real server."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest
import socketio

from helpers import ALICE, BOB, DANA, SUNNY, ChatClient, make_settings, start_server


def is_message(m) -> bool:
    return {"id", "conversation_id", "seq", "sender", "text", "created_at"} <= set(m)


@pytest.mark.parametrize("auth", [None, {}, {"token": "not-a-session"}, {"token": 42}, "junk"])
async def test_connections_without_a_valid_session_are_refused(server, auth):
    client = ChatClient(server.url)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(auth)
    assert client.connect_error == {"message": "unauthorized"}


async def test_agents_do_not_chat_on_the_customer_namespace(server):
    client = ChatClient(server.url)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect({"token": await server.login(DANA)})
    assert client.connect_error == {"message": "unauthorized"}


async def test_the_session_cookie_also_opens_a_chat(server):
    token = await server.login(ALICE)
    client = ChatClient(server.url)
    await client.sio.connect(
        server.url, namespaces=["/chat"], headers={"Cookie": f"chatbot_session={token}"}, transports=["websocket"]
    )
    try:
        conversation = await client.wait_for("conversation")
        assert conversation["state"] == "bot"
    finally:
        await client.close()


async def test_connect_sends_the_open_conversation(server, clients):
    client = await clients(server, ALICE)
    conversation = await client.wait_for("conversation")
    assert conversation["state"] == "bot" and conversation["messages"] == []
    assert isinstance(conversation["id"], int)


async def test_a_message_is_acked_stored_and_answered_with_a_cited_policy_answer(server, clients):
    client = await clients(server, ALICE)
    await client.wait_for("conversation")
    sent = await client.send("how can I contact you by phone?")
    assert is_message(sent) and sent["sender"] == {"type": "customer", "name": "Alice Chen"}
    assert sent["seq"] == 1 and sent["text"] == "how can I contact you by phone?"
    reply = await client.bot_reply(sent["seq"])
    assert reply["seq"] == 2 and reply["sender"]["type"] == "bot"
    assert reply["intent"] == "contact_channels" and reply["confidence"] > 0.5
    assert "+1 443 418 2795" in reply["text"]
    assert "section 2" in reply["citation"]


async def test_text_is_trimmed_and_kept_verbatim(server, clients):
    client = await clients(server, ALICE)
    sent = await client.send("   <b>hi</b> & <img src=x onerror=alert(1)>  ")
    assert sent["text"] == "<b>hi</b> & <img src=x onerror=alert(1)>"


async def test_a_repeated_client_id_is_stored_once(server, clients):
    client = await clients(server, ALICE)
    await client.wait_for("conversation")
    client_id = str(uuid.uuid4())
    first = await client.send("hello", client_id)
    await client.bot_reply(first["seq"])
    again = await client.send("hello", client_id)
    assert again == first
    await asyncio.sleep(0.2)
    assert len(client.received("message", lambda m: m["sender"]["type"] == "bot")) == 1
    reloaded = await clients(server, ALICE)
    history = (await reloaded.wait_for("conversation"))["messages"]
    assert [m["text"] for m in history].count("hello") == 1


async def test_concurrent_retries_of_one_client_id_store_one_message(server, clients):
    client = await clients(server, ALICE)
    client_id = str(uuid.uuid4())
    acks = await asyncio.gather(
        *(client.call("message", {"client_id": client_id, "text": "where is my order"}) for _ in range(5))
    )
    assert len({ack["message"]["id"] for ack in acks}) == 1


async def test_a_reload_continues_the_conversation_with_its_history(server, clients):
    first = await clients(server, ALICE)
    sent = await first.send("hi")
    reply = await first.bot_reply(sent["seq"])
    await first.close()
    second = await clients(server, ALICE)
    conversation = await second.wait_for("conversation")
    assert [m["id"] for m in conversation["messages"]] == [sent["id"], reply["id"]]
    assert [m["seq"] for m in conversation["messages"]] == [1, 2]


async def test_last_seq_replays_only_the_missed_messages(server, clients):
    client = await clients(server, ALICE)
    for text in ("hi", "thanks", "bye"):
        sent = await client.send(text)
        await client.bot_reply(sent["seq"])
    later = await clients(server, ALICE, auth={"last_seq": 2})
    conversation = await later.wait_for("conversation")
    assert [m["seq"] for m in conversation["messages"]] == [3, 4, 5, 6]


async def test_every_tab_of_the_customer_sees_the_conversation(server, clients):
    tab1 = await clients(server, ALICE)
    tab2 = await clients(server, ALICE)
    await tab1.wait_for("conversation")
    conversation = await tab2.wait_for("conversation")
    sent = await tab1.send("what payment methods do you accept")
    mirrored = await tab2.wait_for("message", lambda m: m["id"] == sent["id"])
    assert mirrored["conversation_id"] == conversation["id"]
    reply1 = await tab1.bot_reply(sent["seq"])
    reply2 = await tab2.bot_reply(sent["seq"])
    assert reply1 == reply2
    # the sender's own tab gets its message in the ack, not twice
    assert not tab1.received("message", lambda m: m["id"] == sent["id"])


async def test_customers_never_see_each_others_conversations(server, clients):
    alice = await clients(server, ALICE)
    bob = await clients(server, BOB)
    a = await alice.wait_for("conversation")
    b = await bob.wait_for("conversation")
    assert a["id"] != b["id"]
    sent = await alice.send("my secret address is 1 Main St")
    await alice.bot_reply(sent["seq"])
    await asyncio.sleep(0.2)
    assert not bob.received("message")


async def test_typing_is_relayed_to_the_other_tabs_with_its_sender(server, clients):
    tab1 = await clients(server, ALICE)
    tab2 = await clients(server, ALICE)
    assert (await tab1.call("typing", {"on": True})) == {"ok": True}
    relayed = await tab2.wait_for("typing")
    assert relayed["on"] is True and relayed["sender"] == {"type": "customer", "name": "Alice Chen"}
    assert not tab1.received("typing")


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "hello",
        42,
        [],
        {},
        {"text": "hi"},
        {"client_id": "x"},
        {"client_id": "x", "text": ""},
        {"client_id": "x", "text": "    "},
        {"client_id": "x", "text": "a" * 4001},
        {"client_id": "x" * 65, "text": "hi"},
        {"client_id": 7, "text": "hi"},
        {"client_id": "x", "text": ["hi"]},
        {"client_id": "x", "text": {"$": 1}},
    ],
)
async def test_bad_payloads_get_invalid_payload_and_the_connection_lives_on(server, clients, payload):
    client = await clients(server, ALICE)
    ack = await client.call("message", payload)
    assert ack["ok"] is False and ack["error"] == "invalid_payload" and ack["detail"]
    sent = await client.send("hi")
    assert sent["seq"] == 1  # nothing was stored for the bad payload


async def test_bad_typing_payload_is_refused(server, clients):
    client = await clients(server, ALICE)
    ack = await client.call("typing", {"on": "yes"})
    assert ack["ok"] is False and ack["error"] == "invalid_payload"


async def test_text_of_exactly_4000_characters_is_accepted(server, clients):
    client = await clients(server, ALICE)
    sent = await client.send("a" * 4000)
    assert len(sent["text"]) == 4000


async def test_unknown_text_gets_the_fallback_offering_topics_and_a_person(server, clients):
    client = await clients(server, ALICE)
    reply = await client.ask("what's the weather like on mars")
    assert reply["intent"] is None
    assert "person" in reply["text"]
    assert "Talk to a person" in reply["quick_replies"]


async def test_told_it_got_it_wrong_the_bot_says_so_and_a_second_miss_brings_a_person(server, clients):
    client = await clients(server, ALICE)
    await client.ask("my card was charged twice")
    repair = await client.ask("thats not what i asked")
    assert repair["intent"] is None and "got that wrong" in repair["text"]
    assert "Talk to a person" in repair["quick_replies"]
    again = await client.ask("what's the weather like on mars")
    assert "get you a person" in again["text"]
    assert (await client.wait_for("handoff"))["state"] in ("queued", "offline")


async def test_merchants_chat_too(server, clients):
    client = await clients(server, SUNNY)
    reply = await client.ask("how do I set up my store")
    assert reply["intent"] == "store_setup"


async def test_metrics_count_messages_replies_and_fallbacks(server, clients):
    client = await clients(server, ALICE)
    await client.ask("hi there")
    await client.ask("what's the weather like on mars")
    async with aiohttp.ClientSession() as s:
        async with s.get(server.url + "/metrics") as r:
            text = await r.text()
    assert 'chatbot_messages_total{brand="cltiktok",sender="customer"} 2.0' in text
    assert 'chatbot_bot_replies_total{brand="cltiktok",intent="greet"} 1.0' in text
    assert 'chatbot_bot_replies_total{brand="cltiktok",intent="none"} 1.0' in text


async def test_stopping_the_server_closes_open_widgets_and_consoles_instead_of_waiting_for_them(tmp_path):
    # aiohttp's own grace is raised well above the bound, so only closing the sockets passes
    srv = await start_server(make_settings(tmp_path, shutdown_seconds=60))
    open_sockets = []
    for creds, namespace, transports in (
        (ALICE, "/chat", ("websocket",)),
        (BOB, "/chat", ("polling",)),
        (DANA, "/agent", ("websocket",)),
    ):
        client = ChatClient(srv.url, namespace)
        await client.connect({"token": await srv.login(creds)}, transports=transports)
        open_sockets.append(client)
    # Before sockets were closed on shutdown, aiohttp waited for each WebSocket
    # handler until python-engineio's ping timeout ended it: 45 s.
    await asyncio.wait_for(srv.runner.cleanup(), timeout=15)
    for client in open_sockets:
        assert not client.sio.connected
