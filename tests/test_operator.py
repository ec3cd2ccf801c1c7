"""The operators' HTTP API: every route, its role checks, and what an edit
does to the files, the versions and the live matcher. Runs on a copy of the
intent files, since saving writes them."""

from __future__ import annotations

import shutil

import aiohttp
import pytest
from ruamel.yaml import YAML

from chatbot.auth import hash_password
from chatbot.settings import REPO_ROOT
from chatbot.web import openapi
from chatbot.web.keys import KNOWLEDGE, STORE
from helpers import ALICE, BOB, DANA, OLGA, OMAR, ChatClient, make_settings, start_server

OPERATOR_ROUTES = [(m, p) for (m, p), (_, who, _) in openapi.ROUTES.items() if who == openapi.OPERATOR]


@pytest.fixture
async def server(tmp_path):
    intents = tmp_path / "intents"
    shutil.copytree(REPO_ROOT / "intents", intents)
    srv = await start_server(make_settings(tmp_path, intents_dir=intents))
    srv.intents = intents
    yield srv
    await srv.runner.cleanup()


async def call(server, method: str, path: str, token: str | None, body=None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as s:
        async with s.request(method, server.url + path, json=body, headers=headers) as r:
            return r.status, await r.json(content_type=None)


def concrete(path: str, brand: str = "cltiktok") -> str:
    path = path.replace("{name}", "order_status")
    return path + (
        f"?brand={brand}"
        if path.startswith("/api/operator") and path != "/api/operator/try" and not path.endswith("/resolve")
        else ""
    )


@pytest.mark.parametrize("method,path", OPERATOR_ROUTES)
async def test_every_operator_route_refuses_everyone_but_the_brands_operators(server, method, path):
    body = {"brand": "cltiktok", "text": "hi", "set": "dev", "action": "dismiss", "version": 1}
    for creds, expected in ((ALICE, 403), (DANA, 403), (OMAR, 403)):
        status, answer = await call(server, method, concrete(path), await server.login(creds), body)
        assert status == expected, (creds["email"], method, path, answer)
        assert answer["error"] == "forbidden"
    status, _ = await call(server, method, concrete(path), None, body)
    assert status == 401


async def test_the_openapi_description_covers_every_api_route(server):
    status, spec = await call(server, "GET", "/api/openapi.json", None)
    assert status == 200 and spec["openapi"].startswith("3.")
    routes = {
        (r.method, r.resource.canonical)
        for r in server.app.router.routes()
        if r.resource and r.resource.canonical.startswith("/api/") and r.method != "HEAD"
    }
    described = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert routes == described
    assert (
        "examples"
        in spec["paths"]["/api/operator/intents/{name}"]["put"]["requestBody"]["content"]["application/json"]["schema"][
            "properties"
        ]
    )


async def test_list_and_read_intents(server):
    token = await server.login(OLGA)
    status, body = await call(server, "GET", "/api/operator/intents?brand=cltiktok", token)
    assert status == 200
    by_name = {i["name"]: i for i in body["intents"]}
    assert by_name["order_status"]["examples"] > 10 and by_name["order_status"]["policy_section"] == "1.1"
    status, intent = await call(server, "GET", "/api/operator/intents/order_status?brand=cltiktok", token)
    assert status == 200 and intent["answer"] and intent["versions"] == []
    assert (await call(server, "GET", "/api/operator/intents/nope?brand=cltiktok", token))[0] == 404
    assert (await call(server, "GET", "/api/operator/intents/..%2Fbrand?brand=cltiktok", token))[0] in (400, 404)


async def test_an_edit_keeps_comments_and_order_is_versioned_and_reloads_the_matcher(server):
    token = await server.login(OLGA)
    path = server.intents / "cltiktok" / "intents" / "feedback.yaml"
    before = path.read_text()
    first_line = before.splitlines()[0]
    _, intent = await call(server, "GET", "/api/operator/intents/feedback?brand=cltiktok", token)
    probe = "the zorbly widget colour palette is ugly, redo it"
    status, result = await call(
        server,
        "PUT",
        "/api/operator/intents/feedback?brand=cltiktok",
        token,
        {"examples": intent["examples"] + [probe], "note": "new example"},
    )
    assert status == 200, result
    assert result["version"] == 2 and "accuracy_after" in result
    after = path.read_text()
    assert after.splitlines()[0] == first_line  # the comment is kept
    keys = [k for k in YAML(typ="rt").load(after)]
    assert keys == [k for k in YAML(typ="rt").load(before)]  # so is the key order
    assert probe in after
    assert server.app[KNOWLEDGE].brand("cltiktok").intents["feedback"].examples[-1] == probe
    _, versions = await call(server, "GET", "/api/operator/intents/feedback/versions?brand=cltiktok", token)
    assert [(v["version"], v["author_name"]) for v in versions["versions"]] == [(2, "Olga"), (1, "intent files")]
    status, _ = await call(
        server, "POST", "/api/operator/intents/feedback/rollback?brand=cltiktok", token, {"version": 1}
    )
    assert status == 200 and path.read_text() == before


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"examples": ["ORDER_CANCEL_EXAMPLE"]}, "also an example of order_cancel"),
        ({"policy_section": "9.9"}, "not a section"),
        ({"answer": "   "}, "answer cannot be empty"),
        ({"action": "launch_rockets"}, "unknown action"),
        ({"examples": "not a list"}, "invalid_payload"),
    ],
)
async def test_saving_checks_like_intents_check(server, changes, message):
    token = await server.login(OLGA)
    path = server.intents / "cltiktok" / "intents" / "feedback.yaml"
    before = path.read_text()
    if changes.get("examples") == ["ORDER_CANCEL_EXAMPLE"]:
        changes = {"examples": [server.app[KNOWLEDGE].brand("cltiktok").intents["order_cancel"].examples[0]]}
    status, body = await call(server, "PUT", "/api/operator/intents/feedback?brand=cltiktok", token, changes)
    assert status == 400 and message in body["detail"] + body["error"]
    assert path.read_text() == before


