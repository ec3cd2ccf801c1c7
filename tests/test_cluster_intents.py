"""An operator's intent edit reaching every process of a cluster within
seconds, with concurrent edits never lost (issue 20). Two real server
processes (`run.py` with --database and --redis) on a real PostgreSQL and
Redis, each with its OWN copy of the intents folder, as on two machines: an
edit saved through one process is heard of over Redis by the other, which
loads it from the database into its own files and reloads its matcher
(chatbot/web/cluster_intents.py, chatbot/operator/stored.py)."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from browser.server_process import REPO, run_server
from cluster_processes import cluster_processes, login
from engines import PostgresServer
from redis_engine import RedisServer

from chatbot.operator.stored import StoredVersion
from helpers import ALICE, OLGA, ChatClient

pytestmark = pytest.mark.asyncio

PROPAGATION_SECONDS = 10.0  # "within seconds": the reload retrains the brand's matcher


@dataclass
class Cluster:
    urls: list[str]
    intents: list[Path]  # each process's own folder
    env: dict[str, str]  # what a further process of the cluster is started with
    folder: Path


@pytest.fixture(scope="module")
def cluster(
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    folder: Path = tmp_path_factory.mktemp("cluster-intents")
    # each process's own intents folder, as on machines of their own
    intents = [shutil.copytree(REPO / "intents", folder / process / "intents") for process in ("one", "two")]
    with cluster_processes(postgres_server, redis_server, folder, intents=intents) as started:
        env = {
            "CHATBOT_DATABASE_URL": started.database_url,
            "CHATBOT_REDIS_URL": redis_server.url,
            "CHATBOT_SEMANTIC": "false",  # the n-grams suffice to see an edit: a lighter start
        }
        yield Cluster(started.urls, intents, env, folder)


async def call(url: str, method: str, path: str, token: str, body: object = None) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {token}"}
        async with session.request(method, url + path, json=body, headers=headers) as response:
            return response.status, await response.json(content_type=None)


@pytest.fixture
async def tabs() -> AsyncIterator[object]:
    opened: list[ChatClient] = []

    async def open_tab(url: str, creds: dict[str, str]) -> ChatClient:
        tab = ChatClient(url)
        await tab.connect({"token": await login(url, creds)})
        opened.append(tab)
        return tab

    yield open_tab
    for tab in opened:
        await tab.close()


async def preview_within(url: str, token: str, text: str, expected: str) -> dict:
    """The answer a customer of `url` would get to `text` (the operators' "try
    it"), asked again until it says `expected`, for up to PROPAGATION_SECONDS."""
    deadline = asyncio.get_running_loop().time() + PROPAGATION_SECONDS
    while True:
        status, preview = await call(url, "POST", "/api/operator/try", token, {"brand": "cltiktok", "text": text})
        assert status == 200, preview
        if expected in preview["answer"]["text"] or asyncio.get_running_loop().time() > deadline:
            return preview
        await asyncio.sleep(0.2)


async def test_an_edit_on_one_process_answers_customers_on_the_other(cluster: Cluster, tabs) -> None:
    """Olga adds an example and rewrites the answer through process one; a
    customer on process two gets the new answer to the new phrase within
    seconds, and process two's own file holds the edit."""
    one, two = cluster.urls
    olga = await login(one, OLGA)
    path = "/api/operator/intents/payment_methods?brand=cltiktok"
    _, loaded = await call(one, "GET", path, olga)
    phrase = "can i settle the bill with zorbly tokens"
    answer = "We take cards and PayPal; zorbly tokens are welcome too."
    edit = {"examples": loaded["examples"] + [phrase], "answer": answer, "base_version": loaded["version"]}
    status, saved = await call(one, "PUT", path, olga, edit)
    assert status == 200, saved
    preview = await preview_within(two, await login(two, OLGA), phrase, "zorbly tokens are welcome")
    assert preview["intent"]["name"] == "payment_methods", preview
    alice = await tabs(two, ALICE)
    reply = await alice.ask(phrase)
    assert "zorbly tokens are welcome" in reply["text"] and reply["intent"] == "payment_methods", reply
    own_file = cluster.intents[1] / "cltiktok" / "intents" / "payment_methods.yaml"
    assert phrase in own_file.read_text() and "zorbly tokens are welcome" in own_file.read_text()
    # an edit made on the version before, through the other process, is refused: nothing lost
    stale = {"answer": "Cards only.", "base_version": loaded["version"]}
    status, refused = await call(two, "PUT", path, await login(two, OLGA), stale)
    assert status == 409 and refused["error"] == "stale_version"
    assert f"version {saved['version']} by Olga" in refused["detail"]
    assert "Cards only" not in own_file.read_text()


async def test_a_policy_edit_reaches_the_other_processes_files(cluster: Cluster) -> None:
    one, two = cluster.urls
    olga = await login(two, OLGA)
    _, policy = await call(two, "GET", "/api/operator/policy?brand=cltiktok", olga)
    edited = policy["text"].replace("within 24 hours", "within 30 hours")
    assert edited != policy["text"]
    status, saved = await call(
        two, "PUT", "/api/operator/policy?brand=cltiktok", olga, {"text": edited, "base_version": policy["version"]}
    )
    assert status == 200, saved
    other_file = cluster.intents[0] / "cltiktok" / "policy.txt"
    for _ in range(int(PROPAGATION_SECONDS / 0.2)):
        if "within 30 hours" in other_file.read_text():
            break
        await asyncio.sleep(0.2)
    assert other_file.read_text() == edited


async def test_a_process_started_after_an_edit_catches_up_from_the_database(cluster: Cluster, tabs) -> None:
    """A publish it could not hear (it was not running): at start-up it
    brings its own intents folder to the latest stored versions."""
    one, _ = cluster.urls
    olga = await login(one, OLGA)
    path = "/api/operator/intents/payment_methods?brand=cltiktok"
    _, loaded = await call(one, "GET", path, olga)
    answer = "Cards, PayPal and quuxle vouchers."
    status, _ = await call(one, "PUT", path, olga, {"answer": answer, "base_version": loaded["version"]})
    assert status == 200
    (cluster.folder / "three").mkdir()
    fresh = shutil.copytree(REPO / "intents", cluster.folder / "three" / "intents")
    with run_server(cluster.folder / "three" / "unused.db", intents=fresh, **cluster.env) as (three, _):
        assert "quuxle vouchers" in (fresh / "cltiktok" / "intents" / "payment_methods.yaml").read_text()
        alice = await tabs(three, ALICE)
        assert "quuxle vouchers" in (await alice.ask("which payment methods are supported"))["text"]


# -- the listener, in this process -------------------------------------------------------------


class Editor:
    """What ClusterIntents asks of the IntentEditor: each follow_stored call recorded."""

    def __init__(self) -> None:
        self.follow_store = False
        self.after_version_stored = None
        self.followed: list[StoredVersion | None] = []

    async def follow_stored(self, stored: StoredVersion | None = None) -> bool:
        self.followed.append(stored)
        return False


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "not within the time allowed"
        await asyncio.sleep(0.01)


async def test_a_listener_hears_saves_ignores_garbage_and_catches_up_after_a_lost_connection(
    redis_server: RedisServer,
) -> None:
    import redis.asyncio

    from chatbot.web.cluster_intents import ClusterIntents

    channel, name = f"test:intents:{uuid.uuid4().hex[:8]}", f"intents-{uuid.uuid4().hex[:8]}"
    here, there = Editor(), Editor()
    admin = redis.asyncio.Redis.from_url(redis_server.url)
    async with (
        ClusterIntents(here, f"{redis_server.url}?client_name={name}", channel=channel) as listening,
        ClusterIntents(there, redis_server.url, channel=channel) as saving,
    ):
        assert here.followed == [None] and here.follow_store  # caught up at start, edits start from the store
        assert there.after_version_stored == saving.publish
        await admin.publish(channel, b"not json")
        await admin.publish(channel, json.dumps({"brand": "cltiktok", "version": 3}))  # neither intent nor policy
        await saving.publish(StoredVersion("cltiktok", 4, "payment_methods"))
        await saving.publish(StoredVersion("ttr-e", 9))
        await eventually(lambda: len(here.followed) == 3)
        assert here.followed[1:] == [StoredVersion("cltiktok", 4, "payment_methods"), StoredVersion("ttr-e", 9)]
        # Redis drops the listener's connection (as it does past a client's output buffer): what was
        # published meanwhile is lost to it, so on subscribing again it catches up with the store
        ours = [c["id"] for c in await admin.client_list() if c.get("name") == name and int(c.get("sub", 0))]
        assert len(ours) == 1
        await admin.client_kill_filter(_id=ours[0])
        await eventually(lambda: here.followed[-1] is None and len(here.followed) == 4)
        await saving.publish(StoredVersion("cltiktok", 5, "payment_methods"))
        await eventually(lambda: here.followed[-1] == StoredVersion("cltiktok", 5, "payment_methods"))
        assert listening.editor is here
    await admin.aclose()
    assert there.after_version_stored is None  # unhooked on stopping
