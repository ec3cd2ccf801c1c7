"""The website chat widget, driven in headless Chromium against the real server.

Each test gets fresh browser contexts (own localStorage), but the server and its
database are shared by the whole module, so every test writes texts of its own
(a unique tag) and looks for those, never for counts of the whole history.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

SHOP = "/static/shop/cltiktok.html"
TOKEN_KEY = "chatbot.token.cltiktok"
ALICE = ("alice@example.com", "alice-demo-pass")
BOB = ("bob@example.com", "bob-demo-pass")
CAROL = ("carol@example.com", "carol-demo-pass")
REPLY_TIMEOUT = 15_000  # the bot answers in well under a second; CI machines are slow


def tag() -> str:
    return uuid.uuid4().hex[:8]


# ------------------------------------------------------------------ helpers --


def open_widget(page) -> None:
    launcher = page.get_by_test_id("launcher")
    expect(launcher).to_be_visible()
    if launcher.get_attribute("aria-expanded") != "true":
        launcher.click()
    expect(page.get_by_test_id("panel")).to_be_visible()


def login(page, account=ALICE) -> None:
    open_widget(page)
    page.get_by_test_id("email").fill(account[0])
    page.get_by_test_id("password").fill(account[1])
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("input")).to_be_visible()
    expect(page.get_by_test_id("login-form")).to_be_hidden()
    expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "online")


def customer_message(page, text: str):
    return page.locator('[data-testid="message"][data-sender="customer"]').filter(
        has=page.locator(".cbw-bubble", has_text=re.compile("^" + re.escape(text) + "$"))
    )


def bot_reply_to(page, text: str):
    """Bot messages shown after the customer's message `text`."""
    sel = '[data-testid="message"][data-sender="customer"]:has-text(%s) ~ [data-testid="message"][data-sender="bot"]'
    return page.locator(sel % json.dumps(text))


def send(page, text: str, *, press_enter: bool = False):
    box = page.get_by_test_id("input")
    box.fill(text)
    if press_enter:
        box.press("Enter")
    else:
        page.get_by_test_id("send").click()
    expect(box).to_have_value("")
    sent = customer_message(page, text)
    expect(sent).to_have_count(1)
    # the pending message is replaced by the acknowledged one (it gets a seq)
    expect(sent).to_have_attribute("data-seq", re.compile(r"^\d+$"), timeout=REPLY_TIMEOUT)
    expect(sent).not_to_have_attribute("data-pending", re.compile(".*"))
    return sent


def expect_bot_reply(page, text: str):
    reply = bot_reply_to(page, text).first
    expect(reply).to_be_visible(timeout=REPLY_TIMEOUT)
    expect(reply.locator(".cbw-bubble")).not_to_have_text("")
    return reply


def seqs(page) -> list[int]:
    return [
        int(s)
        for s in page.locator('[data-testid="message"][data-seq]').evaluate_all("els => els.map(e => e.dataset.seq)")
    ]


# -------------------------------------------------------------------- tests --


def test_login_and_bot_answers(page, watch):
    """(a) open the widget on the shop, log in, ask, and get the bot's answer."""
    page.goto(SHOP)
    expect(page.get_by_test_id("launcher")).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_test_id("panel")).to_be_hidden()
    open_widget(page)
    expect(page.get_by_test_id("connection-state")).to_contain_text("Sign in")
    login(page, ALICE)
    expect(page.get_by_test_id("logout")).to_be_visible()
    expect(page.get_by_text("Signed in as Alice Chen")).to_be_visible()

    text = f"where is my order {tag()}"
    sent = send(page, text, press_enter=True)
    expect(sent).to_be_visible()
    reply = expect_bot_reply(page, text)
    expect(reply.locator(".cbw-bubble")).to_contain_text(re.compile("order", re.I))
    # bot messages carry the sender's name and a time
    expect(reply.locator(".cbw-sender")).not_to_have_text("")
    expect(reply.locator("time")).to_have_text(re.compile(r"\d"))
    # the token is kept for reloads and other tabs
    assert page.evaluate("k => localStorage.getItem(k)", TOKEN_KEY)
    # messages are in seq order
    s = seqs(page)
    assert s == sorted(s) and len(s) == len(set(s)), s
    assert not watch.dialogs


