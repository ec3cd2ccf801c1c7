"""Text is text on every surface: script payloads put into customer messages, a
customer's name, an agent's note and reply, and an operator's answer are shown
literally in the widget, the agent console and the operator console, in Chromium,
and nothing in them runs.

How "nothing runs" is checked. The pages that show the payloads are opened in
contexts that do not enforce the pages' Content-Security-Policy (`bypass_csp`):
the CSP is a second line of defence, and with it on, markup a page wrongly parsed
from text would be blocked rather than run, so a rendering bug could hide behind
it. Without it, a payload the page parsed as HTML would really set
`window.__xss`. Each page starts with a trap for that name (an init script), and
after the payloads are shown:

- `window.__xss` is still undefined;
- the message, note, name or answer that carries them contains no element
  (no img, svg, script, iframe, link), and displays every payload as text;
- the page has no event-handler attribute, no `javascript:` link, no inline
  script and no `img[src=x]` anywhere (the product's pages have none of their own);
- the word "click" (the text of the link payloads) is clicked where it is shown,
  so a `javascript:` link that had been built from it would run.

Separately, the widget's demo shop, the agent console and the operator console
are served with a CSP whose script-src allows no inline code, and with the CSP
on, an inline handler injected into the page does not run.

This module shares the operator console tests' server fixture (a temporary copy
of the intents where cltiktok's team never closes, a fresh database), started
once for the module, with an embed secret for cltiktok so that a host site can
vouch for a customer whose name it chooses (POST /api/login/embed).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import jwt
import pytest
import test_agent_console as agent_ui
import test_operator_console as operator_ui
import test_widget_flows as widget_ui
from playwright.sync_api import expect
from test_operator_console import operator_server  # noqa: F401  (a module-scoped fixture, reused)

pytestmark = pytest.mark.browser

SHOP = agent_ui.SHOP
CONSOLE = agent_ui.CONSOLE
OPERATOR = operator_ui.OPERATOR
SUPERVISOR = agent_ui.SUPERVISOR
SLOW = agent_ui.SLOW
EMBED_SECRET_ENV = "CHATBOT_CLTIKTOK_EMBED_SECRET"
EMBED_SECRET = "xss-test-embed-secret-" + uuid.uuid4().hex
INTENT = "payment_methods"  # the answer the operator rewrites (a plain policy answer)

PAYLOADS = (
    '<img src=x onerror="window.__xss=1">',
    '<svg onload="window.__xss=1">',
    '<a href="javascript:window.__xss=1">click</a>',
    "[click](javascript:window.__xss=1)",
    "<script>window.__xss=1</script>",
)
# A customer's name: what a host site's token says (the server keeps 100 characters).
XSS_NAME = "<img src=x onerror=window.__xss=1><a href=javascript:window.__xss=1>click<svg onload=window.__xss=1>"
assert len(XSS_NAME) <= 100

# Runs before the page's own scripts, in every page of a guarded context: a trap
# for the marker. `window.__xss` reads undefined unless a payload assigns it.
TRAP = """(() => {
  let value;
  Object.defineProperty(window, "__xss", {
    configurable: false,
    get() { return value; },
    set(v) { value = v === undefined ? "set to undefined" : v; },
  });
})();"""
# what a payload would have made of text, inside the element that shows it
MARKUP = "img, svg, script, iframe, object, embed, a, [onerror], [onload], [onclick], [href], [src]"
# what may be nowhere on the product's pages: they have no inline code of their own
NOWHERE = (
    '[onerror], [onload], [onclick], [onmouseover], [onfocus], a[href^="javascript:" i], '
    'script:not([src]), img[src="x"], iframe, object, embed'
)
CLICK_POINTS = """(root, word) => {
  const points = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = node.data.indexOf(word); i !== -1; i = node.data.indexOf(word, i + 1)) {
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + word.length);
      const box = range.getBoundingClientRect();
      if (box.width && box.height) points.push([box.x + box.width / 2, box.y + box.height / 2]);
    }
  }
  return points;
}"""


def tag() -> str:
    return uuid.uuid4().hex[:8]


def with_payloads(label: str) -> str:
    """A text carrying every payload, told apart from others by its label and a tag."""
    return f"{label} {tag()}: " + " ".join(PAYLOADS)


# ------------------------------------------------------------------ the server --


@pytest.fixture(scope="module", autouse=True)
def embed_secret() -> Iterator[str]:
    """cltiktok's embed secret, in the environment the module's server starts with."""
    mp = pytest.MonkeyPatch()
    mp.setenv(EMBED_SECRET_ENV, EMBED_SECRET)
    yield EMBED_SECRET
    mp.undo()


@pytest.fixture(scope="module")
def live_server(embed_secret: str, operator_server: operator_ui.Server) -> str:  # noqa: F811
    """conftest's page fixtures (script errors and dialogs watched) use this server."""
    return operator_server.url


