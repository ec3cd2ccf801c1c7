"""Command line: `python -m chatbot serve|eval|intents check`."""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from .settings import Settings


def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from .web.app import create_app

    overrides = {k: v for k, v in {"host": args.host, "port": args.port, "db": args.db,
                                   "intents_dir": args.intents}.items() if v is not None}
    if args.no_demo:
        overrides["demo"] = False
    settings = Settings(**overrides)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def serve() -> None:
        runner = web.AppRunner(create_app(settings), handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chatbot")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the chat server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int, help="0 picks a free port")
    serve.add_argument("--db", type=Path, help="SQLite database file")
    serve.add_argument("--intents", type=Path, help="folder of brand folders")
    serve.add_argument("--no-demo", action="store_true", help="do not seed the demo data")
    serve.set_defaults(run=_serve)

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
