"""Flows through the website chat widget, in headless Chromium against the real server:
a cancellation walked through quick-reply buttons (issue 4), policy answers with their
source, a dispute with a screenshot uploaded through the paperclip, file names and
upload errors shown as text, and how the widget shows the handoff (queue line, agent
badge, breach offer, star rating).

The server and its database are shared with test_widget.py (conftest's session
`live_server`), so every test writes texts of its own and looks for those. Each
account signs in through the form once; later tests reuse its session (the login
endpoint allows 20 attempts per address in a burst, and test_widget.py spends most).
"""

from __future__ import annotations

import json
import re
import struct
import uuid
import zlib

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

SHOP = "/static/shop/cltiktok.html"
TOKEN_KEY = "chatbot.token.cltiktok"
USER_KEY = "chatbot.user.cltiktok"
ALICE = ("alice@example.com", "alice-demo-pass")
BOB = ("bob@example.com", "bob-demo-pass")
REPLY_TIMEOUT = 15_000
XSS_NAME = "<img src=x onerror=alert(1)>"
ACCEPT = "image/png,image/jpeg,image/gif,image/webp"


def tag() -> str:
    return uuid.uuid4().hex[:8]


def png(width: int = 4, height: int = 3) -> bytes:
    """A small valid PNG (8-bit RGB), written by hand: zlib and struct, no Pillow."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes((200, 30, 60)) * width for _ in range(height))  # filter 0 + pixels
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# ------------------------------------------------------------------ helpers --


@pytest.fixture(scope="module")
def sessions() -> dict:
    """account email -> (token, user JSON) of a session opened through the form."""
    return {}


def open_widget(page) -> None:
    launcher = page.get_by_test_id("launcher")
    expect(launcher).to_be_visible()
    if launcher.get_attribute("aria-expanded") != "true":
        launcher.click()
    expect(page.get_by_test_id("panel")).to_be_visible()


def customer_page(new_context, live_server: str, sessions: dict, account, **context_args):
    """A page of the shop with the widget open and signed in as `account`: through the
    login form the first time, with that session in localStorage afterwards."""
    email, password = account
    if email in sessions:
        token, user = sessions[email]
        context_args["storage_state"] = {
            "cookies": [],
            "origins": [
                {
                    "origin": live_server,
                    "localStorage": [{"name": TOKEN_KEY, "value": token}, {"name": USER_KEY, "value": user}],
                }
            ],
        }
    page = new_context(**context_args).new_page()
    return page, (lambda: _sign_in(page, sessions, email, password))


def _sign_in(page, sessions: dict, email: str, password: str):
    page.goto(SHOP)
    open_widget(page)
    if email not in sessions:
        page.get_by_test_id("email").fill(email)
        page.get_by_test_id("password").fill(password)
        page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("input")).to_be_visible()
    expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "online", timeout=REPLY_TIMEOUT)
    if email not in sessions:
        sessions[email] = (
            page.evaluate("k => localStorage.getItem(k)", TOKEN_KEY),
            page.evaluate("k => localStorage.getItem(k)", USER_KEY),
        )
    return page


def signed_in(new_context, live_server, sessions, account, **context_args):
    page, sign_in = customer_page(new_context, live_server, sessions, account, **context_args)
    return sign_in()


def messages(page, sender: str):
    return page.locator(f'[data-testid="message"][data-sender="{sender}"]')


def customer_message(page, text: str):
    return messages(page, "customer").filter(
        has=page.locator(".cbw-bubble", has_text=re.compile("^" + re.escape(text) + "$"))
    )


def stored(page, text: str):
    """The customer's latest message `text`, once the server has stored it (it has a
    seq), as a locator by that seq: the shared history may hold the same text before."""
    latest = customer_message(page, text).last
    expect(latest).to_have_attribute("data-seq", re.compile(r"^\d+$"), timeout=REPLY_TIMEOUT)
    return page.locator(f'[data-testid="message"][data-seq="{latest.get_attribute("data-seq")}"]')


def send(page, text: str):
    box = page.get_by_test_id("input")
    box.fill(text)
    box.press("Enter")
    expect(box).to_have_value("")
    return stored(page, text)


def click_reply(page, button, sends: str | None = None):
    """Click a quick-reply button; its text (or `sends`) goes out as the customer's message."""
    label = sends if sends is not None else button.inner_text().strip()
    button.click()
    return stored(page, label)