async def test_checking_an_edit_shows_what_it_would_do_and_saves_nothing(server):
    token = await server.login(OLGA)
    path = server.intents / "cltiktok" / "intents" / "order_status.yaml"
    before = path.read_text()
    live = server.app[KNOWLEDGE].matcher("cltiktok")
    _, intent = await call(server, "GET", "/api/operator/intents/order_status?brand=cltiktok", token)
    status, check = await call(
        server,
        "POST",
        "/api/operator/intents/order_status/check?brand=cltiktok",
        token,
        {"examples": intent["examples"][:2]},
    )
    assert status == 200, check
    assert check["errors"] == [] and check["accuracy_lowered"]
    assert check["accuracy_after"] < check["accuracy_before"]
    assert check["moved"], "stripping order_status of its examples moves some of its labelled messages"
    for moved in check["moved"]:
        assert moved["before"] != moved["after"] and moved["text"]
        assert server.app[KNOWLEDGE].parse("cltiktok", moved["text"]).intent in (moved["before"], None)
    assert any(m["intent"] == "order_status" and m["before"] == "order_status" for m in check["moved"])
    # nothing saved: the file, the versions and the live matcher are as they were
    assert path.read_text() == before
    assert (await call(server, "GET", "/api/operator/intents/order_status/versions?brand=cltiktok", token))[1][
        "versions"
    ] == []
    assert server.app[KNOWLEDGE].matcher("cltiktok") is live

    # an edit the save would refuse is reported, not refused
    shared = server.app[KNOWLEDGE].brand("cltiktok").intents["order_cancel"].examples[0]
    status, check = await call(
        server,
        "POST",
        "/api/operator/intents/order_status/check?brand=cltiktok",
        token,
        {"examples": intent["examples"] + [shared]},
    )
    assert status == 200 and any("also an example of order_cancel" in e for e in check["errors"])
    assert path.read_text() == before
    status, _ = await call(server, "POST", "/api/operator/intents/nope/check?brand=cltiktok", token, {})
    assert status == 404


