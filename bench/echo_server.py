"""The baseline: a bare python-socketio + aiohttp server with the product's
settings (the same AsyncServer options, namespace /chat, a `conversation`
event after connecting, one ack and one reply per message), and nothing else:
no database, no matcher. What it does per message is what the stack itself
costs; bench/run.py drives it with the same generator and rates as the
product and reports the product's figures as a ratio of these.

    python bench/echo_server.py --port 0       # prints "Listening on http://HOST:PORT"

The tuning flags of bench/tuning.py (--uvloop, --gc-freeze, --gc-pace, ...)
mean here what they mean for the product (bench/tuned_server.py), so both
sides of a comparison always run on the same stack. The one thing it takes
from the product is chatbot/runtime.py, the collector pacing, for that reason.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import socketio
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tuning import apply_tuning, tuning_args  # noqa: E402

MAX_SOCKET_MESSAGE = 64 * 1024  # as chatbot/web/app.py


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EchoNamespace(socketio.AsyncNamespace):
    def __init__(self) -> None:
        super().__init__("/chat")
        self.ids = itertools.count(1)
        self.seqs: dict[str, int] = {}

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        if not isinstance(auth, dict) or not auth.get("token"):
            raise socketio.exceptions.ConnectionRefusedError("unauthorized")
        self.seqs[sid] = 0
        self.server.start_background_task(
            self.emit, "conversation", {"id": next(self.ids), "state": "bot", "messages": []}, to=sid
        )

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self.seqs.pop(sid, None)

    def _message(self, sid: str, sender: str, text: str) -> dict[str, Any]:
        self.seqs[sid] = seq = self.seqs.get(sid, 0) + 1
        return {
            "id": next(self.ids),
            "conversation_id": 1,
            "seq": seq,
            "sender": {"type": sender, "name": "Assistant" if sender == "bot" else "Customer"},
            "text": text,
            "created_at": now_iso(),
        }

    async def on_message(self, sid: str, data: Any = None) -> dict[str, Any]:
        if not isinstance(data, dict) or not isinstance(data.get("text"), str) or not data.get("client_id"):
            return {"ok": False, "error": "invalid_payload"}
        message = self._message(sid, "customer", data["text"])
        reply = self._message(sid, "bot", data["text"])
        reply.update(intent="echo", confidence=1.0)
        await self.emit("message", reply, to=sid)
        return {"ok": True, "message": message}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8081)
    tuning_args(p)
    args = p.parse_args(argv)
    apply_tuning(args)
    # as the product (chatbot/__main__.py): INFO logging, so aiohttp's access log is on
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def serve() -> None:
        app = web.Application()
        sio = socketio.AsyncServer(
            async_mode="aiohttp", cors_allowed_origins=[], max_http_buffer_size=MAX_SOCKET_MESSAGE
        )
        sio.register_namespace(EchoNamespace())
        sio.attach(app)
        app.router.add_get("/healthz", lambda request: web.json_response({"ok": True}))
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, args.host, args.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        print(f"Listening on http://{host}:{port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