def reply_to(page, sent):
    """The first bot message after the stored customer message `sent`."""
    seq = int(sent.get_attribute("data-seq"))
    page.wait_for_function(
        """seq => [...document.querySelectorAll('[data-testid="message"][data-sender="bot"]')]
                   .some(e => Number(e.dataset.seq) > seq)""",
        arg=seq,
        timeout=REPLY_TIMEOUT,
    )
    first = page.evaluate(
        """seq => Math.min(...[...document.querySelectorAll('[data-testid="message"][data-sender="bot"]')]
                   .map(e => Number(e.dataset.seq)).filter(s => s > seq))""",
        seq,
    )
    reply = page.locator(f'[data-testid="message"][data-sender="bot"][data-seq="{first}"]')
    expect(reply).to_be_visible()
    return reply


def seqs(page) -> list[int]:
    return [
        int(s)
        for s in page.locator('[data-testid="message"][data-seq]').evaluate_all("els => els.map(e => e.dataset.seq)")
    ]


def choose_files(page, *files) -> None:
    """Click the paperclip and pick `files` ({name, mimeType, buffer}) in the file chooser."""
    with page.expect_file_chooser() as chooser:
        page.get_by_test_id("attach").click()
    chooser.value.set_files(list(files))


def quick_reply(page, label):
    return page.get_by_test_id("quick-replies").get_by_test_id("quick-reply").filter(has_text=label)


# -------------------------------------------------------------------- tests --


def test_cancel_an_order_through_quick_replies(new_context, live_server, sessions):
    """Issue 4: Alice cancels CT-100235 with the widget's buttons only, then asks for its status."""
    page = signed_in(new_context, live_server, sessions, ALICE)
    which = reply_to(page, send(page, "I want to cancel an order"))
    expect(which.locator(".cbw-bubble")).to_contain_text(re.compile(r"which order", re.I))
    # quick replies listing her orders, under the latest message
    buttons = page.get_by_test_id("quick-replies").get_by_test_id("quick-reply")
    expect(buttons.filter(has_text="CT-100235")).to_have_count(1)
    expect(buttons.filter(has_text="CT-100234")).to_have_count(1)
    expect(buttons.filter(has_text="CT-100300")).to_have_count(0)  # Bob's order
    picked = click_reply(page, buttons.filter(has_text="CT-100235"))
    expect(picked.locator(".cbw-bubble")).to_contain_text("CT-100235")

    # the bot asks to confirm, with its source, and two buttons
    confirm = reply_to(page, picked)
    expect(confirm.locator(".cbw-bubble")).to_contain_text("CT-100235")
    expect(confirm.locator(".cbw-bubble")).to_contain_text(re.compile(r"cancel it\?", re.I))
    expect(confirm.get_by_test_id("citation")).to_contain_text("Source: cltiktok Customer Support Policy, section 1.1")
    expect(quick_reply(page, "Yes, cancel it")).to_be_visible()
    expect(quick_reply(page, "No, keep it")).to_be_visible()
    done = reply_to(page, click_reply(page, quick_reply(page, "Yes, cancel it")))
    expect(done.locator(".cbw-bubble")).to_contain_text(re.compile(r"order CT-100235 is cancelled", re.I))
    expect(page.get_by_test_id("quick-replies")).to_have_count(0)  # the latest message offers none

    status = reply_to(page, send(page, "status of CT-100235"))
    expect(status.locator(".cbw-bubble")).to_contain_text(re.compile(r"CT-100235.*\bcancelled\b", re.I | re.S))
    s = seqs(page)
    assert s == sorted(s) and len(s) == len(set(s)), s


def test_a_button_sends_its_payload_beside_its_title(new_context, live_server, sessions):
    """Buttons carry payloads (docs/protocol.md): the widget sends the one the server offered."""
    page, sign_in = customer_page(new_context, live_server, sessions, ALICE)
    sent_frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent_frames.append(str(frame))))
    sign_in()
    reply_to(page, send(page, "show me my orders"))  # a button per order, whatever earlier tests changed
    click_reply(page, quick_reply(page, "CT-100236"))
    messages_sent = [json.loads(f[f.index("[") :]) for f in sent_frames if '"message"' in f and "[" in f]
    clicked = [data for event, data, *_ in messages_sent if event == "message" and "payload" in data]
    assert clicked and clicked[-1]["payload"] == {"intent": "order_status", "entities": {"order": "CT-100236"}}
    assert clicked[-1]["text"].startswith("CT-100236")


