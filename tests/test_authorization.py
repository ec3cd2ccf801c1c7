"""The authorisation matrix: every HTTP route and every event, for four roles,
two customers of one brand and two brands. Nothing of another customer,
conversation or brand is returned or changed."""

from __future__ import annotations

import json

import aiohttp
import pytest
import socketio

from chatbot import access
from chatbot.errors import AccessDenied, NotFound, NotVisible
from chatbot.web import openapi
from chatbot.web.keys import AUTH, DESK, KNOWLEDGE, STORE
from helpers import ALICE, BOB, CAROL, DANA, ELI, OLGA, OMAR, SUNNY, TOM, ChatClient

PEOPLE = {
    "alice": ALICE,
    "bob": BOB,
    "sunny": SUNNY,
    "dana": DANA,
    "olga": OLGA,
    "carol": CAROL,
    "tom": TOM,
    "omar": OMAR,
}
ROLE = {
    "alice": "customer",
    "bob": "customer",
    "sunny": "merchant",
    "dana": "agent",
    "olga": "operator",
    "carol": "customer",
    "tom": "agent",
    "omar": "operator",
}
BRAND = {name: creds["brand"] for name, creds in PEOPLE.items()}


def allowed(who: str, route_who: str, path: str) -> bool:
    """Who may call a route, as the OpenAPI description states it (routes name cltiktok)."""
    role, brand = ROLE[who], BRAND[who]
    if path == "/api/parse":  # staff of the brand the body names
        return role in ("agent", "operator") and brand == "cltiktok"
    return {
        openapi.ANYONE: True,
        openapi.SESSION: True,
        openapi.STAFF: role in ("agent", "operator"),
        "customer or merchant": role in ("customer", "merchant"),
        openapi.OPERATOR: role == "operator" and brand == "cltiktok",
        "operator or supervising agent": role == "operator" and brand == "cltiktok",
    }[route_who]


SKIP = {
    ("POST", "/api/logout"),
    ("POST", "/api/password"),
    ("POST", "/api/login"),
    ("POST", "/api/login/embed"),
    ("PUT", "/api/operator/intents/{name}"),
    ("POST", "/api/operator/intents"),
    ("DELETE", "/api/operator/intents/{name}"),
    ("POST", "/api/operator/intents/{name}/rollback"),
    ("PUT", "/api/operator/policy"),
    ("POST", "/api/attachments"),
}  # covered where they change things
POSTS_WITH_BRAND_QUERY = {"/api/operator/reload", "/api/operator/intents/{name}/check"}
BODY = {"brand": "cltiktok", "text": "hello", "set": "dev", "action": "dismiss"}
BODIES = {("POST", "/api/operator/intents/{name}/check"): {"answer": "Your orders are under My Orders."}}


async def test_every_http_route_for_every_role(server):
    tokens = {name: await server.login(creds) for name, creds in PEOPLE.items()}
    wrong = []
    async with aiohttp.ClientSession() as s:
        for (method, path), (_, route_who, _) in openapi.ROUTES.items():
            if (method, path) in SKIP:
                continue
            url = server.url + path.replace("{name}", "order_status")
            if path in openapi.BRAND_QUERY and (method != "POST" or path in POSTS_WITH_BRAND_QUERY):
                url += "?brand=cltiktok"
            body = BODIES.get((method, path), BODY)
            for who, token in tokens.items():
                async with s.request(method, url, json=body, headers={"Authorization": f"Bearer {token}"}) as r:
                    ok = r.status < 400
                    text = await r.text()
                if ok != allowed(who, route_who, path):
                    wrong.append(f"{method} {path} as {who}: {r.status}")
                if ok and BRAND[who] == "ttr-e":
                    assert "Alice" not in text and "CT-100" not in text, (path, who)
    assert wrong == []


async def test_staff_lists_hold_only_their_brand(server, clients):
    alice = await clients(server, ALICE)
    await alice.ask("I have a dispute with a seller")
    await alice.ask("CT-100236")
    await alice.ask("it arrived broken")
    await alice.ask("skip")
    for path in ("/api/cases", "/api/tickets"):
        status, body = await server.get(path, await server.login(TOM))
        assert status == 200 and json.dumps(body).count("cltiktok") == 0
    status, body = await server.get("/api/cases", await server.login(DANA))
    assert body["cases"] and all(c["brand"] == "cltiktok" for c in body["cases"])


async def test_every_agent_event_with_another_brands_or_another_agents_conversation(server, clients):
    server.app[KNOWLEDGE].brand("cltiktok").settings.service_levels.agent_chat_cap = 1
    dana = await clients(server, DANA, namespace="/agent")
    await dana.wait_for("queue")
    alice = await clients(server, ALICE)
    await alice.send("I want to talk to a real person")
    held = (await dana.wait_for("assigned"))["conversation"]["id"]
    tom = await clients(server, TOM, namespace="/agent")
    await tom.wait_for("queue")
    dana_id = next(u["id"] for u in await server.app[STORE].users_of_brand("cltiktok", "agent") if u["name"] == "Dana")
    for event, payload in [
        ("accept", {}),
        ("message", {"client_id": "x", "text": "hi"}),
        ("resolve", {}),
        ("release", {}),
        ("handback", {}),
        ("transfer", {"agent_id": dana_id}),
        ("note", {"text": "peek"}),
        ("typing", {"on": True}),
    ]:
        ack = await tom.call(event, {"conversation_id": held, **payload})
        assert ack["ok"] is False and ack["error"] in ("not_found", "forbidden", "agent_not_available"), (event, ack)
    assert not tom.received("message") and not tom.received("assigned")
    assert all(not q["items"] for q in tom.received("queue"))
    view = await server.app[DESK].conversation_view(held)
    assert view["state"] == "agent" and not [m for m in view["messages"] if "peek" in m["text"]]


