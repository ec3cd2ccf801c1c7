"""The agent console and the supervisor view, driven in headless Chromium against
the real server, with a customer in the widget on another page at the same time.

The human team of cltiktok works Monday to Friday, 9:00 to 18:00 Los Angeles
time, and the server reads the real clock; outside those hours a customer who
asks for a person is told the team is offline. So this module starts its own
server (it overrides conftest's `live_server`) on a copy of the intents whose
cltiktok brand.yaml keeps the team open every day, 00:00 to 23:59, with a cap
of one chat per agent, so that a second customer waits in the queue.

Every test resolves or hands off the chats it opened, so the next one starts
with agents who hold nothing; texts carry a unique tag.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from server_process import always_open_intents, run_server

pytestmark = pytest.mark.browser

SHOP = "/static/shop/cltiktok.html"
CONSOLE = "/static/agent.html"
SUPERVISOR = "/static/supervisor.html"
ALICE = ("alice@example.com", "alice-demo-pass", "Alice Chen")
BOB = ("bob@example.com", "bob-demo-pass", "Bob Rivera")
DANA = ("dana@cltiktok.example", "dana-demo-pass", "Dana")
ELI = ("eli@cltiktok.example", "eli-demo-pass", "Eli")
OLGA = ("olga@cltiktok.example", "olga-demo-pass", "Olga")
SLOW = 15_000  # bot answers and socket round trips take well under a second; CI machines are slow
XSS = "<img src=x onerror=alert(1)>"


def tag() -> str:
    return uuid.uuid4().hex[:8]


# ------------------------------------------------------------------ the server --


@pytest.fixture(scope="module")
def live_server(sync_playwright_cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python run.py --intents <always-open copy>` on a free port with a fresh database.
    (Asks for `sync_playwright_cls` first, so that a machine without Chromium skips
    before a server is started.)"""
    tmp = tmp_path_factory.mktemp("agent-console-server")
    with run_server(tmp / "chat.db", intents=always_open_intents(tmp / "intents", agent_chat_cap=1)) as (url, _):
        yield url


# -------------------------------------------------------------------- helpers --


def customer(new_context, account=ALICE):
    """A customer signed in to the widget on the demo shop."""
    page = new_context().new_page()
    page.goto(SHOP)
    page.get_by_test_id("launcher").click()
    page.get_by_test_id("email").fill(account[0])
    page.get_by_test_id("password").fill(account[1])
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "online")
    return page


def console(new_context, account=DANA):
    """An agent signed in to the console, online."""
    page = new_context().new_page()
    page.goto(CONSOLE)
    expect(page.get_by_test_id("login-form")).to_be_visible()
    page.get_by_test_id("login-brand").select_option("cltiktok")
    page.get_by_test_id("login-email").fill(account[0])
    page.get_by_test_id("login-password").fill(account[1])
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("console")).to_be_visible()
    expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "online", timeout=SLOW)
    expect(page.get_by_test_id("me")).to_have_text(account[2])
    return page


def says(page, text: str) -> None:
    """The customer sends `text` from the widget, and it is stored (has a seq)."""
    box = page.get_by_test_id("input")
    box.fill(text)
    box.press("Enter")
    sent = page.locator('[data-testid="message"][data-sender="customer"]').filter(has_text=text).last
    expect(sent).to_have_attribute("data-seq", re.compile(r"^\d+$"), timeout=SLOW)


def widget_message(page, sender: str, text: str):
    return page.locator(f'[data-testid="message"][data-sender="{sender}"]').filter(has_text=text)


def conversation(agent, name: str):
    """The agent's conversation panel with a customer (the newest one)."""
    return (
        agent.get_by_test_id("conversation")
        .filter(
            has=agent.get_by_test_id("conversation-customer").filter(has_text=re.compile("^" + re.escape(name) + "$"))
        )
        .last
    )


def transcript_message(conv, sender: str, text: str):
    return conv.locator(f'[data-testid="message"][data-sender="{sender}"]').filter(has_text=text)