def test_policy_answer_shows_its_source(new_context, live_server, sessions):
    page = signed_in(new_context, live_server, sessions, BOB)
    question = send(page, f"what is your phone number {tag()}")
    reply = reply_to(page, question)
    citation = reply.get_by_test_id("citation")
    expect(citation).to_have_count(1)
    expect(citation).to_have_text(re.compile(r"^Source: cltiktok Customer Support Policy, section 2\b"))
    # small and muted, under the bubble, not inside it
    expect(reply.locator(".cbw-bubble").get_by_test_id("citation")).to_have_count(0)
    box, bubble = citation.bounding_box(), reply.locator(".cbw-bubble").bounding_box()
    assert box and bubble and box["y"] >= bubble["y"] + bubble["height"] - 1, (box, bubble)
    size = citation.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size < 14, size
    # the customer's own messages carry none
    expect(question.get_by_test_id("citation")).to_have_count(0)


def test_dispute_with_a_screenshot_and_upload_errors(new_context, live_server, sessions):
    """The dispute flow: order, description, a screenshot through the paperclip, "done"."""
    page = signed_in(new_context, live_server, sessions, ALICE)
    expect(page.get_by_test_id("attach-input")).to_have_attribute("accept", ACCEPT)
    error = page.get_by_test_id("attach-error")
    expect(error).to_be_hidden()

    # checked in the browser first: not an image, too large
    choose_files(page, {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"just some text"})
    expect(error).to_be_visible()
    expect(error).to_contain_text("“notes.txt” can't be attached: only PNG, JPEG, GIF or WebP images")
    choose_files(page, {"name": "huge.png", "mimeType": "image/png", "buffer": b"\0" * (5 * 1024 * 1024 + 1)})
    expect(error).to_contain_text("“huge.png” is too large (5.0 MB): images can be up to 5 MB")
    expect(page.get_by_test_id("upload")).to_have_count(0)  # nothing went up
    # checked by the server: an "image" that is not one; its error text is shown
    choose_files(page, {"name": "fake.png", "mimeType": "image/png", "buffer": b"this is not a picture"})
    expect(error).to_have_text(
        re.compile("“fake.png” was not attached: only PNG, JPEG, GIF or WebP images can be attached"),
        timeout=REPLY_TIMEOUT,
    )
    expect(page.get_by_test_id("upload")).to_have_count(0)
    expect(messages(page, "customer").filter(has_text="📎 fake.png")).to_have_count(0)
    error.get_by_role("button", name="Dismiss").click()
    expect(error).to_be_hidden()

    asks_order = reply_to(page, send(page, f"I want to open a dispute {tag()}"))
    expect(asks_order.locator(".cbw-bubble")).to_contain_text("Which order is it about?")
    picked = click_reply(page, quick_reply(page, "CT-100234"))
    expect(reply_to(page, picked).locator(".cbw-bubble")).to_contain_text("describe what happened")
    asks_shots = reply_to(page, send(page, f"The seller sent earbuds that never charged {tag()}"))
    expect(asks_shots.locator(".cbw-bubble")).to_contain_text("paperclip")
    expect(quick_reply(page, "Done")).to_be_visible()

    # the upload is held back a moment, to see its pending state
    held = []
    page.route("**/api/attachments", lambda route: held.append(route))
    choose_files(page, {"name": "receipt.png", "mimeType": "image/png", "buffer": png()})
    uploading = page.get_by_test_id("upload")
    expect(uploading).to_have_count(1)
    expect(uploading).to_have_attribute("data-state", "uploading")
    expect(uploading).to_contain_text("receipt.png")
    expect(uploading).to_contain_text("Uploading")
    expect(uploading.get_by_role("progressbar")).to_be_visible()
    expect(error).to_be_hidden()
    # "done" typed meanwhile waits for the upload, so that the case counts the screenshot
    page.get_by_test_id("input").fill("done")
    page.get_by_test_id("input").press("Enter")
    expect(customer_message(page, "done").last).to_contain_text("Waiting for the upload to finish")
    for _ in range(50):
        if held:
            break
        page.wait_for_timeout(100)
    assert len(held) == 1
    request = held[0].request
    assert request.method == "POST"
    assert request.headers["authorization"] == "Bearer " + sessions[ALICE[0]][0]
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert b'name="file"; filename="receipt.png"' in request.post_data_buffer
    held[0].continue_()
    page.unroute("**/api/attachments")

    note = customer_message(page, "📎 receipt.png (1 KB)")
    expect(note).to_have_count(1, timeout=REPLY_TIMEOUT)
    expect(uploading).to_have_count(0)
    case = reply_to(page, stored(page, "done"))
    expect(case.locator(".cbw-bubble")).to_contain_text("Mediation case #")
    expect(case.locator(".cbw-bubble")).to_contain_text("for order CT-100234")
    expect(case.locator(".cbw-bubble")).to_contain_text(re.compile(r"\b1 screenshot\b(?!s)"))
    expect(case.get_by_test_id("citation")).to_contain_text("section 4")
    # the server's message came twice (the upload's answer and the socket): shown once
    page.wait_for_timeout(300)
    expect(note).to_have_count(1)
    s = seqs(page)
    assert s == sorted(s) and len(s) == len(set(s)), s
    # the case message asks whether to bring in a person: no
    expect(reply_to(page, click_reply(page, quick_reply(page, "No, thanks"))).locator(".cbw-bubble")).not_to_have_text(
        ""
    )


