"""A reload during an outage keeps what the customer typed: the widget keeps
unacknowledged messages (with their client_id) in sessionStorage, shows them
again after the reload and sends them once the server is back, once."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from test_widget import ALICE, REPLY_TIMEOUT, SHOP, customer_message, expect_bot_reply, login, open_widget, send

from server_process import run_server

pytestmark = pytest.mark.browser
OUTBOX = "chatbot.outbox.cltiktok."


def serve_pages_from_cache(context) -> None:
    """The shop page and its files come from a cache once fetched, as from a
    CDN or the browser's cache, so the page reloads while the chat server is
    down; the API and Socket.IO always go to the server."""
    cache: dict[str, tuple[int, dict[str, str], bytes]] = {}

    def handle(route) -> None:
        url = route.request.url
        path = urlsplit(url).path
        if path.startswith("/socket.io/") or path.startswith("/api/"):
            route.continue_()
        elif url in cache:
            status, headers, body = cache[url]
            route.fulfill(status=status, headers=headers, body=body)
        else:
            try:
                response = route.fetch()
            except Exception:
                route.abort()
                return
            cache[url] = (response.status, response.headers, response.body())
            route.fulfill(response=response)

    context.route("**/*", handle)


def outbox(page) -> list[dict]:
    return page.evaluate(
        """prefix => Object.keys(sessionStorage).filter(k => k.startsWith(prefix))
                                .flatMap(k => JSON.parse(sessionStorage.getItem(k)))""",
        OUTBOX,
    )


def test_a_message_typed_during_an_outage_survives_a_reload_and_is_delivered_once(new_context, tmp_path):
    db = tmp_path / "chat.db"
    with run_server(db) as (url, first):
        context = new_context(base_url=url)
        serve_pages_from_cache(context)
        page = context.new_page()
        page.goto(SHOP)
        login(page, ALICE)
        before = f"said before the outage {uuid.uuid4().hex[:8]}"
        send(page, before)
        expect_bot_reply(page, before)
        assert outbox(page) == []  # acknowledged: nothing kept

        first.terminate()
        first.wait(30)
        assert first.returncode == 0
        expect(page.get_by_test_id("connection-state")).not_to_have_attribute("data-state", "online")
        during = f"typed during the outage {uuid.uuid4().hex[:8]}"
        page.get_by_test_id("input").fill(during)
        page.get_by_test_id("send").click()
        expect(customer_message(page, during)).to_have_attribute("data-pending", "true")
        kept = outbox(page)
        assert [item["text"] for item in kept] == [during] and kept[0]["client_id"]

        page.reload()  # the server is still down
        open_widget(page)
        restored = customer_message(page, during)
        expect(restored).to_have_count(1)
        expect(restored).to_have_attribute("data-pending", "true")
        expect(restored).to_have_attribute("data-client-id", kept[0]["client_id"])

    with run_server(db, port=urlsplit(url).port) as (again, _):
        assert again == url
        expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "online", timeout=30_000)
        delivered = customer_message(page, during)
        expect(delivered).to_have_count(1, timeout=REPLY_TIMEOUT)
        expect(delivered).not_to_have_attribute("data-pending", "true", timeout=REPLY_TIMEOUT)
        expect_bot_reply(page, during)
        assert outbox(page) == []
        page.reload()  # nothing is sent again, and it was stored once
        open_widget(page)
        expect(customer_message(page, before)).to_have_count(1, timeout=REPLY_TIMEOUT)
        expect(customer_message(page, during)).to_have_count(1)
        page.wait_for_timeout(500)
        expect(customer_message(page, during)).to_have_count(1)
