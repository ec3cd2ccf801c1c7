"""The bot acts on the customer's own records: real conversations through
socketio.AsyncClient against the real server and the demo data."""

from __future__ import annotations

import io
import json
import re
import shutil
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from ruamel.yaml import YAML

from chatbot.clock import isoformat
from chatbot.settings import REPO_ROOT
from chatbot.web.keys import STORE
from helpers import ALICE, BOB, CAROL, DANA, SUNNY, make_settings, start_server


async def status_of(server, number: str) -> str:
    rows = await server.app[STORE].table_rows("orders")
    return next(r["status"] for r in rows if r["number"] == number)


async def add_mug_delivered_3_days_ago(store, now) -> None:
    """Alice's CT-100240, a mug delivered three days ago: inside the return window."""
    await store.insert_rows(
        "orders",
        [
            {
                "number": "CT-100240",
                "brand": "cltiktok",
                "user_id": 1,
                "status": "delivered",
                "items": json.dumps([{"name": "mug", "quantity": 1}]),
                "total_cents": 1200,
                "currency": "USD",
                "created_at": isoformat(now),
                "updated_at": isoformat(now),
                "notes": "",
            }
        ],
    )
    await store.insert_rows(
        "shipments", [{"order_number": "CT-100240", "delivered_at": isoformat(now - timedelta(days=3))}]
    )


# -- looking things up -------------------------------------------------------------------


async def test_order_status_names_the_items_and_the_status(server, clients):
    alice = await clients(server, ALICE)
    reply = await alice.ask("what's the status of my order CT-100235?")
    assert reply["intent"] == "order_status"
    assert "CT-100235" in reply["text"] and "phone case x2" in reply["text"] and "processed" in reply["text"]
    assert "section 1.1" in reply["citation"]


async def test_which_order_is_asked_with_quick_replies_and_a_number_fills_it(server, clients):
    alice = await clients(server, ALICE)
    question = await alice.ask("where is my order?")
    assert "Which order" in question["text"]
    assert any(q.startswith("CT-100234") for q in question["quick_replies"])
    assert len(question["quick_replies"]) == 3  # alice's three orders, nobody else's
    assert not any("CT-1003" in q for q in question["quick_replies"])
    answer = await alice.ask(next(q for q in question["quick_replies"] if q.startswith("CT-100234")))
    assert "shipped" in answer["text"] and "UPS" in answer["text"]


async def test_delivery_tracking_gives_carrier_tracking_number_and_date(server, clients):
    alice = await clients(server, ALICE)
    reply = await alice.ask("can i get the tracking number for ct 100234")
    assert reply["intent"] == "delivery_tracking"
    assert "UPS" in reply["text"] and "1Z999AA10123456784" in reply["text"]
    eta = (server.clock.now() + timedelta(days=2)).strftime("%b %d, %Y").replace(" 0", " ")
    assert eta in reply["text"]


async def test_someone_elses_number_reads_exactly_like_a_missing_one(server, clients):
    alice = await clients(server, ALICE)
    bobs = await alice.ask("what's the status of order CT-100300")
    missing = await alice.ask("what's the status of order CT-999999")
    assert bobs["text"].replace("CT-100300", "#") == missing["text"].replace("CT-999999", "#")
    assert bobs["quick_replies"] == missing["quick_replies"]
    assert "sneakers" not in bobs["text"] and "pending" not in bobs["text"]


async def test_a_typod_number_is_not_found_and_offers_the_customers_orders(server, clients):
    alice = await clients(server, ALICE)
    reply = await alice.ask("cancel order CT-100253")
    assert "couldn't find order CT-100253" in reply["text"]
    assert sorted(q.split(" ")[0] for q in reply["quick_replies"]) == ["CT-100234", "CT-100235", "CT-100236"]
    picked = await alice.ask("CT-100235 · phone case x2")
    assert "Shall I cancel it?" in picked["text"]