def reply(agent, conv, text: str) -> None:
    box = conv.get_by_test_id("composer-input")
    box.fill(text)
    box.press("Enter")
    expect(box).to_have_value("")
    mine = transcript_message(conv, "agent", text)
    expect(mine).to_have_count(1)
    expect(mine).to_have_attribute("data-seq", re.compile(r"^\d+$"), timeout=SLOW)


def hand_off(customer_page, agent, name: str):
    """The customer asks for a person; the agent gets the conversation."""
    says(customer_page, "I want to talk to a person")
    expect(customer_page.get_by_test_id("handoff").last).to_have_attribute(
        "data-state", re.compile("assigned|queued"), timeout=SLOW
    )
    conv = conversation(agent, name)
    expect(conv).to_be_visible(timeout=SLOW)
    return conv


def seqs(locator) -> list[int]:
    return [
        int(s)
        for s in locator.locator('[data-testid="message"][data-seq]').evaluate_all("els => els.map(e => e.dataset.seq)")
    ]


# ---------------------------------------------------------------------- tests --


def test_customer_and_agent_chat_from_handoff_to_rating(new_context):
    agent = console(new_context, DANA)
    expect(agent).to_have_title("Agent console")
    expect(agent.get_by_test_id("queue-empty")).to_have_text("Nobody is waiting.")
    expect(agent.get_by_test_id("workspace-empty")).to_be_visible()
    expect(agent.get_by_test_id("team-member").filter(has_text="Dana")).to_contain_text("Online")

    alice = customer(new_context, ALICE)
    question = f"where is my order CT-100234 {tag()}"
    says(alice, question)
    expect(widget_message(alice, "bot", "CT-100234").last).to_be_visible(timeout=SLOW)

    # the handoff: the customer is told, the agent gets the chat with a sound and a title notice
    conv = hand_off(alice, agent, "Alice Chen")
    expect(alice.get_by_test_id("handoff").last).to_contain_text("Dana has joined the chat")
    expect(alice.get_by_test_id("connection-state")).to_contain_text("Chatting with Dana")
    expect(agent).to_have_title("(1) New chat — Agent console")
    expect(agent.get_by_test_id("conversation-tab")).to_have_count(1)
    expect(agent.get_by_test_id("workspace-empty")).to_be_hidden()

    # the transcript so far, with the bot's intent and confidence
    expect(transcript_message(conv, "customer", question)).to_have_count(1)
    expect(transcript_message(conv, "customer", "I want to talk to a person")).to_have_count(1)
    handoff_answer = conv.locator('[data-testid="message"][data-sender="bot"]').filter(
        has=agent.get_by_test_id("bot-intent").filter(has_text="human agent")
    )
    expect(handoff_answer.get_by_test_id("bot-intent")).to_have_text(re.compile(r"^human agent · \d+%$"))
    expect(conv.get_by_test_id("first-response")).to_contain_text("Waiting for your first reply")

    # beside it: who the customer is, why they were handed over, their orders and refunds
    context = conv.get_by_test_id("customer-context")
    expect(context.get_by_test_id("ctx-customer")).to_contain_text("alice@example.com")
    expect(context.get_by_test_id("handoff-intent")).to_contain_text("human agent")
    orders = context.get_by_test_id("order")
    expect(orders).to_have_count(3)
    earbuds = orders.filter(has_text="CT-100234")
    expect(earbuds).to_contain_text("Shipped")
    expect(earbuds).to_contain_text("wireless earbuds")
    expect(earbuds).to_contain_text("$49.99")
    expect(context.get_by_test_id("refund").filter(has_text="RF-5001")).to_contain_text("Processing")

    # the customer types: the agent sees it; then the message itself
    alice.get_by_test_id("input").press_sequentially("my earbuds", delay=40)
    expect(conv.get_by_test_id("customer-typing")).to_have_text("Alice Chen is typing…")
    first = f"my earbuds have not arrived {tag()}"
    alice.get_by_test_id("input").fill(first)
    alice.get_by_test_id("input").press("Enter")
    expect(transcript_message(conv, "customer", first)).to_have_count(1, timeout=SLOW)
    expect(conv.get_by_test_id("customer-typing")).to_be_hidden()

    # the agent types: the customer sees it; then the reply
    conv.get_by_test_id("composer-input").press_sequentially("Hi Alice", delay=40)
    expect(alice.get_by_test_id("typing")).to_have_text("Dana is typing…")
    answer = f"Hi Alice, I'm checking with UPS now {tag()}"
    reply(agent, conv, answer)
    expect(agent).to_have_title("Agent console")  # the agent has seen it
    shown = widget_message(alice, "agent", answer)
    expect(shown).to_have_count(1, timeout=SLOW)
    expect(shown.locator(".cbw-sender")).to_have_text("Dana")
    expect(alice.get_by_test_id("typing")).to_be_hidden()
    expect(conv.get_by_test_id("first-response")).to_contain_text("First reply after")

    # an internal note: marked as such in the console, never sent to the customer
    note = f"VIP customer, second delayed parcel {tag()}"
    conv.get_by_test_id("mode-note").click()
    expect(conv.get_by_test_id("composer-hint")).to_have_text("Internal — the customer never sees this")
    conv.get_by_test_id("composer-input").fill(note)
    conv.get_by_test_id("composer-input").press("Enter")
    shown_note = conv.get_by_test_id("note").filter(has_text=note)
    expect(shown_note).to_be_visible()
    expect(shown_note.get_by_test_id("note-label")).to_have_text("Internal — the customer never sees this")
    conv.get_by_test_id("mode-reply").click()

    # a canned answer from the policy goes into the composer, and out
    conv.get_by_test_id("canned-button").click()
    picker = conv.get_by_test_id("canned-picker")
    expect(picker).to_be_visible()
    picker.get_by_test_id("canned-filter").fill("track")
    canned = picker.get_by_test_id("canned-answer").first
    expect(canned).to_be_visible()
    canned_text = canned.locator(".ac-canned-text").text_content()
    canned.click()
    expect(picker).to_be_hidden()
    expect(conv.get_by_test_id("composer-input")).to_have_value(canned_text)
    conv.get_by_test_id("composer-input").press("Enter")
    expect(widget_message(alice, "agent", canned_text[:60])).to_have_count(1, timeout=SLOW)

    # by now the note would have reached the customer: it did not
    expect(alice.get_by_text(note)).to_have_count(0)
    expect(alice.get_by_text("customer never sees")).to_have_count(0)

    # the customer answers; the agent resolves; the customer is asked to rate
    thanks = f"great, thank you {tag()}"
    says(alice, thanks)
    expect(transcript_message(conv, "customer", thanks)).to_have_count(1, timeout=SLOW)
    conv.get_by_test_id("resolve").click()
    expect(conv.get_by_test_id("conversation-ended")).to_contain_text("You resolved this conversation")
    expect(conv.get_by_test_id("composer")).to_be_hidden()
    closing = widget_message(alice, "system", "has closed this chat").last
    expect(closing).to_be_visible(timeout=SLOW)
    expect(closing).to_contain_text("Rate us from 1")
    expect(alice.get_by_test_id("handoff").last).to_contain_text("This conversation has been closed")
    expect(alice.get_by_test_id("connection-state")).to_contain_text("Conversation closed")
    says(alice, "5")  # (the widget shows the 1-5 quick replies of bot messages only)
    expect(widget_message(alice, "bot", "Thank you for rating us").last).to_be_visible(timeout=SLOW)

    # every message once, in order
    s = seqs(conv.get_by_test_id("transcript"))
    assert s == sorted(s) and len(s) == len(set(s)), s
    conv.get_by_test_id("close-conversation").click()
    expect(agent.get_by_test_id("conversation")).to_have_count(0)
    expect(agent.get_by_test_id("workspace-empty")).to_be_visible()