def test_markup_in_a_file_name_is_text(new_context, live_server, sessions, watch):
    """A file named like an HTML tag is displayed literally: in an error, while it
    uploads, and in the server's note (the server strips such characters from names)."""
    page = signed_in(new_context, live_server, sessions, BOB)

    choose_files(page, {"name": f"{XSS_NAME}.txt", "mimeType": "text/plain", "buffer": b"<script>alert(1)</script>"})
    expect(page.get_by_test_id("attach-error")).to_contain_text(f"“{XSS_NAME}.txt” can't be attached")

    name = f"{XSS_NAME} {tag()}.png"
    held = []
    page.route("**/api/attachments", lambda route: held.append(route))
    choose_files(page, {"name": name, "mimeType": "image/png", "buffer": png(2, 2)})
    uploading = page.get_by_test_id("upload")
    expect(uploading.locator(".cbw-upload-name")).to_have_text(name)
    expect(page.get_by_test_id("attach-error")).to_be_hidden()
    expect(page.get_by_test_id("messages").locator("img")).to_have_count(0)
    for _ in range(50):
        if held:
            break
        page.wait_for_timeout(100)
    held[0].continue_()
    page.unroute("**/api/attachments")

    stored_name = re.sub(r"[^0-9A-Za-z._\- ]", "", name).strip()  # as the server's clean_filename keeps it
    note = customer_message(page, f"📎 {stored_name} (1 KB)")
    expect(note).to_have_count(1, timeout=REPLY_TIMEOUT)
    expect(uploading).to_have_count(0)
    expect(page.get_by_test_id("messages").locator("img")).to_have_count(0)
    expect(page.locator("img[src=x]")).to_have_count(0)

    # and from the history, after a reload
    page.reload()
    open_widget(page)
    expect(customer_message(page, f"📎 {stored_name} (1 KB)")).to_have_count(1, timeout=REPLY_TIMEOUT)
    expect(page.get_by_test_id("messages").locator("img")).to_have_count(0)
    page.wait_for_timeout(300)  # give a would-be onerror handler its chance
    assert watch.dialogs == [], watch.dialogs


