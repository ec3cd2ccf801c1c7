"""HAProxy in front of two processes of one cluster, configured as
docs/deployment.md ("HAProxy in front") says: `balance url_param affinity`,
`hash-type consistent`. Long-polling is where routing matters: each poll is
a request of its own, and python-engineio knows an Engine.IO session only on
the process that opened it ("Invalid session" elsewhere). The widget and the
agent console send `?affinity=<hash of the user>` on every request, so all of
a user's requests and tabs reach one process.

Which process answered is read from the `X-Server` header the test's
HAProxy adds (tests/haproxy_engine.py). The browser is Chromium through
Playwright's async API, on the test's own event loop like the other async
tests (the sync API of tests/browser/ holds the thread's loop while open)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import socketio
from async_browser import SLOW, open_widget_signed_in
from cluster_processes import NAMES, Cluster, cluster_processes, login_body
from engines import PostgresServer
from haproxy_engine import SERVER_HEADER, HAProxy, haproxy_in_front, require_haproxy
from redis_engine import RedisServer

from helpers import ALICE, DANA, ChatClient

ENGINE_IO = re.compile(r"/socket\.io/")
REPLY_TIMEOUT = SLOW


@dataclass
class Front:
    url: str
    cluster: Cluster
    proxy: HAProxy


@pytest.fixture(scope="module")
def front(
    postgres_server: PostgresServer, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Front]:
    require_haproxy()  # before the processes start: skip (or fail under CHATBOT_ENGINES_REQUIRED) at once
    with cluster_processes(postgres_server, redis_server, tmp_path_factory.mktemp("haproxy-cluster")) as cluster:
        with haproxy_in_front(cluster.servers()) as proxy:
            yield Front(proxy.url, cluster, proxy)


@pytest.fixture(scope="module")
def blocked(front: Front) -> Iterator[Front]:
    """A second HAProxy in front of the same processes, on a network that
    refuses WebSocket upgrades: the widget falls back to long-polling by
    itself (`tryAllTransports`), as it would for a customer behind such a proxy."""
    with haproxy_in_front(front.cluster.servers(), refuse_websockets=True) as proxy:
        yield Front(proxy.url, front.cluster, proxy)


def fnv1a(text: str) -> str:
    """The widget's and the console's affinity() (static/widget.js), in Python,
    for ASCII keys (JavaScript hashes UTF-16 code units)."""
    value = 0x811C9DC5
    for char in text:
        value = ((value ^ ord(char)) * 0x01000193) & 0xFFFFFFFF
    return f"{value:08x}"


@dataclass
class Exchange:
    url: str
    status: int
    server: str  # the HAProxy server that answered
    tab: int = 0  # which page of a browser context made it


@dataclass
class Traced:
    """The official client on long-polling, with every Engine.IO request it made."""

    client: ChatClient
    seen: list[Exchange] = field(default_factory=list)

    def servers(self) -> set[str]:
        return {e.server for e in self.seen}


@pytest.fixture
async def polling_client() -> AsyncIterator[object]:
    made: list[Traced] = []

    async def make(url: str) -> Traced:
        traced = Traced(ChatClient(url))
        trace = aiohttp.TraceConfig()

        async def ended(session: object, context: object, params: aiohttp.TraceRequestEndParams) -> None:
            if ENGINE_IO.search(str(params.url)):
                server = params.response.headers.get(SERVER_HEADER, "")
                traced.seen.append(Exchange(str(params.url), params.response.status, server))

        trace.on_request_end.append(ended)
        traced.client.sio.eio.http = aiohttp.ClientSession(trace_configs=[trace])
        made.append(traced)
        return traced

    yield make
    for traced in made:
        if traced.client.sio.connected:
            # Engine.IO's close without waiting for the pending long poll, which
            # the server may hold until its next ping (25 s)
            await traced.client.sio.eio.disconnect(abort=True)
        await traced.client.close()


async def test_the_official_client_on_long_polling_with_affinity_stays_on_one_process(
    front: Front, polling_client
) -> None:
    body = await login_body(front.url, ALICE)  # through HAProxy too: the session is in the shared database
    affinity = fnv1a(f"user:{body['user']['id']}")
    traced = await polling_client(f"{front.url}?affinity={affinity}")
    await traced.client.connect({"token": body["token"]}, transports=("polling",))
    assert traced.client.sio.transport() == "polling"
    for n in range(5):
        answer = await traced.client.ask(f"where is my order CT-100234 ({n})")
        assert "CT-100234" in answer["text"]
    assert traced.client.sio.connected
    assert len(traced.seen) >= 15, traced.seen  # handshake, polls and posts: many round trips
    assert all(f"affinity={affinity}" in e.url and "transport=polling" in e.url for e in traced.seen)
    assert all(e.status == 200 for e in traced.seen), traced.seen
    assert len(traced.servers()) == 1 and traced.servers() <= set(NAMES), traced.seen


async def test_without_affinity_long_polling_is_spread_and_refused_by_the_other_process(
    front: Front, polling_client
) -> None:
    """The same client and conversation without the parameter: HAProxy falls
    back to round robin (with `hash-type consistent`, a walk round the hash
    ring: never more than a few requests in a row to one server), a request
    reaches the process that did not open the session, which answers 400
    (python-engineio's "Invalid session"), and the client does not get
    through. What the parameter prevents, above."""
    body = await login_body(front.url, ALICE)
    traced = await polling_client(front.url)
    with pytest.raises((socketio.exceptions.SocketIOError, TimeoutError)):
        await traced.client.connect({"token": body["token"]}, transports=("polling",))
        for n in range(5):
            await traced.client.ask(f"where is my order CT-100234 ({n})")
    opened = traced.seen[0]
    assert opened.status == 200 and "sid=" not in opened.url  # the handshake, on one process
    refused = [e for e in traced.seen[1:] if e.status == 400]
    assert refused and all(e.server != opened.server for e in refused), traced.seen
    assert len(traced.servers()) == 2, traced.seen


async def test_the_official_client_on_websocket_through_the_sample_configuration(front: Front) -> None:
    body = await login_body(front.url, ALICE)
    client = ChatClient(f"{front.url}?affinity={fnv1a('user:' + str(body['user']['id']))}")
    try:
        await client.connect({"token": body["token"]}, transports=("websocket",))
        assert client.sio.transport() == "websocket"
        assert "CT-100234" in (await client.ask("where is my order CT-100234"))["text"]
    finally:
        await client.close()


# ------------------------------------------------------------ the browser --


@dataclass
class Watched:
    """A browser context's Engine.IO traffic and script errors."""

    context: object
    exchanges: list[Exchange] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    tabs: int = 0  # pages opened so far

    def watch(self, page) -> None:
        tab, self.tabs = self.tabs, self.tabs + 1
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("websocket", lambda ws: self.websockets.append(ws.url))
        page.on("response", lambda response: self._response(tab, response))

    def _response(self, tab: int, response) -> None:
        if ENGINE_IO.search(response.url):
            server = response.headers.get(SERVER_HEADER.lower(), "")
            self.exchanges.append(Exchange(response.url, response.status, server, tab))

    def affinities(self) -> set[str]:
        """The affinity parameter of every Engine.IO request ("" where one had none)."""
        return {",".join(parse_qs(urlsplit(e.url).query).get("affinity", [""])) for e in self.exchanges}

    def transports(self) -> set[str]:
        return {",".join(parse_qs(urlsplit(e.url).query).get("transport", [""])) for e in self.exchanges}


async def watched_context(browser, url: str) -> Watched:
    context = await browser.new_context(base_url=url, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(10_000)
    watched = Watched(context)
    context.on("page", watched.watch)
    return watched


async def send_and_see_answer(page, text: str) -> None:
    from playwright.async_api import expect

    await page.get_by_test_id("input").fill(text)
    await page.get_by_test_id("send").click()
    sel = '[data-testid="message"][data-sender="customer"]:has-text(%s) ~ [data-testid="message"][data-sender="bot"]'
    reply = page.locator(sel % json.dumps(text)).first
    await expect(reply).to_be_visible(timeout=REPLY_TIMEOUT)
    await expect(reply.locator(".cbw-bubble")).not_to_have_text("")


def engine_io_stayed_on_one_process(watched: Watched, affinity: str) -> str:
    """Every Engine.IO request was a long poll with `affinity`, answered 200
    by one process; its name."""
    assert watched.exchanges, "no Engine.IO request seen"
    assert watched.transports() == {"polling"}, watched.exchanges
    assert watched.affinities() == {affinity}, watched.exchanges
    assert {e.status for e in watched.exchanges} == {200}, watched.exchanges
    servers = {e.server for e in watched.exchanges}
    assert len(servers) == 1 and servers <= set(NAMES), watched.exchanges
    assert not watched.errors, watched.errors
    return servers.pop()


async def test_the_widget_on_long_polling_works_through_haproxy(blocked: Front, chromium) -> None:
    user = (await login_body(blocked.url, ALICE))["user"]
    watched = await watched_context(chromium, blocked.url)
    page = await watched.context.new_page()
    await open_widget_signed_in(page, ALICE)
    await send_and_see_answer(page, f"where is my order CT-100234 {uuid.uuid4().hex[:6]}")
    await send_and_see_answer(page, f"tracking for ct 100234 {uuid.uuid4().hex[:6]}")
    assert watched.websockets, "the widget did not try a WebSocket first"  # refused by the proxy: it fell back
    engine_io_stayed_on_one_process(watched, fnv1a(f"user:{user['id']}"))
    await watched.context.close()


async def test_a_customers_tabs_through_haproxy_reach_one_process(blocked: Front, chromium) -> None:
    user = (await login_body(blocked.url, ALICE))["user"]
    watched = await watched_context(chromium, blocked.url)
    first = await watched.context.new_page()
    await open_widget_signed_in(first, ALICE)
    tabs = [first, await watched.context.new_page(), await watched.context.new_page()]
    for tab in tabs[1:]:
        await open_widget_signed_in(tab, None)  # the same browser: signed in by the first tab
    for n, tab in enumerate(tabs):
        await send_and_see_answer(tab, f"where is my order CT-100234 tab {n} {uuid.uuid4().hex[:6]}")
    engine_io_stayed_on_one_process(watched, fnv1a(f"user:{user['id']}"))
    assert {e.tab for e in watched.exchanges} == {0, 1, 2}  # each tab's own polls, all on that one process
    await watched.context.close()


async def test_an_agents_consoles_on_long_polling_through_haproxy_reach_one_process(blocked: Front, chromium) -> None:
    from playwright.async_api import expect

    user = (await login_body(blocked.url, DANA))["user"]
    watched = await watched_context(chromium, blocked.url)
    first = await watched.context.new_page()
    await first.goto("/static/agent.html")
    await expect(first.get_by_test_id("login-form")).to_be_visible()  # the script has wired the form
    await first.get_by_test_id("login-brand").select_option("cltiktok")
    await first.get_by_test_id("login-email").fill(DANA["email"])
    await first.get_by_test_id("login-password").fill(DANA["password"])
    await first.get_by_test_id("login-submit").click()
    await expect(first.get_by_test_id("console")).to_be_visible(timeout=SLOW)
    second = await watched.context.new_page()
    await second.goto("/static/agent.html")  # signed in by the first console
    for page in (first, second):  # online: the console's socket has connected, on long-polling
        await expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "online", timeout=SLOW)
    engine_io_stayed_on_one_process(watched, fnv1a(f"user:{user['id']}"))
    assert {e.tab for e in watched.exchanges} == {0, 1}
    await watched.context.close()