def test_markup_from_the_customer_is_shown_as_text_in_the_console(new_context, watch):
    agent = console(new_context, DANA)
    bob = customer(new_context, BOB)
    before = f"{XSS} before the handoff {tag()}"
    says(bob, before)  # history: rendered from the `assigned` view
    expect(bob.locator('[data-testid="message"][data-sender="bot"]').last).to_be_visible(timeout=SLOW)
    conv = hand_off(bob, agent, "Bob Rivera")
    live = f"{XSS} after the handoff {tag()}"
    says(bob, live)  # live: rendered from a `message` event

    for text in (before, live):
        shown = transcript_message(conv, "customer", text)
        expect(shown).to_have_count(1, timeout=SLOW)
        expect(shown.locator(".ac-bubble")).to_have_text(text)
    transcript = conv.get_by_test_id("transcript")
    expect(transcript.locator("img")).to_have_count(0)
    expect(agent.locator("img[src=x]")).to_have_count(0)
    agent.wait_for_timeout(300)  # give a would-be onerror handler its chance
    assert watch.dialogs == [], watch.dialogs

    conv.get_by_test_id("resolve").click()
    expect(conv.get_by_test_id("conversation-ended")).to_be_visible()


def test_queue_accept_side_by_side_transfer_release_and_hand_back(new_context):
    """With a cap of one chat, a second customer waits in the queue: the agent sees
    the waiting time tick, accepts the chat (two side by side), transfers it to a
    colleague, releases the other; the colleague hands one back to the bot and
    gets the other from the queue."""
    dana = console(new_context, DANA)
    alice = customer(new_context, ALICE)
    first = hand_off(alice, dana, "Alice Chen")

    bob = customer(new_context, BOB)
    says(bob, "I want to talk to a person")
    expect(bob.get_by_test_id("handoff").last).to_contain_text("number 1 in the queue", timeout=SLOW)

    item = dana.get_by_test_id("queue-item").filter(has_text="Bob Rivera")
    expect(item).to_have_count(1, timeout=SLOW)
    expect(dana.get_by_test_id("queue-count")).to_have_text("1")
    expect(item.get_by_test_id("queue-wait")).to_have_attribute("data-level", "ok")
    wait = item.get_by_test_id("queue-wait")
    expect(wait).to_have_text(re.compile(r"^0:0\d$"))
    seen = wait.inner_text()
    expect(wait).not_to_have_text(seen, timeout=5_000)  # it ticks without a server event
    expect(dana.get_by_test_id("queue-preview").first).not_to_have_text("")

    item.get_by_test_id("accept").click()
    second = conversation(dana, "Bob Rivera")
    expect(second).to_be_visible()
    expect(transcript_message(second, "system", "Dana from our team has joined the chat")).to_have_count(1)
    expect(dana.get_by_test_id("queue-empty")).to_be_visible()
    expect(bob.get_by_test_id("handoff").last).to_contain_text("Dana has joined the chat", timeout=SLOW)
    expect(dana.get_by_test_id("conversation-tab")).to_have_count(2)

    # side by side: both transcripts at once
    dana.get_by_test_id("layout-columns").click()
    expect(first).to_be_visible()
    expect(second).to_be_visible()
    a, b = first.bounding_box(), second.bounding_box()
    assert a and b and a["x"] + a["width"] <= b["x"] + 1, (a, b)
    to_bob = f"Hello Bob {tag()}"
    reply(dana, second, to_bob)
    expect(widget_message(bob, "agent", to_bob)).to_have_count(1, timeout=SLOW)
    dana.get_by_test_id("layout-tabs").click()

    # transfer Bob to Eli
    eli = console(new_context, ELI)
    dana.get_by_test_id("conversation-tab").filter(has_text="Bob Rivera").click()
    second.get_by_test_id("transfer").click()
    target = second.get_by_test_id("transfer-to").filter(has_text="Eli")
    expect(target).to_be_enabled()
    target.click()
    expect(second.get_by_test_id("conversation-ended")).to_contain_text("transferred this conversation to Eli")
    eli_bob = conversation(eli, "Bob Rivera")
    expect(eli_bob).to_be_visible(timeout=SLOW)
    expect(transcript_message(eli_bob, "agent", to_bob)).to_have_count(1)  # the history came along
    expect(eli).to_have_title("(1) New chat — Agent console")
    expect(bob.get_by_test_id("handoff").last).to_contain_text("Eli has joined the chat", timeout=SLOW)

    # Dana releases Alice: back in the queue (Eli is at his cap)
    dana.get_by_test_id("conversation-tab").filter(has_text="Alice Chen").click()
    first.get_by_test_id("release").click()
    expect(first.get_by_test_id("conversation-ended")).to_contain_text("back in the queue")
    expect(eli.get_by_test_id("queue-item").filter(has_text="Alice Chen")).to_have_count(1, timeout=SLOW)
    expect(alice.get_by_test_id("handoff").last).to_contain_text("in the queue", timeout=SLOW)

    # Eli hands Bob back to the bot, which frees his seat: Alice is assigned to him
    eli_bob.get_by_test_id("handback").click()
    expect(eli_bob.get_by_test_id("conversation-ended")).to_contain_text("handed this conversation back to the bot")
    expect(widget_message(bob, "system", "back with the virtual assistant").last).to_be_visible(timeout=SLOW)
    # the chat goes on with the bot: not shown as closed
    expect(bob.get_by_test_id("connection-state")).to_contain_text("virtual assistant")
    expect(bob.get_by_test_id("handoff").filter(has_text="has been closed")).to_have_count(0)
    alice_tab = eli.get_by_test_id("conversation-tab").filter(has_text="Alice Chen")
    expect(alice_tab.get_by_test_id("tab-unread")).to_have_text("new", timeout=SLOW)
    alice_tab.click()
    eli_alice = conversation(eli, "Alice Chen")
    expect(eli_alice).to_be_visible()
    expect(alice.get_by_test_id("handoff").last).to_contain_text("Eli has joined the chat", timeout=SLOW)
    eli_alice.get_by_test_id("resolve").click()
    expect(eli_alice.get_by_test_id("conversation-ended")).to_be_visible()
    expect(widget_message(alice, "system", "has closed this chat").last).to_be_visible(timeout=SLOW)