async def test_refund_status_by_refund_or_order_number(server, clients):
    alice = await clients(server, ALICE)
    reply = await alice.ask("where is my refund RF-5001?")
    assert reply["intent"] == "refund_status"
    # RF-5001 is "processing": approved and being processed; where the money goes is nobody's guess
    assert "RF-5001" in reply["text"] and "$35.50" in reply["text"] and "approved and being processed" in reply["text"]
    by_order = await alice.ask("any news on the refund for CT-100236")
    assert "RF-5001" in by_order["text"]
    other = await alice.ask("status of refund RF-5002")
    assert "couldn't find refund RF-5002" in other["text"] and "rejected" not in other["text"]


async def test_a_rejected_refund_says_why(server, clients):
    bob = await clients(server, BOB)
    reply = await bob.ask("what happened to my refund RF-5002")
    assert "rejected" in reply["text"] and "after the return window" in reply["text"]


async def test_payment_problem_on_a_named_order_is_looked_up(server, clients):
    bob = await clients(server, BOB)
    reply = await bob.ask("my payment failed for order CT-100300")
    assert reply["intent"] == "payment_failed"
    assert "waiting for payment" in reply["text"] and "payment failed once today" in reply["text"]


async def test_merchants_see_their_own_withdrawals_and_customers_do_not(server, clients):
    sunny = await clients(server, SUNNY)
    # two withdrawals, one still on its way: that is the one meant
    answer = await sunny.ask("where's my withdrawal? the money hasn't arrived")
    assert answer["intent"] == "settlement_withdrawal" and "Which withdrawal" not in answer["text"]
    assert "WD-7001" in answer["text"] and "$1,240.00" in answer["text"] and "pending" in answer["text"]
    alice = await clients(server, ALICE)
    reply = await alice.ask("my store withdrawal WD-7001 hasn't arrived")
    assert "1,240" not in reply["text"] and "pending" not in reply["text"]


# -- changes, with confirmation --------------------------------------------------------------


async def test_cancel_asks_first_then_cancels_once_with_an_audit_entry(server, clients):
    alice = await clients(server, ALICE)
    question = await alice.ask("please cancel order CT-100235")
    assert question["intent"] == "order_cancel" and "Shall I cancel it?" in question["text"]
    assert question["quick_replies"] == ["Yes, cancel it", "No, keep it"]
    assert await status_of(server, "CT-100235") == "processing"
    done = await alice.ask("Yes, cancel it")
    assert "order CT-100235 is cancelled" in done["text"]
    assert await status_of(server, "CT-100235") == "cancelled"
    again = await alice.ask("cancel CT-100235")
    assert "nothing to cancel" in again["text"]
    audit = await server.app[STORE].audit_entries("CT-100235")
    assert len(audit) == 1
    assert (audit[0]["action"], audit[0]["conversation_id"]) == ("order_cancel", question["conversation_id"])


async def test_confirming_twice_cancels_once(server, clients):
    alice = await clients(server, ALICE)
    await alice.ask("cancel CT-100235")
    await alice.send("yes")
    second = await alice.send("yes")
    await alice.bot_reply(second["seq"])
    assert len(await server.app[STORE].audit_entries("CT-100235")) == 1


async def test_a_denied_confirmation_changes_nothing(server, clients):
    alice = await clients(server, ALICE)
    await alice.ask("i want to cancel CT-100235")
    reply = await alice.ask("no")
    assert "won't cancel" in reply["text"]
    assert await status_of(server, "CT-100235") == "processing"
    assert await server.app[STORE].audit_entries("CT-100235") == []


async def test_cancel_is_refused_once_shipped_with_the_reason_and_next_step(server, clients):
    alice = await clients(server, ALICE)
    reply = await alice.ask("cancel my order CT-100234")
    assert "already shipped" in reply["text"] and "before they ship" in reply["text"]
    assert "Tracking details" in reply["quick_replies"]
    assert await status_of(server, "CT-100234") == "shipped"


async def test_modify_collects_the_change_confirms_and_records_it(server, clients):
    alice = await clients(server, ALICE)
    ask = await alice.ask("I need to change the address on CT-100235")
    assert ask["intent"] == "order_modify" and "What would you like to change" in ask["text"]
    confirm = await alice.ask("ship it to 5 Elm Street, Springfield")
    assert "5 Elm Street" in confirm["text"] and "Shall I go ahead?" in confirm["text"]
    done = await alice.ask("yes")
    assert "change request for order CT-100235 is recorded" in done["text"]
    changes = await server.app[STORE].table_rows("order_changes")
    assert [c["request"] for c in changes] == ["ship it to 5 Elm Street, Springfield"]
    refused = await alice.ask("can i change the size on CT-100236")
    assert "already been delivered" in refused["text"] and "Return an item" in refused["quick_replies"]