async def test_customers_cannot_reach_other_conversations_by_any_field(server, clients):
    alice = await clients(server, ALICE)
    bob = await clients(server, BOB)
    a = await alice.wait_for("conversation")
    b = await bob.wait_for("conversation")
    # extra id fields are ignored: a message always lands in the sender's own conversation
    ack = await bob.call("message", {"client_id": "c1", "text": "hello", "conversation_id": a["id"]})
    assert ack["ok"] and ack["message"]["conversation_id"] == b["id"]
    # reconnecting with a huge last_seq shows nothing of anyone else
    late = await clients(server, BOB, auth={"last_seq": 0})
    replay = await late.wait_for("conversation")
    assert replay["id"] == b["id"] and all(m["conversation_id"] == b["id"] for m in replay["messages"])
    await alice.ask("where is my order CT-100235")
    assert not [m for m in bob.events if "CT-100235" in json.dumps(m)]
    # records by number: someone else's is "not found"
    reply = await bob.ask("status of CT-100235")
    assert "couldn't find" in reply["text"] and "phone case" not in reply["text"]
    carol = await clients(server, CAROL)
    other_brand = await carol.ask("status of order CT-100235")
    assert "phone case" not in other_brand["text"]


@pytest.mark.parametrize("who", ["dana", "olga", "tom"])
async def test_staff_cannot_use_the_customer_namespace(server, who):
    client = ChatClient(server.url)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect({"token": await server.login(PEOPLE[who])})
    assert client.connect_error == {"message": "unauthorized"}


# -- chatbot/access.py: the one way objects are fetched for a user -----------------------------


async def users_of(server, *names: str):
    people = {**PEOPLE, "eli": ELI}
    return [await server.app[AUTH].user_for_token(await server.login(people[name])) for name in names]


async def test_a_customer_fetches_only_their_own_conversation_and_records(server, clients):
    alice, bob, dana, tom = await users_of(server, "alice", "bob", "dana", "tom")
    conversation = await (await clients(server, ALICE)).wait_for("conversation")
    store = server.app[STORE]
    assert (await access.access_conversation(store, alice, conversation["id"]))["user_id"] == alice.id
    assert (await access.access_conversation(store, dana, conversation["id"]))["id"] == conversation["id"]
    for who in (bob, tom):  # another customer, an agent of another brand: as if it did not exist
        with pytest.raises(NotVisible) as refused:
            await access.access_conversation(store, who, conversation["id"])
        assert isinstance(refused.value, NotFound) and refused.value.code == "not_found"
    with pytest.raises(NotVisible):
        await access.access_conversation(store, alice, 10**9)
    assert (await access.access_record(store, alice, "order", "CT-100235"))["user_id"] == alice.id
    for who in (bob, dana, tom):  # records are the customer's own; staff see them in a conversation's view
        with pytest.raises(NotVisible):
            await access.access_record(store, who, "order", "CT-100235")


async def test_an_agent_reaches_only_their_brands_handoffs_and_only_held_ones_to_act(server, clients):
    dana_user, tom_user, eli_user = await users_of(server, "dana", "tom", "eli")
    dana = await clients(server, DANA, namespace="/agent")
    await dana.wait_for("queue")
    alice = await clients(server, ALICE)
    await alice.send("I want to talk to a real person")
    held = (await dana.wait_for("assigned"))["conversation"]["id"]
    store = server.app[STORE]
    assert (await access.access_held_handoff(store, dana_user, held))["assigned_agent_id"] == dana_user.id
    with pytest.raises(NotVisible):
        await access.access_live_handoff(store, tom_user, held)
    with pytest.raises(AccessDenied):
        await access.access_held_handoff(store, eli_user, held)
    # over the wire, the same typed errors are the acks of the boundary (web/boundary.py)
    tom = await clients(server, TOM, namespace="/agent")
    await tom.wait_for("queue")
    assert await tom.call("accept", {"conversation_id": held}) == {
        "ok": False,
        "error": "not_found",
        "detail": "no such conversation waiting",
    }
    eli = await clients(server, ELI, namespace="/agent")
    await eli.wait_for("queue")
    assert await eli.call("note", {"conversation_id": held, "text": "peek"}) == {
        "ok": False,
        "error": "forbidden",
        "detail": "you don't hold this conversation",
    }


async def test_operator_only_routes_refuse_agents_and_other_brands_with_the_typed_error(server):
    olga, dana, omar, alice = await users_of(server, "olga", "dana", "omar", "alice")
    assert access.access_operator(olga, "cltiktok") is olga
    for who in (dana, omar, alice):
        with pytest.raises(AccessDenied):
            access.access_operator(who, "cltiktok")
    tokens = {name: await server.login(PEOPLE[name]) for name in ("dana", "tom", "omar")}
    for name, token in tokens.items():
        for path in (
            "/api/operator/intents?brand=cltiktok",
            "/api/operator/analytics?brand=cltiktok",
            "/api/supervisor?brand=cltiktok",
        ):
            status, body = await server.get(path, token)
            assert (status, body["error"]) == (403, "forbidden"), (name, path, body)