async def test_create_retire_and_restore_an_intent(server):
    token = await server.login(OLGA)
    new = {
        "name": "gift_cards",
        "examples": [
            "do you sell gift cards",
            "can i buy a gift card",
            "gift card for my friend",
            "is there a gift voucher",
            "how do gift cards work",
        ],
        "answer": "We don't sell gift cards at the moment.",
        "policy_section": "5",
    }
    status, result = await call(server, "POST", "/api/operator/intents?brand=cltiktok", token, new)
    assert status == 201, result
    assert server.app[KNOWLEDGE].parse("cltiktok", "do you sell gift cards?").intent == "gift_cards"
    assert (await call(server, "POST", "/api/operator/intents?brand=cltiktok", token, new))[0] == 409
    status, _ = await call(server, "DELETE", "/api/operator/intents/gift_cards?brand=cltiktok", token)
    assert status == 200
    assert "gift_cards" not in server.app[KNOWLEDGE].brand("cltiktok").intents
    _, listing = await call(server, "GET", "/api/operator/intents?brand=cltiktok", token)
    assert "gift_cards" in listing["retired"]
    status, _ = await call(
        server, "POST", "/api/operator/intents/gift_cards/rollback?brand=cltiktok", token, {"version": 1}
    )
    assert status == 200 and "gift_cards" in server.app[KNOWLEDGE].brand("cltiktok").intents


async def test_try_it_shows_ranking_entities_and_the_answer(server):
    token = await server.login(OLGA)
    status, body = await call(
        server,
        "POST",
        "/api/operator/try",
        token,
        {"brand": "cltiktok", "text": "what's your phone number? order ct 100234"},
    )
    assert status == 200
    assert body["intent"]["name"] == "contact_channels" and len(body["intent_ranking"]) > 1
    assert body["entities"][0] == {"entity": "order_number", "value": "CT-100234", "start": 32, "end": 41}
    assert "+1 443 418 2795" in body["answer"]["text"] and "section 2" in body["answer"]["citation"]


async def test_a_missed_message_becomes_an_example_from_the_inbox(server):
    alice, bob = ChatClient(server.url), ChatClient(server.url)
    await alice.connect({"token": await server.login(ALICE)})
    await bob.connect({"token": await server.login(BOB)})
    miss = "do u guys do blorptastic wrapping"
    await alice.ask(miss)
    await bob.ask("do you guys do blorptastic wrapping?")
    await alice.close()
    await bob.close()
    token = await server.login(OLGA)
    _, inbox = await call(server, "GET", "/api/operator/misses?brand=cltiktok", token)
    group = next(g for g in inbox["groups"] if "blorptastic" in g["text"])
    assert group["count"] == 2 and group["customers"] == 2 and group["reasons"]["fallback"] == 2
    status, result = await call(
        server,
        "POST",
        "/api/operator/misses/resolve",
        token,
        {
            "brand": "cltiktok",
            "text": miss,
            "keys": group["keys"],
            "action": "example",
            "intent": "merchant_fulfillment",
        },
    )
    assert status == 200 and result["version"] >= 2
    _, tried = await call(server, "POST", "/api/operator/try", token, {"brand": "cltiktok", "text": miss})
    assert tried["intent_ranking"][0]["name"] == "merchant_fulfillment"
    _, inbox = await call(server, "GET", "/api/operator/misses?brand=cltiktok", token)
    assert not [g for g in inbox["groups"] if "blorptastic" in g["text"]]


async def test_evaluation_runs_compare_with_the_previous_and_feed_live_accuracy(server):
    token = await server.login(OLGA)
    _, sets = await call(server, "GET", "/api/operator/eval?brand=cltiktok", token)
    assert "dev" in sets["sets"]
    status, first = await call(server, "POST", "/api/operator/eval", token, {"brand": "cltiktok", "set": "dev"})
    assert status == 200 and first["accuracy"] > 0.8 and first["previous"] is None
    assert first["baseline"]["accuracy"] < first["accuracy"]
    assert "order_status" in first["per_intent"]
    # beside the set: the brand's own examples read out of fold, and how honest the confidence is
    cv = first["cross_validated"]
    assert cv["items"] > 1000 and 0.5 < cv["accuracy"] < 1 and 0.5 < cv["oos_rejection"] < 1
    assert cv["calibration_error"] < 0.1 and sum(b["count"] for b in cv["reliability"]) == cv["items"]
    assert first["reliability"] and 0 <= first["calibration_error"] <= 1
    _, second = await call(server, "POST", "/api/operator/eval", token, {"brand": "cltiktok", "set": "dev"})
    assert second["previous"]["accuracy"] == first["accuracy"]
    _, listing = await call(server, "GET", "/api/operator/intents?brand=cltiktok", token)
    assert next(i for i in listing["intents"] if i["name"] == "order_status")["accuracy"]["support"] > 0
    assert (await call(server, "POST", "/api/operator/eval", token, {"brand": "cltiktok", "set": "nope"}))[0] == 404