async def test_asked_what_to_change_the_order_number_is_no_change_and_a_better_wording_replaces_it(server, clients):
    bob = await clients(server, BOB)
    await bob.ask("i need to change the size of my sneakers")
    again = await bob.ask("CT-100300")  # the order again, not the change
    assert "What would you like to change on order CT-100300" in again["text"]
    first = await bob.ask("size 10")
    assert '"size 10"' in first["text"] and "Shall I go ahead?" in first["text"]
    better = await bob.ask("size 10 instead of 9 please")  # said again, better: it replaces the first
    assert '"size 10 instead of 9 please"' in better["text"] and "Shall I go ahead?" in better["text"]
    assert (await bob.ask("yes"))["text"].startswith("Your change request for order CT-100300 is recorded")
    changes = await server.app[STORE].table_rows("order_changes")
    assert [c["request"] for c in changes] == ["size 10 instead of 9 please"]
    await bob.ask("i need to change the size of my sneakers")
    await bob.ask("size 11")
    other = await bob.ask("actually change CT-100301 instead")  # another order: not a rewording of this change
    assert "CT-100301" in other["text"] and "already been delivered" in other["text"]
    assert len(await server.app[STORE].table_rows("order_changes")) == 1


async def test_a_return_inside_the_window_opens_a_refund_request(server, clients):
    store = server.app[STORE]
    now = server.clock.now()
    await add_mug_delivered_3_days_ago(store, now)
    alice = await clients(server, ALICE)
    offer = await alice.ask("I'd like to return CT-100240, it's broken")
    assert offer["intent"] == "return_request" and "within the 30-day return window" in offer["text"]
    done = await alice.ask("yes please")
    number = re.search(r"RF-\d+", done["text"]).group(0)
    assert "$12.00" in done["text"] and "reviews it" in done["text"]
    refund = next(r for r in await store.table_rows("refunds") if r["number"] == number)
    assert (refund["order_number"], refund["status"], refund["user_id"]) == ("CT-100240", "requested", 1)
    status = await alice.ask(f"status of {number}")
    assert "requested" in status["text"]


async def test_a_return_past_the_window_is_refused_with_the_reason(server, clients):
    bob = await clients(server, BOB)
    reply = await bob.ask("I want to return my backpack, order CT-100301")
    assert reply["intent"] == "return_request"
    # RF-5002 was rejected, so the window is what decides
    assert "past the return window" in reply["text"] and "30 days" in reply["text"]


async def test_a_flow_survives_a_restart_of_the_server(tmp_path):
    settings = make_settings(tmp_path)
    from helpers import ChatClient

    server = await start_server(settings)
    alice = ChatClient(server.url)
    await alice.connect({"token": await server.login(ALICE)})
    await alice.ask("cancel CT-100235")
    await alice.close()
    await server.runner.cleanup()

    server = await start_server(settings, server.clock)
    try:
        alice = ChatClient(server.url)
        await alice.connect({"token": await server.login(ALICE)})
        done = await alice.ask("yes")
        assert "order CT-100235 is cancelled" in done["text"]
        await alice.close()
    finally:
        await server.runner.cleanup()


async def test_follow_ups_keep_the_context(server, clients):
    alice = await clients(server, ALICE)
    await alice.ask("what's the status of CT-100234")
    other = await alice.ask("what about CT-100235?")
    assert "CT-100235" in other["text"] and "processed" in other["text"]


async def test_it_means_the_order_just_talked_about(server, clients):
    alice = await clients(server, ALICE)
    await alice.ask("where is CT-100234")
    reply = await alice.ask("ok can you cancel it then")
    assert reply["intent"] == "order_cancel" and "CT-100234" in reply["text"] and "already shipped" in reply["text"]
    fresh = await clients(server, BOB)
    question = await fresh.ask("can you cancel it")  # nothing talked about yet: which one?
    assert "Which order" in question["text"]
    other = await clients(server, ALICE)
    await other.ask("where is CT-100234")
    possible = await other.ask("is it possible to cancel my order")  # not that "it"
    assert "Which order" in possible["text"]


