"""The dialogue's parts on their own (the phrase lists, clauses, the typed
state) and, through the real server and socketio.AsyncClient, what the
conversation stories cannot reach: the queue as a dialogue state, buttons
that carry payloads, a reply never given twice in a row."""

from __future__ import annotations

from chatbot.conversation.cues import Cues, words
from chatbot.conversation.state import Action, AwaitConfirm, Button, DialogueState, LastAnswer
from chatbot.nlu.clauses import ClauseWords, split
from chatbot.settings import REPO_ROOT
from chatbot.web.keys import DESK, STORE
from helpers import ALICE, BOB, CAROL, DANA

CUES = Cues.load(REPO_ROOT / "intents" / "cues.yaml")


# -- the parts ---------------------------------------------------------------------------------


def test_cues_match_whole_words_after_openers_and_without_apostrophes():
    assert words("Don't cancel CT-100235!") == ("dont", "cancel", "ct-100235")
    assert CUES.has("cancel", "ok never mind then")
    assert not CUES.has("cancel", "nevermindful")
    assert CUES.has("follow_up", "ok and the other one?")  # "and" opens, after "ok"
    assert not CUES.has("follow_up", "cancel it and refund me")  # "and" in the middle is no follow-up
    assert CUES.is_exactly("greeting", "hey there") and not CUES.is_exactly("greeting", "hey where r my earbuds")


def test_clauses_split_a_greeting_and_two_questions_but_not_one_request():
    words = ClauseWords(greetings=CUES.phrases("greeting"), joiners=CUES.phrases("joiners"))
    assert split(words, "hey where r my earbuds") == ["hey", "where r my earbuds"]
    assert split(words, "whats your email and when are you open") == ["whats your email", "when are you open"]
    assert split(words, "where is my order") == ["where is my order"]
    assert split(words, "cancel it and refund") == ["cancel it and refund"]  # too short to be two


def test_the_state_reads_back_what_it_wrote_and_an_old_shape_starts_afresh():
    state = DialogueState(
        focus={"order": "CT-100235"},
        last_action="order_cancel",
        expecting=AwaitConfirm(action="order_cancel", number="CT-100235", why="because"),
        buttons=[Button("Yes", Action("affirm"))],
        last=LastAnswer(key="order_cancel", number="x"),
    )
    again = DialogueState.from_json(state.to_json())
    assert again == state
    assert DialogueState.from_json({"pending": {"await": "confirm"}, "focus": "not a dict"}) == DialogueState()


# -- buttons carry payloads ----------------------------------------------------------------------


async def test_a_button_sends_its_payload_and_is_never_reread_from_its_title(server, clients):
    alice = await clients(server, ALICE)
    question = await alice.ask("where is my order")
    assert [b["title"] for b in question["buttons"]] == question["quick_replies"]  # titles for old clients
    lamp = next(b for b in question["buttons"] if "lamp" in b["title"])
    assert lamp["payload"] == {"intent": "order_status", "entities": {"order": "CT-100236"}}
    # a payload decides, whatever the text says
    sent = await alice.call("message", {"client_id": "c1", "text": "gibberish title", "payload": lamp["payload"]})
    answer = await alice.bot_reply(sent["message"]["seq"])
    assert "CT-100236" in answer["text"] and "delivered" in answer["text"]


async def test_a_payload_naming_someone_elses_record_gets_what_a_missing_one_gets(server, clients):
    alice = await clients(server, ALICE)
    payload = {"intent": "order_status", "entities": {"order": "CT-100300"}}  # bob's
    sent = await alice.call("message", {"client_id": "c2", "text": "x", "payload": payload})
    answer = await alice.bot_reply(sent["message"]["seq"])
    assert "couldn't find order CT-100300" in answer["text"] and "sneakers" not in answer["text"]


async def test_a_bad_payload_is_refused_and_the_connection_lives_on(server, clients):
    alice = await clients(server, ALICE)
    ack = await alice.call("message", {"client_id": "c3", "text": "hi", "payload": {"entities": "no"}})
    assert ack["ok"] is False and ack["error"] == "invalid_payload"
    assert (await alice.ask("where is CT-100234"))["intent"] in ("order_status", "delivery_tracking")


# -- the queue as a dialogue state ------------------------------------------------------------


