"""Command line: `python -m chatbot serve|eval|intents check`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .clock import Clock
    from .nlu.evaluate import Item

from .settings import Settings


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        k: v
        for k, v in {
            "host": args.host,
            "port": args.port,
            "db": args.db,
            "database_url": args.database,
            "redis_url": args.redis,
            "trusted_proxies": args.trusted_proxy,
            "intents_dir": args.intents,
            "start_time": args.start_time,
        }.items()
        if v is not None
    }
    if args.no_demo:
        overrides["demo"] = False
    return Settings(**overrides)


def _serve(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from .clock import StartedClock, SystemClock

    try:
        settings = _settings(args)
    except ValidationError as e:  # a setting refused: say which and why, no traceback
        for error in e.errors():
            print(f"chatbot serve: {error['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # One clock for the whole app: the demo data is seeded relative to its now,
    # so a server started on a Saturday has orders placed the days before it.
    clock = StartedClock(settings.start_time) if settings.start_time else SystemClock()
    if settings.start_time:
        logging.getLogger(__name__).info("clock started at %s", settings.start_time.isoformat())
    if settings.uvloop and _uvloop_installed():
        import uvloop

        uvloop.run(_listen(settings, clock))
    else:
        asyncio.run(_listen(settings, clock))
    return 0


async def _listen(settings: Settings, clock: Clock) -> None:
    """Serve until SIGINT or SIGTERM."""
    from aiohttp import web

    from .web.app import create_app

    # Everything the app opens (the store, the matchers, the garbage
    # collector's pacing) opens and closes in its cleanup_ctx (web/app.py).
    runner = web.AppRunner(
        create_app(settings, clock=clock, serving=True),
        handle_signals=False,
        shutdown_timeout=settings.shutdown_seconds,
    )
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


def _instant(text: str) -> datetime:
    """An ISO 8601 instant with its UTC offset (or Z): a bare local time would
    mean a different moment on every machine."""
    from .clock import parse_iso

    try:
        moment = parse_iso(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if moment.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"give the UTC offset or Z: {text!r} (e.g. 2026-12-12T11:00:00-08:00)")
    return moment


def _uvloop_installed() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:  # not on this platform (uvloop has no Windows build)
        return False
    return True


def _load_items(path: Path) -> list[Item]:
    from ruamel.yaml import YAML

    from .nlu.evaluate import Item

    data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or []
    return [Item(str(d["brand"]), str(d["text"]), str(d["intent"])) for d in data]


def _eval(args: argparse.Namespace) -> int:
    import json
    import time

    from .knowledge import Knowledge
    from .nlu import build_matcher, evaluate

    items = _load_items(args.file)
    started = time.perf_counter()
    # the matchers as the server trains them (the same encoder, the same cache)
    knowledge = Knowledge(args.intents or Settings().intents_dir, semantic=not args.lexical_only)
    brands = knowledge.brands
    matchers = {b: knowledge.matcher(b) for b in brands}
    encoder = knowledge.models.encoder if knowledge.semantic else None
    startup = time.perf_counter() - started
    baselines = {
        b: build_matcher(brand.training_data(), threshold=0, margin=0, kind="fuzzy") for b, brand in brands.items()
    }
    items = [i for i in items if i.brand in brands and (not args.brand or i.brand == args.brand)]
    print(
        f"{len(items)} labelled messages from {args.file}; intents loaded and indexed in {startup:.2f} s; "
        f"second opinion: {encoder.name if encoder else 'none (n-grams alone)'}"
    )
    scores = evaluate.run(items, matchers, evaluate.progress_bar())
    failed = _print_summary(args, scores, evaluate.run(items, baselines))
    _print_cross_validated(args, brands, matchers, scores)
    _print_details(args, scores)
    if args.json:
        report = {brand: evaluate.rasa_report(s) for brand, s in scores.items()}
        args.json.write_text(json.dumps(report, indent=2))
        print(f"\nwrote {args.json}")
    verdict = "FAILED" if failed else "passed"
    print(
        f"\nthresholds: in-scope accuracy >= {args.min_accuracy}, OOS rejection >= {args.min_oos_rejection}, "
        f"lift over baseline >= {args.min_lift}: {verdict}"
    )
    return 1 if failed else 0


def _print_summary(args: argparse.Namespace, scores: dict[str, Any], base: dict[str, Any]) -> bool:
    """One line per brand; True when a brand is below a threshold."""
    failed = False
    print(
        f"\n{'brand':<10} {'in-scope acc':>12} {'baseline':>9} {'OOS rejection':>14} {'baseline':>9} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}"
    )
    for brand, s in sorted(scores.items()):
        b = base[brand]
        lat = s.latency_ms()
        print(
            f"{brand:<10} {s.accuracy:>12.3f} {b.accuracy:>9.3f} {s.oos_rejection:>14.3f} "
            f"{b.oos_rejection:>9.3f} {lat['p50']:>7.3f} {lat['p99']:>7.3f} {lat['max']:>7.3f}"
        )
        if s.accuracy < args.min_accuracy or s.oos_rejection < args.min_oos_rejection:
            failed = True
        if s.accuracy - b.accuracy < args.min_lift:
            failed = True
    return failed


def _print_details(args: argparse.Namespace, scores: dict[str, Any]) -> None:
    for brand, s in sorted(scores.items()):
        print(f"\n{brand}: per intent (precision / recall / F1 / support)")
        for name, r in sorted(s.per_intent().items()):
            print(f"  {name:<24} {r['precision']:.2f} / {r['recall']:.2f} / {r['f1-score']:.2f} / {r['support']}")
        confusions = s.confusions()
        if confusions:
            print(f"{brand}: most frequent confusions (label -> predicted: count)")
            for label, predicted, n in confusions:
                print(f"  {label} -> {predicted}: {n}")
        if args.errors:
            print(f"{brand}: misses")
            for o in s.errors():
                print(f"  [{o.item.intent} -> {o.predicted} {o.confidence:.2f}] {o.item.text}")


def _print_cross_validated(
    args: argparse.Namespace, brands: dict[str, Any], matchers: dict[str, Any], scores: dict[str, Any]
) -> None:
    """Beside the set's figures, the brand's own examples read out of fold:
    the figures that predict unseen messages, and the calibration of both."""
    from .nlu import evaluate

    print(
        f"\n{'brand':<10} {'cross-validated acc':>19} {'OOS rejection':>14} {'calibration error':>18} "
        f"{'(this set)':>11}"
    )
    for brand, s in sorted(scores.items()):
        nlu = brands[brand].settings.nlu
        model = matchers[brand].model
        cv = evaluate.cross_validated(brand, model, nlu.threshold, nlu.margin)
        print(
            f"{brand:<10} {cv.accuracy:>19.3f} {cv.oos_rejection:>14.3f} "
            f"{evaluate.calibration_error(cv.outcomes):>18.3f} {evaluate.calibration_error(s.outcomes):>11.3f}"
        )
        if args.reliability:
            print("\n".join(evaluate.reliability_lines(f"{brand}, cross-validated", cv.outcomes)))
            print("\n".join(evaluate.reliability_lines(f"{brand}, {args.file.name}", s.outcomes)))
        if args.sweep:
            _print_sweep(args, brand, matchers[brand], nlu, [o.item for o in s.outcomes])
    if args.fit_temperature:
        from .nlu.tune import fit_temperature

        print(f"\nTEMPERATURE = {fit_temperature([b.training_data() for b in brands.values()])}")


def _print_sweep(args: argparse.Namespace, brand: str, matcher: Any, nlu: Any, items: list[Any]) -> None:
    """In-scope accuracy / OOS rejection at thresholds 0.2-0.8, cross-validated and on the set."""
    from .nlu import evaluate

    steps = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    print(
        "\n".join(
            evaluate.sweep_lines(
                f"{brand}, cross-validated",
                lambda t: evaluate.cross_validated(brand, matcher.model, t, nlu.margin),
                steps,
            )
        )
    )

    def on_set(threshold: float) -> evaluate.Scores:
        matcher.threshold = threshold
        return evaluate.run(items, {brand: matcher})[brand]

    print("\n".join(evaluate.sweep_lines(f"{brand}, {args.file.name}", on_set, steps)))
    matcher.threshold = nlu.threshold


def _intents_check(args: argparse.Namespace) -> int:
    from .conversation.records import KNOWN_ACTIONS
    from .operator.lint import check

    findings = check(args.intents or Settings().intents_dir, known_actions=KNOWN_ACTIONS)
    for finding in findings:
        print(finding)
    errors = sum(f.level == "error" for f in findings)
    print(f"{errors} errors, {len(findings) - errors} warnings")
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chatbot")
    commands = parser.add_subparsers(dest="command", required=True)
    _serve_options(commands.add_parser("serve", help="run the chat server"))
    _eval_options(commands.add_parser("eval", help="evaluate the matcher on a labelled YAML set (dev.yaml format)"))
    intents = commands.add_parser("intents", help="intent files")
    intents_commands = intents.add_subparsers(dest="intents_command", required=True)
    lint = intents_commands.add_parser("check", help="lint the intent files")
    lint.add_argument("--intents", type=Path)
    lint.set_defaults(run=_intents_check)

    args = parser.parse_args(argv)
    status: int = args.run(args)
    return status


def _serve_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--host")
    serve.add_argument("--port", type=int, help="0 picks a free port")
    serve.add_argument("--db", type=Path, help="SQLite database file")
    serve.add_argument("--database", metavar="URL", help="postgresql://... : the store on PostgreSQL")
    serve.add_argument("--redis", metavar="URL", help="redis://... : one process of a cluster (needs --database)")
    serve.add_argument(
        "--trusted-proxy",
        action="append",
        metavar="ADDRESS",
        help="a proxy in front (address or CIDR; repeat for more): the client's address comes from its X-Forwarded-For",
    )
    serve.add_argument("--intents", type=Path, help="folder of brand folders")
    serve.add_argument("--no-demo", action="store_true", help="do not seed the demo data")
    serve.add_argument(
        "--start-time",
        type=_instant,
        metavar="ISO",
        help="start the clock at this instant, e.g. 2026-12-12T11:00:00-08:00, and run on from "
        "there (opening hours, timers, the demo data's dates)",
    )
    serve.set_defaults(run=_serve)


def _eval_options(ev: argparse.ArgumentParser) -> None:
    ev.add_argument("file", type=Path)
    ev.add_argument("--intents", type=Path)
    ev.add_argument("--brand")
    ev.add_argument("--json", type=Path, help="write a report shaped like Rasa's intent_report.json")
    ev.add_argument("--min-accuracy", type=float, default=0.0, help="exit 1 below this in-scope accuracy")
    ev.add_argument("--min-oos-rejection", type=float, default=0.0, help="exit 1 below this OOS rejection")
    ev.add_argument("--min-lift", type=float, default=-1.0, help="exit 1 below this lift over the baseline")
    ev.add_argument("--errors", action="store_true", help="list every miss")
    ev.add_argument(
        "--reliability", action="store_true", help="print the reliability curves (cross-validated and on this set)"
    )
    ev.add_argument(
        "--sweep", action="store_true", help="figures at thresholds 0.2-0.8 (cross-validated and on this set)"
    )
    ev.add_argument("--lexical-only", action="store_true", help="without the sentence-embedding second opinion")
    ev.add_argument("--fit-temperature", action="store_true", help="fit hybrid.TEMPERATURE by cross-validation")
    ev.set_defaults(run=_eval)


if __name__ == "__main__":
    sys.exit(main())