async def test_asked_which_one_a_customer_hears_which_one_the_change_can_apply_to(server, clients):
    bob = await clients(server, BOB)  # CT-100300 waits for payment, CT-100301 is delivered
    question = await bob.ask("can you cancel my order")
    assert "Which order" in question["text"] and "only CT-100300 can still be cancelled" in question["text"]
    assert question["quick_replies"][0].startswith("CT-100300")
    carol = await clients(server, CAROL)  # of four purchases only TT-2001 is within 14 days and not activated
    which = await carol.ask("which of my purchases can i still cancel")
    assert "only TT-2001 can still be cancelled" in which["text"] and which["quick_replies"][0].startswith("TT-2001")
    refund = await carol.ask("the first one")
    assert "TT-2001" in refund["text"] and "$475.00" in refund["text"]
    alice = await clients(server, ALICE)  # none of hers can be returned now: no such line
    question = await alice.ask("i want to return something")
    assert "Which order" in question["text"] and "only" not in question["text"]


async def test_an_order_named_by_what_was_bought_or_its_place_in_the_list(server, clients):
    alice = await clients(server, ALICE)
    question = await alice.ask("where is my order")
    assert "Which order" in question["text"]
    lamp = await alice.ask("the desk lamp")
    assert "CT-100236" in lamp["text"] and "delivered" in lamp["text"]
    question = await alice.ask("i want to return something")
    first_listed = question["quick_replies"][0].split(" · ")[0]
    first = await alice.ask("the first one")
    assert first["intent"] == "return_request" and first_listed in first["text"]
    bob = await clients(server, BOB)
    sneakers = await bob.ask("i want to return my sneakers")  # one of bob's two orders: no question
    assert "CT-100300" in sneakers["text"] and "Which order" not in sneakers["text"]
    newest = await bob.ask("what about the latest one")
    assert newest["intent"] == "return_request" and "Which order" not in newest["text"]


async def test_a_record_named_by_its_status_and_what_follows_about_it(server, clients):
    sunny = await clients(server, SUNNY)
    pending = await sunny.ask("my withdrawal is still pending")  # one of sunny's two is pending
    assert "WD-7001" in pending["text"] and "Which withdrawal" not in pending["text"]
    why = await sunny.ask("why is it taking so long")  # may read as delivery: sunny has no orders
    assert "WD-7001" in why["text"] and "orders" not in why["text"]
    when = await sunny.ask("ok and when will it be paid")  # not understood alone; "it" is the withdrawal
    assert "WD-7001" in when["text"]
    alice = await clients(server, ALICE)
    negated = await alice.ask("my order hasn't been delivered yet")  # names no status: which one?
    assert "Which order" in negated["text"]


async def test_a_payment_problem_named_by_its_item_and_that_order_after_it(server, clients):
    bob = await clients(server, BOB)
    failed = await bob.ask("my payment failed for the sneakers")  # looked up, not "tell me the number"
    assert "CT-100300" in failed["text"] and "waiting for payment" in failed["text"]
    cancel = await bob.ask("ok cancel that order then")
    assert "CT-100300" in cancel["text"] and "Shall I cancel" in cancel["text"]


async def test_they_are_the_items_just_talked_about_and_my_last_payout_the_newest(server, clients):
    alice = await clients(server, ALICE)
    await alice.ask("i ordered earbuds, where are they")
    when = await alice.ask("when will they arrive")
    assert "CT-100234" in when["text"] and "Which order" not in when["text"]
    asked = await alice.ask("has my order shipped?")  # asking about a status names no order
    assert "Which order" in asked["text"]
    sunny = await clients(server, SUNNY)
    last = await sunny.ask("my last payout, was it paid?")
    assert "WD-7001" in last["text"] and "Which withdrawal" not in last["text"]