def test_reconnect_shows_each_message_once_in_order(new_context):
    agent_context = new_context()
    agent = agent_context.new_page()
    handshakes: list[str] = []
    agent.on(
        "websocket",
        lambda ws: ws.on(
            "framesent", lambda p: handshakes.append(p) if isinstance(p, str) and p.startswith("40/agent") else None
        ),
    )
    agent.goto(CONSOLE)
    agent.get_by_test_id("login-email").fill(DANA[0])
    agent.get_by_test_id("login-password").fill(DANA[1])
    agent.get_by_test_id("login-submit").click()
    expect(agent.get_by_test_id("connection-state")).to_have_attribute("data-state", "online", timeout=SLOW)
    alice = customer(new_context, ALICE)
    conv = hand_off(alice, agent, "Alice Chen")
    hello = f"hello before the outage {tag()}"
    reply(agent, conv, hello)

    agent_context.set_offline(True)
    expect(agent.get_by_test_id("connection-state")).to_have_attribute("data-state", "reconnecting", timeout=SLOW)
    missed = f"written while the agent was offline {tag()}"
    says(alice, missed)
    agent_context.set_offline(False)
    expect(agent.get_by_test_id("connection-state")).to_have_attribute("data-state", "online", timeout=30_000)

    expect(transcript_message(conv, "customer", missed)).to_have_count(1, timeout=SLOW)
    expect(transcript_message(conv, "agent", hello)).to_have_count(1)
    # the reconnect said what it had seen, so only the missed messages came again
    assert any('"last_seq"' in h for h in handshakes[1:]), handshakes
    expect(agent.get_by_test_id("conversation")).to_have_count(1)
    agent.wait_for_timeout(3000)  # the re-sent chats have settled: it is still ours
    expect(conv).to_have_attribute("data-state", "live")
    s = seqs(conv.get_by_test_id("transcript"))
    assert s == sorted(s) and len(s) == len(set(s)), s
    after = f"back online {tag()}"
    reply(agent, conv, after)
    expect(widget_message(alice, "agent", after)).to_have_count(1, timeout=SLOW)

    # a reload: the chat comes back from the server, without a new-chat notice
    agent.reload()
    conv = conversation(agent, "Alice Chen")
    expect(conv).to_be_visible(timeout=SLOW)
    expect(transcript_message(conv, "agent", after)).to_have_count(1)
    expect(agent).to_have_title("Agent console")
    conv.get_by_test_id("resolve").click()
    expect(conv.get_by_test_id("conversation-ended")).to_be_visible()