def test_xss_payload_is_shown_as_text(page, watch):
    """(b) markup typed by the customer is displayed literally, never parsed."""
    page.goto(SHOP)
    login(page, BOB)
    payload = f"<img src=x onerror=alert(1)> {tag()}"
    sent = send(page, payload)
    expect(sent.locator(".cbw-bubble")).to_have_text(payload)
    expect_bot_reply(page, payload)
    messages = page.get_by_test_id("messages")
    expect(messages.locator("img")).to_have_count(0)
    expect(page.locator("img[src=x]")).to_have_count(0)

    # the history path (rendered from the `conversation` event) as well
    page.reload()
    open_widget(page)
    expect(customer_message(page, payload)).to_be_visible()
    expect(customer_message(page, payload).locator(".cbw-bubble")).to_have_text(payload)
    expect(page.get_by_test_id("messages").locator("img")).to_have_count(0)
    page.wait_for_timeout(300)  # give a would-be onerror handler its chance
    assert watch.dialogs == [], watch.dialogs


def test_wrong_password_shows_error(page):
    """(c) a wrong password is answered with a visible error; the form stays."""
    page.goto(SHOP)
    open_widget(page)
    expect(page.get_by_test_id("login-error")).to_be_hidden()
    page.get_by_test_id("email").fill(CAROL[0])
    page.get_by_test_id("password").fill("not-the-password")
    page.get_by_test_id("login-submit").click()
    error = page.get_by_test_id("login-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(re.compile("wrong email or password", re.I))
    expect(page.get_by_test_id("input")).to_be_hidden()
    expect(page.get_by_test_id("login-submit")).to_be_enabled()
    assert page.evaluate("k => localStorage.getItem(k)", TOKEN_KEY) is None


def test_too_many_attempts_shows_error(page):
    """A 429 from /api/login is explained to the customer (response stubbed here, so
    the real account is not locked for the other tests)."""
    page.route(
        "**/api/login",
        lambda route: route.fulfill(
            status=429,
            content_type="application/json",
            body=json.dumps({"error": "too_many_attempts", "detail": "try again later"}),
        ),
    )
    page.goto(SHOP)
    open_widget(page)
    page.get_by_test_id("email").fill(ALICE[0])
    page.get_by_test_id("password").fill("whatever")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_contain_text(re.compile("too many attempts", re.I))
    expect(page.get_by_test_id("input")).to_be_hidden()


def test_reload_keeps_the_conversation(page):
    """(d) after a reload the history is shown again without logging in."""
    page.goto(SHOP)
    login(page, ALICE)
    text = f"hi, reload check {tag()}"
    send(page, text)
    reply_text = expect_bot_reply(page, text).locator(".cbw-bubble").inner_text()

    page.reload()
    open_widget(page)
    expect(page.get_by_test_id("login-form")).to_be_hidden()
    expect(customer_message(page, text)).to_be_visible(timeout=REPLY_TIMEOUT)
    expect(bot_reply_to(page, text).first.locator(".cbw-bubble")).to_have_text(reply_text)
    expect(customer_message(page, text)).to_have_count(1)
    s = seqs(page)
    assert s == sorted(s) and len(s) == len(set(s)), s
    # and the conversation goes on
    text2 = f"where is my refund {tag()}"
    send(page, text2)
    expect_bot_reply(page, text2)


def test_second_tab_shares_the_conversation(context):
    """(e) a second tab continues the same conversation and sees the first tab's messages."""
    tab1 = context.new_page()
    tab1.goto(SHOP)
    login(tab1, ALICE)
    first = f"hello from tab one {tag()}"
    send(tab1, first)
    expect_bot_reply(tab1, first)

    tab2 = context.new_page()
    tab2.goto(SHOP)
    open_widget(tab2)
    expect(tab2.get_by_test_id("login-form")).to_be_hidden()
    expect(customer_message(tab2, first)).to_be_visible(timeout=REPLY_TIMEOUT)

    live = f"where is my order CT-100234 {tag()}"
    send(tab1, live)
    expect(customer_message(tab2, live)).to_be_visible(timeout=REPLY_TIMEOUT)
    expect(customer_message(tab2, live)).to_have_count(1)
    expect(bot_reply_to(tab2, live).first).to_be_visible(timeout=REPLY_TIMEOUT)
    # both tabs show the same messages in the same order
    expect_bot_reply(tab1, live)
    for _ in range(50):
        if seqs(tab1)[-3:] == seqs(tab2)[-3:]:
            break
        tab1.wait_for_timeout(100)
    assert seqs(tab1)[-3:] == seqs(tab2)[-3:]


def test_quick_reply_sends_its_text(page):
    """(f) a bot message with quick replies shows buttons; clicking one sends its text."""
    page.goto(SHOP)
    login(page, ALICE)
    buttons = page.get_by_test_id("quick-reply")
    for prompt in ("where is my order", "what can you do", "hi"):
        text = f"{prompt} {tag()}"
        send(page, text)
        expect_bot_reply(page, text)
        page.wait_for_timeout(500)  # a second bot message may follow
        if buttons.count():
            break
    else:
        pytest.fail("the bot offered no quick replies to 'where is my order', 'what can you do' or 'hi'")

    first = buttons.first
    expect(first).to_be_visible()
    label = first.inner_text().strip()
    assert label
    first.click()
    sent = customer_message(page, label).last
    expect(sent).to_be_visible()
    expect(sent).to_have_attribute("data-seq", re.compile(r"^\d+$"), timeout=REPLY_TIMEOUT)
    last_customer = page.locator('[data-testid="message"][data-sender="customer"]').last
    expect(last_customer.locator(".cbw-bubble")).to_have_text(label)
    # the bot answers the quick reply like typed text
    expect(page.locator('[data-testid="message"]').last).to_have_attribute(
        "data-sender", re.compile("bot|agent|system"), timeout=REPLY_TIMEOUT
    )


def test_typing_is_signalled_while_the_customer_types(page):
    """typing {on: true} goes out while typing, {on: false} once the customer pauses."""
    frames: list[str] = []
    page.on(
        "websocket",
        lambda ws: ws.on(
            "framesent",
            lambda payload: frames.append(payload if isinstance(payload, str) else payload.decode("utf-8", "replace")),
        ),
    )
    page.goto(SHOP)
    login(page, ALICE)
    page.get_by_test_id("input").press_sequentially("hel", delay=50)

    def typing(on: bool) -> list[str]:
        return [f for f in frames if '"typing"' in f and ('"on":%s' % ("true" if on else "false")) in f]

    for _ in range(50):
        if typing(True):
            break
        page.wait_for_timeout(100)
    assert len(typing(True)) == 1, frames  # debounced: one "on" for a burst of keys
    for _ in range(50):
        if typing(False):
            break
        page.wait_for_timeout(100)
    assert typing(False), frames


def test_logout_returns_to_the_login_form(page):
    page.goto(SHOP)
    login(page, ALICE)
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login-form")).to_be_visible()
    expect(page.get_by_test_id("input")).to_be_hidden()
    expect(page.get_by_test_id("message")).to_have_count(0)
    assert page.evaluate("k => localStorage.getItem(k)", TOKEN_KEY) is None
    page.reload()
    open_widget(page)
    expect(page.get_by_test_id("login-form")).to_be_visible()


def test_bad_token_shows_login(page):
    """connect_error "unauthorized": the stored token is dropped and the login form shown."""
    page.goto(SHOP)
    page.evaluate("k => localStorage.setItem(k, 'not-a-valid-token')", TOKEN_KEY)
    page.reload()
    open_widget(page)
    expect(page.get_by_test_id("login-form")).to_be_visible(timeout=REPLY_TIMEOUT)
    expect(page.get_by_test_id("login-error")).to_contain_text(re.compile("sign in again", re.I))
    assert page.evaluate("k => localStorage.getItem(k)", TOKEN_KEY) is None


def test_reconnect_fetches_exactly_the_missed_messages(new_context):
    """After a lost connection the widget reconnects with last_seq and appends the
    messages written meanwhile (here: from another device), each once, in order."""
    ctx1 = new_context()
    tab = ctx1.new_page()
    handshakes: list[str] = []
    tab.on(
        "websocket",
        lambda ws: ws.on(
            "framesent", lambda p: handshakes.append(p) if isinstance(p, str) and p.startswith("40/chat") else None
        ),
    )
    tab.goto(SHOP)
    login(tab, BOB)
    before = f"before the outage {tag()}"
    send(tab, before)
    expect_bot_reply(tab, before)

    ctx1.set_offline(True)
    expect(tab.get_by_test_id("connection-state")).not_to_have_attribute("data-state", "online", timeout=REPLY_TIMEOUT)

    # written while offline: shown as waiting, sent on reconnect
    queued = f"written while offline {tag()}"
    tab.get_by_test_id("input").fill(queued)
    tab.get_by_test_id("input").press("Enter")
    waiting = customer_message(tab, queued)
    expect(waiting).to_have_attribute("data-pending", "true")
    expect(waiting).to_contain_text("Waiting for connection")

    other = new_context().new_page()  # bob on another device
    other.goto(SHOP)
    login(other, BOB)
    missed = f"sent from another device {tag()}"
    send(other, missed)
    expect_bot_reply(other, missed)

    ctx1.set_offline(False)
    expect(tab.get_by_test_id("connection-state")).to_have_attribute("data-state", "online", timeout=30_000)
    expect(customer_message(tab, missed)).to_be_visible(timeout=REPLY_TIMEOUT)
    expect(bot_reply_to(tab, missed).first).to_be_visible(timeout=REPLY_TIMEOUT)
    expect(customer_message(tab, missed)).to_have_count(1)
    expect(customer_message(tab, before)).to_have_count(1)
    expect(customer_message(tab, queued)).to_have_count(1)
    expect(customer_message(tab, queued)).to_have_attribute("data-seq", re.compile(r"^\d+$"), timeout=REPLY_TIMEOUT)
    expect(bot_reply_to(tab, queued).first).to_be_visible(timeout=REPLY_TIMEOUT)
    s = seqs(tab)
    assert s == sorted(s) and len(s) == len(set(s)), s
    assert any('"last_seq"' in h for h in handshakes[1:]), handshakes


def test_full_screen_on_a_phone(new_context):
    page = new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True).new_page()
    page.goto(SHOP)
    open_widget(page)
    box = page.get_by_test_id("panel").bounding_box()
    assert box is not None
    assert box["x"] == 0 and box["y"] == 0, box
    assert box["width"] == 375 and box["height"] == 740, box
    page.get_by_test_id("close").click()
    expect(page.get_by_test_id("panel")).to_be_hidden()
    expect(page.get_by_test_id("launcher")).to_be_visible()