async def test_a_sure_question_about_records_the_customer_has_none_of_is_told_so(server, clients):
    from chatbot.auth import hash_password

    store, now = server.app[STORE], server.clock.now()
    user_id = await store.create_user(
        {
            "brand": "cltiktok",
            "email": "finn@example.com",
            "name": "Finn",
            "role": "customer",
            "password_hash": hash_password("finn-pass"),
            "created_at": isoformat(now),
        }
    )
    await store.insert_rows(
        "orders",
        [
            {
                "number": "CT-100250",
                "brand": "cltiktok",
                "user_id": user_id,
                "status": "processing",
                "items": json.dumps([{"name": "kettle", "quantity": 1}]),
                "total_cents": 3000,
                "currency": "USD",
                "created_at": isoformat(now),
                "updated_at": isoformat(now),
                "notes": "",
            }
        ],
    )
    finn = await clients(server, {"brand": "cltiktok", "email": "finn@example.com", "password": "finn-pass"})
    assert "CT-100250" in (await finn.ask("where is my order"))["text"]
    refund = await finn.ask("where is my refund")  # no refunds: said, not the order again
    assert "I don't see any refunds" in refund["text"] and "CT-100250" not in refund["text"]


async def test_asked_which_one_the_one_picked_counts_whatever_else_the_answer_asks(server, clients):
    sunny = await clients(server, SUNNY)
    listed = await sunny.ask("whats the status of my payouts")  # both, with their statuses
    assert "WD-7000" in listed["text"] and "completed" in listed["text"] and "WD-7001" in listed["text"]
    picked = await sunny.ask("the completed one, when did it arrive")  # may read as a delivery question
    assert "WD-7000" in picked["text"] and "paid on" in picked["text"]


async def test_asked_which_order_twice_a_customer_who_moves_on_is_not_held(server, clients):
    bob = await clients(server, BOB)
    assert "Which order" in (await bob.ask("i got the wrong colour, i want to send it back"))["text"]
    again = await bob.ask("yes")  # not an answer: asked once more
    assert "Which order" in again["text"]
    restated = await bob.ask("how do i get my money back for that")  # the same request: asked again
    assert "Which order" in restated["text"]
    moved_on = await bob.ask("do you guys sell iphones")
    assert moved_on["intent"] is None and "Which order" not in moved_on["text"]
    assert "can't help with that" in moved_on["text"]
    fresh = await bob.ask("where is CT-100301")  # and the next question is answered afresh
    assert "CT-100301" in fresh["text"]


# -- ttr-e purchases --------------------------------------------------------------------------


async def test_an_eligible_purchase_is_refunded_less_the_fee_after_confirmation(server, clients):
    carol = await clients(server, CAROL)
    offer = await carol.ask("can I get a refund for TT-2001?")
    assert offer["intent"] == "refund_request"
    assert "$475.00" in offer["text"] and "14-day" in offer["text"] and "5% processing fee" in offer["text"]
    done = await carol.ask("yes")
    number = re.search(r"RF-\d+", done["text"]).group(0)
    store = server.app[STORE]
    refund = next(r for r in await store.table_rows("refunds") if r["number"] == number)
    assert (refund["purchase_number"], refund["amount_cents"], refund["status"]) == ("TT-2001", 47500, "requested")
    purchase = next(p for p in await store.table_rows("purchases") if p["number"] == "TT-2001")
    assert purchase["status"] == "cancelled"
    again = await carol.ask("refund TT-2001 please")
    assert "already cancelled" in again["text"]
    assert len(await store.audit_entries("TT-2001")) == 1


async def test_an_activated_purchase_gets_no_refund_and_the_policy_is_quoted(server, clients):
    carol = await clients(server, CAROL)
    reply = await carol.ask("i want my money back for TT-2002")
    assert "can't be cancelled for a refund" in reply["text"] and "activated" in reply["text"]
    assert "refunds will not be issued" in reply["text"]
    assert "section 2" in reply["citation"]


async def test_a_purchase_past_14_days_gets_no_refund(server, clients):
    carol = await clients(server, CAROL)
    reply = await carol.ask("please cancel my purchase TT-2003")
    assert reply["intent"] == "service_cancel"
    assert "20 days ago" in reply["text"] and "within 14 days" in reply["text"]