def test_an_away_console_reconnects_away(new_context):
    """The handshake carries the console's status, so the server never counts
    a reconnecting away agent as online (it would assign them a chat)."""
    agent = console(new_context, ELI)
    handshakes: list[str] = []
    agent.on(
        "websocket",
        lambda ws: ws.on(
            "framesent", lambda p: handshakes.append(p) if isinstance(p, str) and p.startswith("40/agent") else None
        ),
    )
    agent.get_by_test_id("status-away").click()
    expect(agent.get_by_test_id("status-away")).to_have_attribute("aria-pressed", "true", timeout=SLOW)
    agent.reload()
    expect(agent.get_by_test_id("connection-state")).to_have_attribute("data-state", "away", timeout=SLOW)
    assert any('"status":"away"' in h for h in handshakes), handshakes

    def eli_on_the_server() -> str:
        team = agent.evaluate("""async () => {
            const r = await fetch("/api/agent/team", {headers: {Authorization: "Bearer " +
                localStorage.getItem("chatbot.agent.token")}});
            return await r.json();
        }""")
        return next(a["status"] for a in team["agents"] if a["name"] == ELI[2])

    assert eli_on_the_server() == "away"
    agent.get_by_test_id("status-online").click()
    expect(agent.get_by_test_id("connection-state")).to_have_attribute("data-state", "online", timeout=SLOW)
    assert eli_on_the_server() == "online"


