"""Restarting the server under open widgets: it stops at once instead of waiting
for them, and each widget comes back by itself to the same conversation."""

from __future__ import annotations

import subprocess
import uuid
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from test_widget import ALICE, REPLY_TIMEOUT, SHOP, customer_message, expect_bot_reply, login, open_widget, send

from server_process import run_server

pytestmark = pytest.mark.browser

# Stopping used to wait for every open WebSocket until python-engineio's ping
# timeout ended it (45 s); now the server closes them first. The grace aiohttp
# gives connections is raised well above the bound so only closing them passes.
STOP_WITHIN_SECONDS = 15
GRACE = {"CHATBOT_SHUTDOWN_SECONDS": "60"}


def test_a_restart_closes_open_widgets_and_they_reconnect_to_the_same_conversation(new_context, tmp_path):
    db = tmp_path / "chat.db"
    with run_server(db, **GRACE) as (url, first):
        page = new_context(base_url=url).new_page()
        page.goto(SHOP)
        login(page, ALICE)
        before = f"said before the restart {uuid.uuid4().hex[:8]}"
        send(page, before)
        expect_bot_reply(page, before)

        first.terminate()
        try:
            first.wait(STOP_WITHIN_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server was still running {STOP_WITHIN_SECONDS} s after SIGTERM with a widget open")
        assert first.returncode == 0
        expect(page.get_by_test_id("connection-state")).not_to_have_attribute("data-state", "online")

    with run_server(db, port=urlsplit(url).port, **GRACE) as (again, _):
        assert again == url
        expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "online", timeout=30_000)
        expect(customer_message(page, before)).to_have_count(1)
        after = f"said after the restart {uuid.uuid4().hex[:8]}"
        send(page, after)
        expect_bot_reply(page, after)
        page.reload()
        open_widget(page)
        expect(customer_message(page, after)).to_have_count(1, timeout=REPLY_TIMEOUT)
        expect(customer_message(page, before)).to_have_count(1)
        expect(page.get_by_test_id("login-form")).to_be_hidden()