# -------------------------------------------------------------------- helpers --


def guarded(new_context):
    """A context factory like `new_context`, whose pages do not enforce their CSP and
    start with the trap for `window.__xss` (see the module's docstring)."""

    def make(**kwargs):
        context = new_context(bypass_csp=True, **kwargs)
        context.add_init_script(TRAP)
        return context

    return make


def click_word(page, shown, word: str = "click") -> None:
    """Click every place where `shown` displays `word`: were it a link's text, the link would be followed."""
    shown.scroll_into_view_if_needed()
    points = shown.evaluate(CLICK_POINTS, word)
    assert points, f"{word!r} is not displayed in {shown}"
    for x, y in points:
        page.mouse.click(x, y)


def shown_as_text(page, shown, *texts: str, click: bool = True) -> None:
    """`shown` displays each of `texts` literally, and holds no element made from them;
    the word "click" in them is clicked where it is shown (unless `click` is false: a
    button, which would do what it is for)."""
    expect(shown).to_have_count(1, timeout=SLOW)
    expect(shown.locator(MARKUP)).to_have_count(0)
    for text in texts:
        expect(shown).to_contain_text(text)
    if click and any("click" in t for t in texts):
        click_word(page, shown)


def nothing_ran(page) -> None:
    expect(page.locator(NOWHERE)).to_have_count(0)
    page.wait_for_timeout(300)  # give a would-be handler (an image's error, a followed link) its chance
    assert page.evaluate("() => window.__xss") is None, f"a payload ran on {page.url}"


def host_site_session(new_context, live_server: str, name: str) -> tuple[str, tuple[str, str]]:
    """A session for a new customer that cltiktok's own site vouches for, with the
    name it chose: (email, (token, user JSON)) as test_widget_flows keeps sessions."""
    email = f"xss-{tag()}@example.com"
    now = int(time.time())
    token = jwt.encode(
        {"sub": email, "aud": "cltiktok", "iat": now, "exp": now + 300, "jti": str(uuid.uuid4()), "name": name},
        EMBED_SECRET,
        algorithm="HS256",
    )
    response = new_context().request.post(f"{live_server}/api/login/embed", data={"brand": "cltiktok", "token": token})
    assert response.status == 200, response.text()
    body = response.json()
    assert body["user"]["name"] == name  # stored as given
    return email, (body["token"], json.dumps(body["user"]))


# ---------------------------------------------------------------------- tests --