def test_ttr_e_page_embeds_its_own_brand(page):
    page.goto("/static/shop/ttr-e.html")
    expect(page.get_by_text("ALL IN ONE").first).to_be_visible()
    login(page, CAROL)
    expect(page.get_by_role("heading", name="TTR-E Support")).to_be_visible()
    text = f"how much is ALL IN ONE {tag()}"
    send(page, text)
    expect(expect_bot_reply(page, text).locator(".cbw-bubble")).to_contain_text("$")
    assert page.evaluate("() => localStorage.getItem('chatbot.token.ttr-e')")


def test_landing_page_links(page):
    page.goto("/")
    expect(page.get_by_role("heading", name="Support chatbot demo")).to_be_visible()
    expect(page.get_by_text("alice@example.com")).to_be_visible()
    expect(page.get_by_text("carol-demo-pass")).to_be_visible()
    page.get_by_role("link", name="Open the cltiktok shop").click()
    expect(page).to_have_url(re.compile(r"/static/shop/cltiktok\.html$"))
    expect(page.get_by_test_id("launcher")).to_be_visible()


def test_server_events_typing_and_handoff(new_context):
    """How the widget shows `typing` and `handoff`: the frames are injected into a real
    session's WebSocket (the bot does not type, and a handoff needs an agent online
    within opening hours), with the customer's time zone set to New York."""
    page = new_context(timezone_id="America/New_York", locale="en-US").new_page()
    sockets = []
    conversation_ids = []

    def proxy(ws):
        server = ws.connect_to_server()  # the page's frames go to the server unchanged

        def from_server(frame) -> None:
            if isinstance(frame, str) and frame.startswith('42/chat,["conversation"'):
                conversation_ids.append(json.loads(frame[len("42/chat,") :])[1]["id"])
            ws.send(frame)

        server.on_message(from_server)
        sockets.append(ws)

    page.route_web_socket(re.compile(r".*/socket\.io/.*"), proxy)
    page.goto(SHOP)
    login(page, ALICE)
    assert sockets, "the widget did not connect over WebSocket"

    def server_sends(event: str, data) -> None:
        sockets[-1].send("42/chat," + json.dumps([event, data]))

    server_sends("typing", {"on": True, "sender": {"type": "agent", "name": "Dana"}})
    expect(page.get_by_test_id("typing")).to_be_visible()
    expect(page.get_by_test_id("typing")).to_have_text("Dana is typing…")
    server_sends("typing", {"on": False, "sender": {"type": "agent", "name": "Dana"}})
    expect(page.get_by_test_id("typing")).to_be_hidden()
    # the customer's own other tabs typing is not shown
    server_sends("typing", {"on": True, "sender": {"type": "customer", "name": "Alice Chen"}})
    page.wait_for_timeout(200)
    expect(page.get_by_test_id("typing")).to_be_hidden()

    server_sends("handoff", {"state": "queued", "position": 2, "eta_seconds": 300})
    notice = page.get_by_test_id("handoff").last
    expect(notice).to_contain_text("number 2 in the queue")
    expect(notice).to_contain_text("about 5 minutes")
    expect(page.get_by_test_id("connection-state")).to_contain_text("Waiting for an agent")
    server_sends("handoff", {"state": "queued", "position": 1, "eta_seconds": 90})
    expect(notice).to_contain_text("number 1 in the queue")  # updated in place
    expect(notice).to_contain_text("about 2 minutes")

    server_sends("handoff", {"state": "assigned", "agent": {"name": "Dana"}})
    expect(page.get_by_test_id("handoff").last).to_have_text(re.compile("Dana has joined the chat"))
    expect(page.get_by_test_id("connection-state")).to_contain_text("Chatting with Dana")

    server_sends("handoff", {"state": "offline", "opens_at": "2030-01-07T17:00:00Z", "email": "cltiktokshop@gmail.com"})
    offline = page.get_by_test_id("handoff").last
    expect(offline).to_contain_text("offline")
    expect(offline).to_contain_text("12:00 PM")  # 17:00 UTC in New York, in January
    expect(offline).to_contain_text("Jan 7")
    expect(offline.get_by_role("link", name="cltiktokshop@gmail.com")).to_have_attribute(
        "href", "mailto:cltiktokshop@gmail.com"
    )

    # an agent's message: left side, with the agent's name, text kept literal
    text = f"<b>Hi</b> from Dana {tag()}"
    assert conversation_ids
    server_sends(
        "message",
        {
            "id": 10_000_000,
            "conversation_id": conversation_ids[-1],
            "seq": 10_000_000,
            "sender": {"type": "agent", "name": "Dana"},
            "text": text,
            "created_at": "2030-01-07T17:05:00Z",
        },
    )
    agent = page.locator('[data-testid="message"][data-sender="agent"]').last
    expect(agent.locator(".cbw-bubble")).to_have_text(text)
    expect(agent.locator(".cbw-sender")).to_have_text("Dana")
    expect(page.get_by_test_id("messages").locator("b")).to_have_count(0)
    expect(page.locator(".cbw-divider")).to_have_count(0)  # same conversation


def test_login_and_logout_follow_across_tabs(context):
    """Signing in or out in one tab does the same in the other open tabs."""
    tab1 = context.new_page()
    tab1.goto(SHOP)
    tab2 = context.new_page()
    tab2.goto(SHOP)
    open_widget(tab2)
    expect(tab2.get_by_test_id("login-form")).to_be_visible()

    login(tab1, ALICE)
    expect(tab2.get_by_test_id("login-form")).to_be_hidden()
    expect(tab2.get_by_test_id("input")).to_be_visible()
    expect(tab2.get_by_text("Signed in as Alice Chen")).to_be_visible()
    expect(tab2.get_by_test_id("connection-state")).to_have_attribute("data-state", "online")

    tab2.get_by_test_id("logout").click()
    expect(tab2.get_by_test_id("login-form")).to_be_visible()
    open_widget(tab1)
    expect(tab1.get_by_test_id("login-form")).to_be_visible()
    expect(tab1.get_by_test_id("message")).to_have_count(0)