async def _queued_behind_three(server, clients):
    """Dana online with her three seats taken: the fourth customer waits in the queue."""
    from test_handoff import ask_for_person, new_customer

    await clients(server, DANA, namespace="/agent")
    for name in ("finn", "gus", "hal"):
        other = await clients(server, await new_customer(server, name))
        assert (await ask_for_person(other))["state"] == "assigned"
    alice = await clients(server, ALICE)
    assert (await ask_for_person(alice))["state"] == "queued"
    return alice


async def test_queued_the_bot_answers_the_wait_from_the_live_queue_and_what_it_is_sure_of(server, clients):
    alice = await _queued_behind_three(server, clients)
    wait = await alice.ask("how long do i have to wait?")
    assert "number 1 in the queue" in wait["text"]
    order = await alice.ask("where is my order CT-100234")  # a question the bot is sure of
    assert "UPS" in order["text"]
    sent = await alice.send("asdf qwerty")  # not understood: left for the agent
    assert not [m for m in alice.received("message") if m["seq"] > sent["seq"] and m["sender"]["type"] == "bot"]


async def test_queued_never_mind_asks_then_leaves_the_queue(server, clients):
    alice = await _queued_behind_three(server, clients)
    ask = await alice.ask("never mind")
    assert "leave the queue" in ask["text"] and ask["quick_replies"] == ["Yes, leave the queue", "No, keep waiting"]
    await alice.send(ask["quick_replies"][0])
    closed = await alice.wait_for("handoff", lambda h: h["state"] == "closed")
    assert closed == {"state": "closed"}
    after = await alice.ask("where is CT-100235")  # the bot has the chat again
    assert "CT-100235" in after["text"]


# -- never the same block twice ------------------------------------------------------------------


async def test_asked_again_the_bot_gives_the_part_that_fits_instead_of_the_same_block(server, clients):
    carol = await clients(server, CAROL)
    first = await carol.ask("how much are your packages")
    again = await carol.ask("how much are your packages")
    assert again["text"] != first["text"] and "person" in again["text"]


async def test_a_refusal_explains_its_rule_when_asked_why(server, clients):
    bob = await clients(server, BOB)
    refused = await bob.ask("i want to return my backpack")
    assert "past the return window" in refused["text"]
    why = await bob.ask("why")
    assert "30 days after delivery" in why["text"] and "40 days ago" in why["text"]


def test_every_phrase_list_in_the_data_is_one_the_dialogue_listens_for():
    source = "\n".join(p.read_text() for p in (REPO_ROOT / "chatbot" / "conversation").glob("*.py"))
    unused = [n for n in CUES.names() if f'"{n}"' not in source and not n.startswith("kind_")]
    assert unused == []


async def test_past_the_breach_keep_waiting_keeps_the_queue_and_a_yes_continues_by_email(server, clients):
    from test_handoff import ask_for_person, set_cap

    set_cap(server, 0)
    await clients(server, DANA, namespace="/agent")
    alice = await clients(server, ALICE)
    await ask_for_person(alice)
    server.clock.advance(seconds=600)
    await server.app[DESK].tick()
    await alice.wait_for("message", lambda m: "Continue by email" in m.get("quick_replies", []))
    stay = await alice.ask("i'll keep waiting thanks")
    assert "stay in the queue" in stay["text"]
    assert await server.app[STORE].tickets("cltiktok") == []
    await alice.send("ok sure")
    await alice.wait_for("handoff", lambda h: h["state"] == "closed")
    assert [t["kind"] for t in await server.app[STORE].tickets("cltiktok")] == ["breach_followup"]


async def test_nobody_online_is_not_forever_a_later_ask_for_a_person_goes_to_the_desk_again(server, clients):
    from test_handoff import ask_for_person

    alice = await clients(server, ALICE)
    assert (await ask_for_person(alice))["state"] == "offline"
    wait = await alice.ask("how long will i have to wait")
    assert "Nobody from our team can take the chat right now" in wait["text"]
    await clients(server, DANA, namespace="/agent")  # Dana comes online
    await alice.send("ok please get me a person now")
    assert (await alice.wait_for("handoff", lambda h: h["state"] == "assigned"))["agent"]["name"] == "Dana"


async def test_in_hours_nobody_online_holds_half_an_hour_then_the_bot_stops_saying_so(server, clients):
    from test_handoff import ask_for_person

    alice = await clients(server, ALICE)
    assert (await ask_for_person(alice))["state"] == "offline"
    server.clock.advance(minutes=31)
    later = await alice.ask("how long does an email reply take")
    assert "Nobody from our team" not in later["text"] and "24 hours" in later["text"]
