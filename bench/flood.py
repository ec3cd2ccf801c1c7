"""Other customers' acks while a few sockets flood the server (issue 17,
docs/security.md): the server runs as `python run.py` in a process of its own;
`--flooders` sockets, in another process, send events as fast as the
connection takes them (a flooder the server disconnects joins again at once,
as an attacker would), while `--calm` other customers, here, each send a
message every 0.6 s (inside their own limits) with the official
python-socketio client. It prints, per kind of flood, what the flooders got
through and the calm customers' ack latency during the flood.

    python bench/flood.py [--seconds 8] [--flooders 3] [--calm 20] [--modes none,valid,invalid,...]

Kinds: none (no flood, the baseline), valid (well-formed messages: rate-limited),
invalid (messages of the wrong types), reserved (events named `disconnect`),
deep (60 KB of nested arrays per frame) and frames (empty and unknown
Engine.IO frames). Loopback only; each run takes about `--seconds` plus 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import aiohttp  # noqa: E402
import loadgen as lg  # noqa: E402
import socketio  # noqa: E402

MODES = ("none", "valid", "invalid", "reserved", "deep", "frames")
DEEP = "[" * 30_000 + "]" * 30_000


def frame(mode: str, i: int) -> str:
    if mode == "valid":
        return f'42/chat,{i}["message",{{"client_id":"f{i}","text":"buy cheap {i}"}}]'
    if mode == "invalid":
        return f'42/chat,{i}["message",{{"client_id":{i},"text":[{i}]}}]'
    if mode == "reserved":
        return f'42/chat,{i}["disconnect",{{}}]'
    if mode == "deep":
        return f"42/chat,{i}{DEEP}"
    return "" if i % 2 else "9zz"


# -- the flooders (a process of their own) ---------------------------------------------------------


async def flood_one(url: str, token: str, mode: str, seconds: float, stats: dict[str, int]) -> None:
    deadline = time.monotonic() + seconds
    join = "40/chat," + json.dumps({"token": token})
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                ws = await session.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket", max_msg_size=0)
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
                continue
            stats["connections"] += 1
            await ws.receive(timeout=5)
            await ws.send_str(join)

            async def read(ws: aiohttp.ClientWebSocketResponse = ws) -> None:
                async for message in ws:
                    if message.type != aiohttp.WSMsgType.TEXT:
                        break
                    if message.data == "2":
                        await ws.send_str("3")
                    elif message.data.startswith("41/chat"):
                        stats["kicked"] += 1
                        await ws.send_str(join)  # and straight back in
                    elif message.data.startswith("43/chat"):
                        stats["acks"] += 1

            reader = asyncio.create_task(read())
            i = 0
            try:
                while time.monotonic() < deadline and not ws.closed:
                    # the server may stop reading this socket: TCP then holds the sender back
                    await asyncio.wait_for(ws.send_str(frame(mode, i)), max(0.01, deadline - time.monotonic()))
                    stats["sent"] += 1
                    i += 1
                    if i % 50 == 0:
                        await asyncio.sleep(0)
            except (ConnectionError, aiohttp.ClientError, TimeoutError):
                pass
            reader.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 1)


async def flood_all(url: str, tokens: list[str], mode: str, seconds: float) -> dict[str, int]:
    stats = {"sent": 0, "acks": 0, "kicked": 0, "connections": 0}
    await asyncio.gather(*(flood_one(url, t, mode, seconds, stats) for t in tokens))
    return stats


# -- the calm customers (this process) -----------------------------------------------------------


async def calm_one(
    url: str, token: str, until: float, start_flood: float, latencies: list[float], errors: list[str]
) -> None:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(url, namespaces=["/chat"], auth={"token": token}, transports=["websocket"], wait_timeout=10)
    try:
        while time.monotonic() < until:
            started = time.perf_counter()
            try:
                ack = await client.call(
                    "message",
                    {"client_id": str(uuid.uuid4()), "text": "where is my order"},
                    namespace="/chat",
                    timeout=10,
                )
            except Exception as e:
                errors.append(type(e).__name__)
                continue
            took = time.perf_counter() - started
            if not (isinstance(ack, dict) and ack.get("ok")):
                errors.append(str(ack)[:60])
            elif time.monotonic() >= start_flood:
                latencies.append(took)
            await asyncio.sleep(max(0.0, 0.6 - took))
    finally:
        await client.disconnect()


async def metrics_text(url: str) -> str:
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/metrics") as r:
            return await r.text()


def metric_sum(text: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


async def run_mode(url: str, mode: str, flooders: list[str], calm: list[str], seconds: float) -> None:
    before = await metrics_text(url)
    warmup = 1.0
    start_flood = time.monotonic() + warmup
    latencies: list[float] = []
    errors: list[str] = []
    calm_tasks = [
        asyncio.create_task(calm_one(url, t, start_flood + seconds, start_flood, latencies, errors)) for t in calm
    ]
    await asyncio.sleep(warmup)
    stats = {"sent": 0, "acks": 0, "kicked": 0, "connections": 0}
    if mode != "none":
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--flood-child",
            url,
            mode,
            str(seconds),
            *flooders,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await child.communicate()
        stats = json.loads(out.decode().strip().splitlines()[-1])
    await asyncio.gather(*calm_tasks)
    after = await metrics_text(url)
    refused = metric_sum(after, "chatbot_rejected_inputs_total") - metric_sum(before, "chatbot_rejected_inputs_total")
    cut = metric_sum(after, "chatbot_abuse_disconnects_total") - metric_sum(before, "chatbot_abuse_disconnects_total")
    s = lg.summary_ms(latencies)
    print(
        f"{mode:<9} {stats['sent'] / seconds:>10.0f} {stats['acks']:>8} {int(refused):>9} {int(cut):>6} "
        f"{s['count']:>6} {s['p50'] or 0:>8.1f} {s['p99'] or 0:>8.1f} {s['max'] or 0:>8.1f} {len(errors):>6}",
        flush=True,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--flooders", type=int, default=3)
    parser.add_argument("--calm", type=int, default=20)
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    work = Path(tempfile.mkdtemp(prefix="flood-"))
    db = work / "chat.db"
    per_mode = args.flooders + args.calm
    customers = await lg.create_customers(db, per_mode * len(modes))
    env = dict(os.environ, CHATBOT_WATCH_INTENTS="false", PYTHONUNBUFFERED="1")
    server = subprocess.Popen(
        [sys.executable, str(HERE.parent / "run.py"), "--port", "0", "--db", str(db), "--no-demo"],
        stdout=subprocess.PIPE,
        stderr=open(work / "server.log", "wb"),  # noqa: SIM115 - the server writes to it until it stops
        env=env,
    )
    try:
        url = None
        assert server.stdout is not None
        for raw in server.stdout:
            found = re.search(r"Listening on (http://\S+)", raw.decode())
            if found:
                url = found.group(1)
                break
        assert url, f"the server did not start: {work / 'server.log'}"
        print(
            f"server {url} (pid {server.pid}); {args.flooders} flooding sockets, {args.calm} calm customers "
            f"sending a message every 0.6 s; {args.seconds:.0f} s per kind; cores: {os.cpu_count()}"
        )
        print(
            f"{'flood':<9} {'frames/s':>10} {'fl. acks':>8} {'refused':>9} {'cut':>6} "
            f"{'acks':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>6}"
        )
        for index, mode in enumerate(modes):
            group = customers[index * per_mode : (index + 1) * per_mode]
            await run_mode(
                url,
                mode,
                [c.token for c in group[: args.flooders]],
                [c.token for c in group[args.flooders :]],
                args.seconds,
            )
        print(
            "frames/s: what the flooders sent; fl. acks: answers they got; refused: inputs the server refused "
            "(chatbot_rejected_inputs_total); cut: sockets it disconnected for it; acks, p50, p99, max: the calm "
            "customers' message acks during the flood"
        )
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--flood-child":
        url, mode, seconds, *tokens = sys.argv[2:]
        print(json.dumps(asyncio.run(flood_all(url, tokens, mode, float(seconds)))))
    else:
        asyncio.run(main())