def test_supervisor_sees_handoffs_agents_and_staffing(new_context):
    agent = console(new_context, DANA)
    alice = customer(new_context, ALICE)
    conv = hand_off(alice, agent, "Alice Chen")
    reply(agent, conv, f"Hi, Dana here {tag()}")

    page = new_context().new_page()
    page.goto(SUPERVISOR)
    page.get_by_test_id("login-brand").select_option("cltiktok")
    page.get_by_test_id("login-email").fill(OLGA[0])
    page.get_by_test_id("login-password").fill(OLGA[1])
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("supervisor")).to_be_visible()
    handoffs = page.get_by_test_id("kpi-handoffs-value")
    expect(handoffs).to_have_text(re.compile(r"^\d+$"), timeout=SLOW)
    assert int(handoffs.inner_text()) >= 1
    expect(page.get_by_test_id("kpi-within-5-value")).to_have_text(re.compile(r"^\d+%$"))
    expect(page.get_by_test_id("kpi-median-wait-value")).not_to_have_text("—")
    for figure in ("kpi-within-10", "kpi-p90-wait", "kpi-breaches", "kpi-abandoned", "kpi-containment", "kpi-rating"):
        expect(page.get_by_test_id(figure)).to_be_visible()
    # agents online and their load, beside the Erlang C estimate
    dana_row = page.get_by_test_id("agent-row").filter(has_text="Dana")
    expect(dana_row).to_contain_text("Online")
    expect(dana_row.get_by_test_id("agent-load")).to_have_text("1")
    expect(page.get_by_test_id("agents-online")).to_have_text(re.compile(r"^[1-9]\d*$"))
    expect(page.get_by_test_id("agents-needed")).to_have_text(re.compile(r"^\d+$"))
    expect(page.get_by_test_id("staffing")).to_contain_text("80% of chats within 5 minutes")

    # live: the resolved chat leaves Dana's load at the next refresh (every 5 s)
    conv.get_by_test_id("resolve").click()
    expect(conv.get_by_test_id("conversation-ended")).to_be_visible()
    expect(dana_row.get_by_test_id("agent-load")).to_have_text("0", timeout=SLOW)

    # the console links to the view; an agent without the supervisor right is told so
    agent.get_by_test_id("supervisor-link").click()
    expect(agent).to_have_url(re.compile(r"/static/supervisor\.html$"))
    expect(agent.get_by_test_id("login-error")).to_contain_text("does not have the supervisor right", timeout=SLOW)