async def test_what_about_another_purchase_reuses_the_question(server, clients):
    carol = await clients(server, CAROL)
    first = await carol.ask("can I get a refund for TT-2001?")
    assert "$475.00" in first["text"]
    follow = await carol.ask("what about TT-2002")
    assert "TT-2002" in follow["text"] and "activated" in follow["text"]


async def test_several_numbers_at_once_and_numbers_without_their_prefix(server, clients):
    alice = await clients(server, ALICE)
    both = await alice.ask("where are CT-100234 and CT-100235")
    assert "CT-100234" in both["text"] and "shipped" in both["text"]
    assert "CT-100235" in both["text"] and "processed" in both["text"]
    bob = await clients(server, BOB)
    await bob.ask("i want to change my order")
    digits = await bob.ask("my order number is 100300")
    assert "CT-100300" in digits["text"] and "Which order" not in digits["text"]


async def test_yes_to_the_one_next_step_offered_takes_it_on_the_same_order(server, clients):
    bob = await clients(server, BOB)
    offer = await bob.ask("i want to return my sneakers")
    assert "cancel it instead" in offer["text"] and offer["quick_replies"] == ["Cancel this order"]
    cancel = await bob.ask("yes")
    assert (
        cancel["intent"] == "order_cancel" and "CT-100300" in cancel["text"] and "Shall I cancel it?" in cancel["text"]
    )
    kept = await bob.ask("no")
    assert "won't cancel CT-100300" in kept["text"]
    assert await status_of(server, "CT-100300") == "pending_payment"


async def test_asked_which_order_for_its_status_a_return_of_one_is_a_return(server, clients):
    bob = await clients(server, BOB)
    assert "Which order" in (await bob.ask("i want to change my order"))["text"]
    returned = await bob.ask("return CT-100301")
    assert returned["intent"] == "return_request" and "past the return window" in returned["text"]
    person = await bob.ask("yes")  # to "I can connect you with a person"
    assert person["intent"] == "human_agent"


async def test_a_purchase_named_by_its_package_and_the_newest_as_a_follow_up(server, clients):
    carol = await clients(server, CAROL)
    assert "Which purchase" in (await carol.ask("can i cancel my purchase"))["text"]
    tiktok = await carol.ask("the tiktok one")  # her only TikTok Shop management purchase
    assert "TT-2002" in tiktok["text"] and "activated" in tiktok["text"]
    newest = await carol.ask("what about the newest")
    assert "TT-2001" in newest["text"] and "$475.00" in newest["text"]


async def test_pushing_back_on_a_refusal_is_not_a_plain_no(server, clients):
    carol = await clients(server, CAROL)
    refused = await carol.ask("can i get a refund for TT-2003")
    assert "can't be cancelled for a refund" in refused["text"]
    pushback = await carol.ask("why not, i never used it")
    assert "Anything else" not in pushback["text"] and "person from our team can look at it" in pushback["text"]
    assert pushback["quick_replies"] == ["Yes, talk to a person", "No, thanks"]
    person = await carol.ask("yes")
    assert person["intent"] == "human_agent"


async def test_pushed_back_on_the_bot_says_so_and_offers_a_person_then_follows_the_customer(server, clients):
    carol = await clients(server, CAROL)
    question = await carol.ask("i want a refund")
    refused = await carol.ask("TT-2002")
    assert "can't be cancelled for a refund" in refused["text"]
    again = await carol.ask("but i barely used it!")  # pushback: the rule, briefly, and a person offered
    assert again["text"] != refused["text"] and "activated" in again["text"] and "connect you" in again["text"]
    upset = await carol.ask("this is ridiculous")  # frustration: a person offered, not "I can't help"
    assert "frustrating" in upset["text"] and "Yes, talk to a person" in upset["quick_replies"]
    other = await carol.ask("fine. what about TT-2003")  # not a yes to the offer: the question, on TT-2003
    assert other["intent"] == "refund_request" and "TT-2003" in other["text"] and "20 days" in other["text"]
    same = await carol.ask("ok TT-2001")
    assert "TT-2001" in same["text"] and "$475.00" in same["text"]
    assert question["intent"] == "refund_request"
    joke = await (await clients(server, ALICE)).ask("tell me a joke")  # out of scope, not frustration
    assert "frustrating" not in joke["text"]