def test_handoff_line_agent_badge_breach_offer_and_star_rating(new_context, live_server, sessions):
    """How the widget shows a handoff. The server's frames are injected into a real
    session's WebSocket (a real handoff needs an agent online within opening hours:
    test_agent_console.py runs one), and the customer's messages are acknowledged by
    the test instead of the server, so the conversation's seqs stay consistent."""
    page, sign_in = customer_page(new_context, live_server, sessions, BOB)
    sockets = []
    state = {"conversation_id": None, "seq": 0, "id": 20_000_000}
    sent: list[str] = []

    def next_message(sender: dict, text: str, **extra) -> dict:
        state["seq"] += 1
        state["id"] += 1
        return {
            "id": state["id"],
            "conversation_id": state["conversation_id"],
            "seq": state["seq"],
            "sender": sender,
            "text": text,
            "created_at": "2030-01-07T17:05:00Z",
            **extra,
        }

    def proxy(ws):
        server = ws.connect_to_server()

        def from_server(frame) -> None:
            if isinstance(frame, str) and frame.startswith('42/chat,["conversation"'):
                conv = json.loads(frame[len("42/chat,") :])[1]
                state["conversation_id"] = conv["id"]
                state["seq"] = max([m["seq"] for m in conv["messages"]] + [0])
            ws.send(frame)

        def from_page(frame) -> None:
            m = re.match(r'^42/chat,(\d+)(\["message",.*)$', frame, re.S) if isinstance(frame, str) else None
            if not m:
                server.send(frame)
                return
            text = json.loads(m.group(2))[1]["text"]
            sent.append(text)
            message = next_message({"type": "customer", "name": "Bob Rivera"}, text)
            ws.send(f"43/chat,{m.group(1)}" + json.dumps([{"ok": True, "message": message}]))

        server.on_message(from_server)
        ws.on_message(from_page)
        sockets.append(ws)

    page.route_web_socket(re.compile(r".*/socket\.io/.*"), proxy)
    sign_in()
    assert sockets and state["conversation_id"], "the widget did not connect over WebSocket"

    def server_sends(event: str, data) -> None:
        sockets[-1].send("42/chat," + json.dumps([event, data]))

    bar = page.get_by_test_id("handoff-status")
    expect(bar).to_be_hidden()  # with the bot: no line

    # queued: position and wait, updated as the queue moves
    server_sends(
        "message",
        next_message(
            {"type": "system", "name": "System"}, "I've passed your chat to our team. You can keep writing here."
        ),
    )
    server_sends("handoff", {"state": "queued", "position": 3, "eta_seconds": 420})
    expect(bar).to_be_visible()
    expect(bar).to_have_text("Waiting for an agent (position 3, about 7 min)")
    expect(bar).to_have_attribute("data-state", "queued")
    server_sends("handoff", {"state": "queued", "position": 1, "eta_seconds": 20})
    expect(bar).to_have_text("Waiting for an agent (position 1, less than a minute)")

    # the breach offer: quick replies of a system message
    server_sends(
        "message",
        next_message(
            {"type": "system", "name": "System"},
            "We're sorry: nobody from our team has been able to answer within 10 minutes.",
            quick_replies=["Continue by email", "Keep waiting"],
        ),
    )
    expect(quick_reply(page, "Continue by email")).to_be_visible()
    click_reply(page, quick_reply(page, "Keep waiting"))
    assert sent[-1] == "Keep waiting"
    expect(page.get_by_test_id("quick-replies")).to_have_count(0)

    # an agent joins, types and writes: the line names her; her message has a badge
    server_sends("handoff", {"state": "assigned", "agent": {"name": "Dana"}})
    expect(bar).to_have_text("Chatting with Dana")
    expect(bar).to_have_attribute("data-state", "agent")
    server_sends("typing", {"on": True, "sender": {"type": "agent", "name": "Dana"}})
    expect(page.get_by_test_id("typing")).to_have_text("Dana is typing…")
    text = f"Hi Bob, I'm Dana <b>from support</b> {tag()}"
    server_sends("message", next_message({"type": "agent", "name": "Dana"}, text))
    expect(page.get_by_test_id("typing")).to_be_hidden()
    agent = messages(page, "agent").last
    expect(agent.locator(".cbw-bubble")).to_have_text(text)
    expect(agent.locator(".cbw-sender")).to_have_text("Dana")
    expect(agent.get_by_test_id("agent-badge")).to_have_text("Support team")
    expect(page.get_by_test_id("messages").locator("b")).to_have_count(0)
    server_sends(
        "message",
        next_message({"type": "bot", "name": "Assistant"}, f"a bot line {tag()}", intent="greet", confidence=1.0),
    )
    bot = messages(page, "bot").last
    expect(bot.get_by_test_id("agent-badge")).to_have_count(0)
    agent_bg = agent.locator(".cbw-bubble").evaluate("e => getComputedStyle(e).backgroundColor")
    bot_bg = bot.locator(".cbw-bubble").evaluate("e => getComputedStyle(e).backgroundColor")
    assert agent_bg != bot_bg, (agent_bg, bot_bg)

    # resolved: the rating request (sent by the system) as five stars, 1 on the left
    server_sends(
        "message",
        next_message(
            {"type": "system", "name": "System"},
            "Dana has closed this chat. How did we do? Rate us from 1 (poor) to 5 (great).",
            quick_replies=["5", "4", "3", "2", "1"],
        ),
    )
    server_sends("handoff", {"state": "closed"})
    expect(bar).to_be_hidden()
    expect(page.get_by_test_id("handoff").last).to_contain_text("closed")
    stars = page.get_by_test_id("rating-button")
    expect(stars).to_have_count(5)  # still offered after the "closed" notice
    assert stars.evaluate_all("els => els.map(e => e.dataset.rating)") == ["1", "2", "3", "4", "5"]
    xs = [stars.nth(i).bounding_box()["x"] for i in range(5)]
    assert xs == sorted(xs), xs
    page.locator('[data-testid="rating-button"][data-rating="4"]').hover()
    expect(page.locator(".cbw-star--lit")).to_have_count(4)
    expect(page.get_by_test_id("rating")).to_contain_text("Very good")
    click_reply(page, page.locator('[data-testid="rating-button"][data-rating="4"]'), sends="4")
    assert sent[-1] == "4"
    expect(page.get_by_test_id("rating")).to_have_count(0)
