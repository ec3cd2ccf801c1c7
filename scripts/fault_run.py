"""Kill the server with SIGKILL at random moments while customers and an agent
chat, and prove that nothing acknowledged is lost or doubled.

Each cycle starts `run.py` on the same database, connects three customers and
an agent with the official python-socketio client, and has them send messages
(each with its own client_id) until the server is killed at a random moment.
A message counts as acknowledged once its ack arrived; unacknowledged ones are
sent again, with the same client_id, after the restart. After every kill the
database is checked: every acknowledged message exists exactly once, with the
id and seq its ack carried; each conversation's seqs run 1..N without a gap;
and `PRAGMA integrity_check` says ok.

    python scripts/fault_run.py --cycles 300          # the long run (docs/security.md)
    python scripts/fault_run.py --cycles 4 --seed 7   # what the test suite runs
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import socketio

REPO = Path(__file__).resolve().parent.parent
CUSTOMERS = [
    ("alice@example.com", "alice-demo-pass"),
    ("bob@example.com", "bob-demo-pass"),
    ("sunny@example.com", "sunny-demo-pass"),
]
AGENT = ("dana@cltiktok.example", "dana-demo-pass")
TEXTS = [
    "where is my order",
    "hi",
    "what payment methods do you take",
    "thanks",
    "how do I contact you",
    "refund status",
    "I want to talk to a person",
]


@dataclass
class Sent:
    client_id: str
    text: str
    ack: dict | None = None


@dataclass
class Party:
    email: str
    password: str
    namespace: str
    token: str = ""
    pending: list[Sent] = field(default_factory=list)
    acked: list[Sent] = field(default_factory=list)
    conversation_id: int | None = None


def open_all_hours_intents(workdir: Path) -> Path:
    """A copy of the intents whose cltiktok team never closes, so the agent
    can hold a conversation whatever the time of the run."""
    intents = workdir / "intents"
    if not intents.exists():
        shutil.copytree(REPO / "intents", intents)
        brand = intents / "cltiktok" / "brand.yaml"
        text = brand.read_text()
        text = re.sub(r"days: \[[^\]]*\]", "days: [1, 2, 3, 4, 5, 6, 7]", text)
        text = text.replace('open: "09:00"', 'open: "00:00"').replace('close: "18:00"', 'close: "23:59"')
        brand.write_text(text)
    return intents


def start_server(db: Path, intents: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "run.py"), "--port", "0", "--db", str(db), "--intents", str(intents)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        match = re.search(r"Listening on (http://[\w.\-]+:\d+)", line or "")
        if match:
            return proc, match.group(1)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    proc.wait()
    proc.stdout.close()
    raise RuntimeError("the server did not start")


async def login(url: str, party: Party) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.post(
            url + "/api/login", json={"brand": "cltiktok", "email": party.email, "password": party.password}
        ) as r:
            party.token = (await r.json())["token"]


async def chat(url: str, party: Party, rng: random.Random, stop: asyncio.Event) -> None:
    """Connect and keep sending (retries first) until the server goes away."""
    sio = socketio.AsyncClient(reconnection=False)
    held: list[int] = []

    @sio.on("conversation", namespace="/chat")
    async def on_conversation(data):
        party.conversation_id = data["id"]

    @sio.on("assigned", namespace="/agent")
    async def on_assigned(data):
        if data["conversation"]["id"] not in held:
            held.append(data["conversation"]["id"])

    try:
        await sio.connect(
            url, namespaces=[party.namespace], auth={"token": party.token}, transports=["websocket"], wait_timeout=5
        )
        while not stop.is_set() and sio.connected:
            if party.namespace == "/agent":
                if not held:
                    await asyncio.sleep(0.05)
                    continue
                payload_extra = {"conversation_id": held[0]}
            else:
                payload_extra = {}
            if not party.pending:
                party.pending.append(Sent(str(uuid.uuid4()), rng.choice(TEXTS)))
            sent = party.pending[0]
            ack = await sio.call(
                "message",
                {**payload_extra, "client_id": sent.client_id, "text": sent.text},
                namespace=party.namespace,
                timeout=3,
            )
            if ack.get("ok"):
                sent.ack = ack["message"]
                party.acked.append(party.pending.pop(0))
            elif ack.get("error") == "rate_limited":
                await asyncio.sleep(0.5)
            await asyncio.sleep(rng.uniform(0.01, 0.08))
    except (
        socketio.exceptions.ConnectionError,
        socketio.exceptions.TimeoutError,
        socketio.exceptions.BadNamespaceError,
    ):
        pass  # the server was killed: what was not acked is retried next cycle
    finally:
        with contextlib.suppress(Exception):
            await sio.disconnect()


def check(db: Path, parties: list[Party]) -> list[str]:
    """Every acknowledged message exactly once, with its seq; seqs without gaps."""
    problems = []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        if (result := conn.execute("PRAGMA integrity_check").fetchone()[0]) != "ok":
            problems.append(f"integrity_check: {result}")
        for party in parties:
            prefix = "agent:" if party.namespace == "/agent" else ""
            for sent in party.acked:
                rows = conn.execute(
                    "SELECT id, seq, text FROM messages WHERE client_id = ?", [prefix + sent.client_id]
                ).fetchall()
                if len(rows) != 1:
                    problems.append(f"{party.email} {sent.client_id}: {len(rows)} copies")
                elif (rows[0][0], rows[0][1]) != (sent.ack["id"], sent.ack["seq"]):
                    problems.append(
                        f"{party.email} {sent.client_id}: stored as {rows[0][:2]}, acked as "
                        f"{(sent.ack['id'], sent.ack['seq'])}"
                    )
        for conversation_id, last_seq in conn.execute("SELECT id, last_seq FROM conversations"):
            seqs = [
                r[0]
                for r in conn.execute(
                    "SELECT seq FROM messages WHERE conversation_id = ? ORDER BY seq", [conversation_id]
                )
            ]
            if seqs != list(range(1, len(seqs) + 1)) or (seqs and seqs[-1] != last_seq):
                problems.append(f"conversation {conversation_id}: seqs {seqs[:5]}... last_seq {last_seq}")
    finally:
        conn.close()
    return problems


async def run(cycles: int, seed: int, workdir: Path, verbose: bool = False) -> dict:
    rng = random.Random(seed)
    db = workdir / "chat.db"
    intents = open_all_hours_intents(workdir)
    parties = [Party(e, p, "/chat") for e, p in CUSTOMERS] + [Party(*AGENT, "/agent")]
    totals = {"cycles": 0, "acked": 0, "retried": 0, "problems": []}
    for cycle in range(cycles):
        proc, url = start_server(db, intents)
        try:
            if cycle == 0:
                for party in parties:
                    await login(url, party)
            retried = sum(len(p.pending) for p in parties)
            stop = asyncio.Event()
            tasks = [asyncio.create_task(chat(url, p, rng, stop)) for p in parties]
            await asyncio.sleep(rng.uniform(0.3, 1.5))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
        stop.set()
        await asyncio.gather(*tasks)
        problems = check(db, parties)
        acked = sum(len(p.acked) for p in parties)
        totals.update(
            cycles=cycle + 1,
            acked=acked,
            retried=totals["retried"] + retried,
            acked_by={p.email: len(p.acked) for p in parties},
        )
        totals["problems"].extend(f"cycle {cycle + 1}: {p}" for p in problems)
        if verbose:
            print(
                f"cycle {cycle + 1}: {acked} acknowledged so far, {retried} retried after the kill, "
                f"{len(problems)} problems",
                flush=True,
            )
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fault-run-") as tmp:
        started = time.monotonic()
        totals = asyncio.run(run(args.cycles, args.seed, Path(tmp), verbose=True))
    print(
        json.dumps(
            {**totals, "problems": totals["problems"][:20], "seconds": round(time.monotonic() - started)}, indent=2
        )
    )
    sys.exit(1 if totals["problems"] else 0)


if __name__ == "__main__":
    main()