def test_pages_send_a_csp_without_inline_script(new_context, browser, live_server):
    page = new_context().new_page()  # watched: loading the pages violates none of it
    for path in (SHOP, CONSOLE, OPERATOR, SUPERVISOR):
        response = page.goto(path)
        assert response is not None and response.ok, path
        csp = response.headers.get("content-security-policy")
        assert csp, f"{path} is served without a Content-Security-Policy"
        directives = {d.split()[0].lower(): d.split()[1:] for d in csp.split(";") if d.strip()}
        script_src = directives.get("script-src", directives.get("default-src"))
        assert script_src, f"{path}: no script-src (or default-src) in {csp!r}"
        assert not {"'unsafe-inline'", "'unsafe-hashes'", "'unsafe-eval'", "*", "data:", "http:", "https:"} & {
            s.lower() for s in script_src
        }, f"{path}: script-src allows too much: {csp!r}"
        assert directives.get("object-src") == ["'none'"], f"{path}: {csp!r}"

    # and it is enforced: markup injected the way a rendering bug would inject it does not run
    # (its own context: the violations provoked here are expected, so this page is not watched)
    context = browser.new_context(base_url=live_server)
    try:
        probe = context.new_page()
        for path in (SHOP, CONSOLE, OPERATOR):
            probe.goto(path)
            violation = probe.evaluate("""() => new Promise(resolve => {
                document.addEventListener("securitypolicyviolation", e => resolve(e.effectiveDirective));
                document.body.insertAdjacentHTML("beforeend", '<img src=x onerror="window.__xss=1">');
                setTimeout(() => resolve(null), 3000);
            })""")
            assert violation and violation.startswith("script-src"), (path, violation)
            assert probe.evaluate("() => window.__xss") is None, path
    finally:
        context.close()


def test_messages_and_notes_are_text_in_the_widget_and_the_console(new_context, watch):
    """The customer's messages (history and live), the agent's note and the agent's
    reply, each carrying every payload, on both sides of a handoff."""
    make = guarded(new_context)
    agent = agent_ui.console(make, agent_ui.DANA)
    alice = agent_ui.customer(make, agent_ui.ALICE)
    before = with_payloads("before the handoff")
    agent_ui.says(alice, before)  # in the console: from the history of the `assigned` view
    expect(alice.locator('[data-testid="message"][data-sender="bot"]').last).to_be_visible(timeout=SLOW)
    conv = agent_ui.hand_off(alice, agent, "Alice Chen")
    live = with_payloads("after the handoff")
    agent_ui.says(alice, live)  # in the console: from a `message` event

    note = with_payloads("internal note")
    conv.get_by_test_id("mode-note").click()
    conv.get_by_test_id("composer-input").fill(note)
    conv.get_by_test_id("composer-input").press("Enter")
    shown_note = conv.get_by_test_id("note").filter(has_text=note)
    expect(shown_note).to_have_count(1, timeout=SLOW)
    conv.get_by_test_id("mode-reply").click()
    answer = with_payloads("the agent's reply")
    agent_ui.reply(agent, conv, answer)

    # the agent console
    for text in (before, live):
        shown_as_text(agent, agent_ui.transcript_message(conv, "customer", text).locator(".ac-bubble"), *PAYLOADS)
    shown_as_text(agent, shown_note.locator(".ac-note-text"), *PAYLOADS)
    shown_as_text(agent, agent_ui.transcript_message(conv, "agent", answer).locator(".ac-bubble"), *PAYLOADS)
    nothing_ran(agent)

    # the widget: the customer's own messages and the agent's reply; the note never arrives
    for text in (before, live):
        shown_as_text(alice, agent_ui.widget_message(alice, "customer", text).locator(".cbw-bubble"), *PAYLOADS)
    shown_as_text(alice, agent_ui.widget_message(alice, "agent", answer).locator(".cbw-bubble"), *PAYLOADS)
    expect(alice.get_by_text(note.split(":")[0])).to_have_count(0)  # (sent before the reply, which arrived)
    expect(alice.get_by_text("customer never sees")).to_have_count(0)
    nothing_ran(alice)

    conv.get_by_test_id("resolve").click()
    expect(conv.get_by_test_id("conversation-ended")).to_be_visible()
    assert watch.dialogs == [], watch.dialogs