async def test_invoice_and_activation_look_up_the_purchase(server, clients):
    carol = await clients(server, CAROL)
    invoice = await carol.ask("I need the invoice for TT-2001")
    assert invoice["intent"] == "billing_invoice" and "electronic invoice" in invoice["text"]
    active = await carol.ask("when does TT-2002 get activated?")
    assert active["intent"] == "service_activation" and "active since" in active["text"]


async def test_ttr_e_refund_status(server, clients):
    carol = await clients(server, CAROL)
    reply = await carol.ask("what's the status of my refund RF-9001")
    assert "completed" in reply["text"] and "$475.00" in reply["text"]


# -- the rules and the wording are the brand's files ----------------------------------------------


def copied_intents(tmp_path: Path, edits: dict[str, list[tuple[str, str]]]) -> Path:
    """A copy of intents/ with each file's (old, new) text replaced: what an operator's edit does."""
    intents = tmp_path / "intents"
    shutil.copytree(REPO_ROOT / "intents", intents)
    for name, changes in edits.items():
        path = intents / name
        text = path.read_text(encoding="utf-8")
        for old, new in changes:
            assert old in text, old
            text = text.replace(old, new)
        path.write_text(text, encoding="utf-8")
    return intents


async def ask_with(
    tmp_path: Path, clients, edits: dict[str, list[tuple[str, str]]], creds: dict, question: str
) -> dict:
    """The bot's answer to `question` on a server reading the edited copy."""
    server = await start_server(make_settings(tmp_path, intents_dir=copied_intents(tmp_path, edits)))
    try:
        return await (await clients(server, creds)).ask(question)
    finally:
        await server.runner.cleanup()


async def test_editing_replies_yaml_changes_what_the_bot_says(tmp_path, clients):
    edits = {
        "cltiktok/replies.yaml": [
            (
                'text: "Order {number} ({items}, {total}), placed on {placed}, is {status}."',
                'text: "Your order {number} of {items} is {status}."',
            ),
            ("order.status.processing: being processed", "order.status.processing: with the seller, not yet shipped"),
        ]
    }
    reply = await ask_with(tmp_path, clients, edits, ALICE, "what's the status of my order CT-100235?")
    assert reply["text"].startswith("Your order CT-100235 of phone case x2 is with the seller, not yet shipped. ")
    assert "section 1.1" in reply["citation"]


@pytest.mark.parametrize(
    "edit,facts",
    [
        (("processing_fee: 0.05", "processing_fee: 0.1"), ["$450.00 back", "10% processing fee"]),
        (("processing_fee: 0.05", "processing_fee: 0.025"), ["$487.50 back", "2.5% processing fee"]),
    ],
)
async def test_the_processing_fee_is_the_brands(tmp_path, clients, edit, facts):
    reply = await ask_with(tmp_path, clients, {"ttr-e/brand.yaml": [edit]}, CAROL, "can I get a refund for TT-2001?")
    for fact in facts:
        assert fact in reply["text"]


async def test_the_cancellation_window_is_the_brands(tmp_path, clients):
    # TT-2001 was bought 3 days ago: inside 14 days, outside 2
    edits = {"ttr-e/brand.yaml": [("cancel_window_days: 14", "cancel_window_days: 2")]}
    reply = await ask_with(tmp_path, clients, edits, CAROL, "can I get a refund for TT-2001?")
    assert "can't be cancelled for a refund" in reply["text"]
    assert '"within 2 days of your purchase date' in reply["text"]


async def test_the_return_window_is_the_brands(tmp_path, clients):
    # CT-100301 was delivered 40 days ago: outside 30 days, inside 60
    edits = {"cltiktok/brand.yaml": [("return_window_days: 30", "return_window_days: 60")]}
    reply = await ask_with(tmp_path, clients, edits, BOB, "I want to return my backpack, order CT-100301")
    assert "within the 60-day return window" in reply["text"] and "Shall I go ahead?" in reply["text"]


async def test_the_changeable_statuses_are_the_brands(tmp_path, clients):
    edits = {
        "cltiktok/brand.yaml": [
            ("changeable_statuses: [pending_payment, paid, processing]", "changeable_statuses: [pending_payment, paid]")
        ]
    }
    reply = await ask_with(tmp_path, clients, edits, ALICE, "please cancel order CT-100235")
    assert "nothing to cancel" in reply["text"] and "Shall I cancel" not in reply["text"]