async def test_analytics_per_day(server):
    alice = ChatClient(server.url)
    await alice.connect({"token": await server.login(ALICE)})
    await alice.ask("hello")
    await alice.ask("flibber jabber wocky")
    await alice.close()
    status, body = await call(server, "GET", "/api/operator/analytics?brand=cltiktok&days=7", await server.login(OLGA))
    assert status == 200 and len(body["days"]) == 7
    today = body["days"][-1]
    assert today["conversations"] == 1 and today["containment"] == 1.0 and today["fallback_rate"] == 0.5
    assert {"intent": "greet", "replies": 1} in body["top_intents"]


async def test_a_policy_change_lists_the_intents_to_review(server):
    token = await server.login(OLGA)
    _, policy = await call(server, "GET", "/api/operator/policy?brand=cltiktok", token)
    changed = policy["text"].replace(
        "We will reply to your email within 24 hours", "We will reply to your email within 48 hours"
    )
    status, body = await call(server, "PUT", "/api/operator/policy?brand=cltiktok", token, {"text": changed})
    assert status == 200 and body["changed_sections"] == ["3"]
    assert "response_times" in body["intents_to_review"] and "order_status" not in body["intents_to_review"]
    assert "48 hours" in server.app[KNOWLEDGE].brand("cltiktok").policy_text


async def test_a_policy_change_lists_the_replies_and_record_answers_citing_it(server):
    token = await server.login(OLGA)
    _, policy = await call(server, "GET", "/api/operator/policy?brand=cltiktok", token)
    changed = policy["text"].replace("- Order status inquiry", "- Order status and history inquiry")
    status, body = await call(server, "PUT", "/api/operator/policy?brand=cltiktok", token, {"text": changed})
    assert status == 200 and body["changed_sections"] == ["1.1"]
    # templates of replies.yaml resting on 1.1, and none resting elsewhere
    assert {"order.return_offer", "order.cancel_offer", "order.change_recorded"} <= set(body["replies_to_review"])
    assert not {"order.payment_through", "handoff.breach_offer", "refund.summary"} & set(body["replies_to_review"])
    # the record answers brand.yaml cites 1.1 for
    assert body["record_answers_to_review"] == [
        "delivery_tracking",
        "order_cancel",
        "order_modify",
        "order_status",
        "return_request",
    ]
    _, body = await call(
        server,
        "PUT",
        "/api/operator/policy?brand=cltiktok",
        token,
        {"text": changed.replace("within 24 hours", "within 48 hours")},
    )
    assert body["changed_sections"] == ["3"]
    assert {"handoff.leave_message", "handoff.ticket_opened", "handoff.breach_offer"} <= set(body["replies_to_review"])
    assert body["record_answers_to_review"] == []


async def test_the_policy_history_keeps_each_replaced_text_for_its_brand_only(server):
    olga, omar = await server.login(OLGA), await server.login(OMAR)
    _, policy = await call(server, "GET", "/api/operator/policy?brand=cltiktok", olga)
    original = policy["text"]
    edited = original.replace("within 24 hours", "within 36 hours")
    assert (await call(server, "PUT", "/api/operator/policy?brand=cltiktok", olga, {"text": edited}))[0] == 200
    assert (await call(server, "PUT", "/api/operator/policy?brand=cltiktok", olga, {"text": original}))[0] == 200
    status, body = await call(server, "GET", "/api/operator/policy/versions?brand=cltiktok", olga)
    assert status == 200
    newest, before = body["versions"][:2]
    assert newest["text"] == edited and before["text"] == original  # what each save replaced
    assert newest["replaced_by"] == "Olga" and newest["id"] > before["id"] and newest["replaced_at"]
    # another brand's operator sees neither this history nor that brand's text in their own
    status, _ = await call(server, "GET", "/api/operator/policy/versions?brand=cltiktok", omar)
    assert status == 403
    _, theirs = await call(server, "GET", "/api/operator/policy/versions?brand=ttr-e", omar)
    assert all("within 36 hours" not in v["text"] for v in theirs["versions"])