def test_a_customer_name_is_text_in_the_queue_and_the_conversation(new_context, live_server, watch):
    """A name chosen by the host site: in the widget, and in the console's conversation
    header, typing line and queue. (Eli takes it: Dana may still hold a chat of a test before.)"""
    make = guarded(new_context)
    agent = agent_ui.console(make, agent_ui.ELI)
    email, session = host_site_session(new_context, live_server, XSS_NAME)
    customer = widget_ui.signed_in(make, live_server, {email: session}, (email, None))
    shown_as_text(customer, customer.get_by_text("Signed in as " + XSS_NAME, exact=True), XSS_NAME)
    nothing_ran(customer)

    conv = agent_ui.hand_off(customer, agent, XSS_NAME)  # its header has exactly the name as text
    shown_as_text(agent, conv.get_by_test_id("conversation-customer"), XSS_NAME)
    customer.get_by_test_id("input").press_sequentially("hel", delay=40)
    typing = conv.get_by_test_id("customer-typing")
    expect(typing).to_have_text(XSS_NAME + " is typing…")
    shown_as_text(agent, typing, XSS_NAME, click=False)  # (it goes when the customer pauses)
    said = with_payloads("from the customer with that name")
    agent_ui.says(customer, said)
    expect(agent_ui.transcript_message(conv, "customer", said)).to_have_count(1, timeout=SLOW)
    nothing_ran(agent)

    # released, it waits in the queue (not offered to him again) under that name
    conv.get_by_test_id("release").click()
    expect(conv.get_by_test_id("conversation-ended")).to_contain_text("back in the queue")
    item = agent.get_by_test_id("queue-item").filter(
        has=agent.get_by_test_id("queue-customer").filter(has_text=XSS_NAME)
    )
    expect(item).to_have_count(1, timeout=SLOW)
    expect(item.get_by_test_id("queue-customer")).to_have_text(XSS_NAME)
    shown_as_text(agent, item.get_by_test_id("queue-customer"), XSS_NAME)
    expect(item.get_by_test_id("queue-preview").locator(MARKUP)).to_have_count(0)
    nothing_ran(agent)

    # accepted again: the transcript, history included
    item.get_by_test_id("accept").click()
    conv = agent_ui.conversation(agent, XSS_NAME)
    expect(conv.get_by_test_id("composer")).to_be_visible(timeout=SLOW)
    shown_as_text(agent, agent_ui.transcript_message(conv, "customer", said).locator(".ac-bubble"), *PAYLOADS)
    nothing_ran(agent)
    nothing_ran(customer)

    conv.get_by_test_id("resolve").click()
    expect(conv.get_by_test_id("conversation-ended")).to_be_visible()
    assert watch.dialogs == [], watch.dialogs


def test_an_operators_answer_is_text_in_try_it_and_in_the_widget(new_context, watch):
    make = guarded(new_context)
    op = operator_ui.operator(make, operator_ui.OLGA)
    operator_ui.open_intent(op, INTENT)
    example = op.get_by_test_id("editor-examples").input_value().splitlines()[0]
    answer = with_payloads("the operator's answer")
    quick = PAYLOADS[2]  # the javascript: link, as a quick reply's label
    op.get_by_test_id("editor-answer").fill(answer)
    op.get_by_test_id("editor-add-quick-reply").click()
    op.get_by_test_id("editor-quick-reply").last.fill(quick)
    op.get_by_test_id("editor-save").click()
    expect(op.get_by_test_id("save-ok")).to_contain_text("is live", timeout=operator_ui.SAVE)

    # the try-it panel: the answer a customer would get, and its quick reply
    verdict = operator_ui.try_it(op, example)
    expect(verdict).to_have_attribute("data-intent", INTENT)
    shown_as_text(op, op.get_by_test_id("try-answer-text"), answer, *PAYLOADS)
    expect(op.get_by_test_id("try-answer-text")).to_have_text(answer)
    shown_as_text(op, op.get_by_test_id("try-quick-reply").filter(has_text=quick), quick, click=False)
    nothing_ran(op)

    # the widget: a customer asks, and gets that answer
    bob = agent_ui.customer(make, agent_ui.BOB)
    reply = widget_ui.reply_to(bob, widget_ui.send(bob, example))
    expect(reply).to_have_attribute("data-sender", "bot")
    shown_as_text(bob, reply.locator(".cbw-bubble"), answer, *PAYLOADS)
    shown_as_text(bob, bob.get_by_test_id("quick-reply").filter(has_text=quick), quick, click=False)
    nothing_ran(bob)
    assert watch.dialogs == [], watch.dialogs