INVENTED = (
    "original payment method",
    "paid back",
    "goes back to",
    "packed for shipping",
    "order page",
    "account email",
)


async def test_no_answer_says_where_the_money_goes(server, clients):
    """Neither the policies nor the demo data say where a refund is paid, when
    it arrives, or what "processing" is physically: no answer may say so."""
    store, now = server.app[STORE], server.clock.now()
    await add_mug_delivered_3_days_ago(store, now)
    alice, carol = await clients(server, ALICE), await clients(server, CAROL)
    said = [
        await alice.ask(q)
        for q in (
            "what's the status of CT-100235",
            "please cancel order CT-100235",
            "yes",
            "I'd like to return CT-100240",
            "yes",
            "where is my refund RF-5001?",
        )
    ]
    said += [
        await carol.ask(q)
        for q in (
            "can I get a refund for TT-2001?",
            "yes",
            "I need the invoice for TT-2002",
            "what's the status of my refund RF-9001",
        )
    ]
    assert "order CT-100235 is cancelled" in said[2]["text"] and "Your return is open" in said[4]["text"]
    for reply in said:
        assert not any(words in reply["text"] for words in INVENTED), reply["text"]
    for brand in ("cltiktok", "ttr-e"):  # nor any template an answer not taken above could use
        replies = YAML(typ="safe").load((REPO_ROOT / "intents" / brand / "replies.yaml").read_text(encoding="utf-8"))
        for key, template in replies.items():
            text = template["text"] if isinstance(template, dict) else template
            assert not any(words in text for words in INVENTED), key


# -- disputes -------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def upload(server, token: str, data: bytes, filename: str = "shot.png") -> tuple[int, dict]:
    form = aiohttp.FormData()
    # a stream, not bytes: aiohttp warns that a large body of bytes blocks the loop
    form.add_field("file", io.BytesIO(data), filename=filename, content_type="image/png")
    async with aiohttp.ClientSession() as s:
        async with s.post(
            server.url + "/api/attachments", data=form, headers={"Authorization": f"Bearer {token}"}
        ) as r:
            return r.status, await r.json()


async def test_a_dispute_collects_order_description_and_screenshots_into_a_case(server, clients):
    token = await server.login(ALICE)
    alice = await clients(server, None, auth={"token": token})
    start = await alice.ask("I have a dispute with the seller of my lamp")
    assert start["intent"] == "dispute" and "Which order" in start["text"]
    described = await alice.ask("CT-100236")
    assert "describe what happened" in described["text"]
    shots = await alice.ask("The lamp arrived broken and the seller refuses to answer my messages")
    assert "screenshots" in shots["text"]
    status, uploaded = await upload(server, token, PNG, "../../etc/passwd.png")
    assert status == 201 and uploaded["filename"] == "passwd.png"
    assert await alice.wait_for("message", lambda m: m["id"] == uploaded["message"]["id"])
    done = await alice.ask("done")
    case_id = int(re.search(r"case #(\d+)", done["text"]).group(1))
    assert "1 screenshot" in done["text"]
    agent = await server.login(DANA)
    async with aiohttp.ClientSession() as s:
        async with s.get(server.url + "/api/cases", headers={"Authorization": f"Bearer {agent}"}) as r:
            cases = (await r.json())["cases"]
    case = next(c for c in cases if c["id"] == case_id)
    assert case["order_number"] == "CT-100236" and "arrived broken" in case["description"]
    assert [a["filename"] for a in case["attachments"]] == ["passwd.png"]


async def test_uploads_must_be_images_of_bounded_size(server):
    token = await server.login(ALICE)
    status, body = await upload(server, token, b"<html><script>alert(1)</script>", "x.png")
    assert status == 400 and body["error"] == "invalid_payload"
    status, body = await upload(server, token, PNG + b"\x00" * (5 * 1024 * 1024))
    assert status in (400, 413)
    status, _ = await upload(server, await server.login(DANA), PNG)
    assert status == 403