async def second_operator(server) -> str:
    """Oscar, a second operator of cltiktok, logged in."""
    await server.app[STORE].create_user(
        {
            "brand": "cltiktok",
            "email": "oscar@cltiktok.example",
            "name": "Oscar",
            "role": "operator",
            "password_hash": hash_password("oscar-test-pass"),
            "created_at": "2026-01-01T00:00:00Z",
        }
    )
    return await server.login({"brand": "cltiktok", "email": "oscar@cltiktok.example", "password": "oscar-test-pass"})


async def test_an_edit_on_a_version_someone_replaced_is_refused_naming_them(server):
    """Two operators open one intent; Oscar saves first. Olga's save, made on
    the version she loaded, is refused with 409 naming Oscar's version, and
    nothing of hers is written; reloaded, she saves on his. Without
    base_version (old clients, scripts) a save is taken as before."""
    olga, oscar = await server.login(OLGA), await second_operator(server)
    url = "/api/operator/intents/feedback?brand=cltiktok"
    _, loaded = await call(server, "GET", url, olga)
    assert loaded["version"] == 0 and loaded["versions"] == []
    his = loaded["examples"] + ["the zorbly page is confusing"]
    status, saved = await call(server, "PUT", url, oscar, {"examples": his, "base_version": loaded["version"]})
    assert status == 200 and saved["version"] == 2  # version 1 is the file as found
    hers = loaded["examples"] + ["the quixle checkout is slow"]
    status, refused = await call(server, "PUT", url, olga, {"examples": hers, "base_version": loaded["version"]})
    assert status == 409 and refused["error"] == "stale_version"
    assert "version 2 by Oscar" in refused["detail"] and "based on version 0" in refused["detail"]
    path = server.intents / "cltiktok" / "intents" / "feedback.yaml"
    assert "zorbly" in path.read_text() and "quixle" not in path.read_text()
    _, reloaded = await call(server, "GET", url, olga)
    assert reloaded["version"] == 2 and "the zorbly page is confusing" in reloaded["examples"]
    status, saved = await call(
        server,
        "PUT",
        url,
        olga,
        {"examples": reloaded["examples"] + ["the quixle checkout is slow"], "base_version": 2},
    )
    assert status == 200 and saved["version"] == 3
    assert "zorbly" in path.read_text() and "quixle" in path.read_text()  # neither edit lost
    # a rollback, a retirement and an example from the inbox on a stale base are refused the same way
    status, body = await call(server, "POST", url.replace("?", "/rollback?"), oscar, {"version": 1, "base_version": 2})
    assert status == 409 and "version 3 by Olga" in body["detail"]
    status, body = await call(server, "DELETE", url + "&base_version=2", oscar)
    assert status == 409 and "version 3 by Olga" in body["detail"]
    miss = {"brand": "cltiktok", "text": "the blorp", "action": "example", "intent": "feedback", "base_version": 2}
    assert (await call(server, "POST", "/api/operator/misses/resolve", oscar, miss))[0] == 409
    assert [v["version"] for v in (await call(server, "GET", url, olga))[1]["versions"]] == [3, 2, 1]
    # no base_version: saved whatever came before
    status, saved = await call(server, "PUT", url, oscar, {"answer": "Thanks, we read every message."})
    assert status == 200 and saved["version"] == 4


async def test_a_policy_save_on_a_version_someone_replaced_is_refused_naming_them(server):
    olga, oscar = await server.login(OLGA), await second_operator(server)
    url = "/api/operator/policy?brand=cltiktok"
    _, loaded = await call(server, "GET", url, olga)
    assert loaded["version"] == 0
    his = loaded["text"].replace("within 24 hours", "within 36 hours")
    status, saved = await call(server, "PUT", url, oscar, {"text": his, "base_version": 0})
    assert status == 200 and saved["version"] > 0
    hers = loaded["text"].replace("within 24 hours", "within 48 hours")
    status, refused = await call(server, "PUT", url, olga, {"text": hers, "base_version": 0})
    assert status == 409 and refused["error"] == "stale_version"
    assert f"version {saved['version']} by Oscar" in refused["detail"]
    assert "36 hours" in server.app[KNOWLEDGE].brand("cltiktok").policy_text
    _, reloaded = await call(server, "GET", url, olga)
    assert reloaded["version"] == saved["version"] and "36 hours" in reloaded["text"]
    status, _ = await call(server, "PUT", url, olga, {"text": hers, "base_version": reloaded["version"]})
    assert status == 200 and "48 hours" in server.app[KNOWLEDGE].brand("cltiktok").policy_text
