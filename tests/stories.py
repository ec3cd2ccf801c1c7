"""Conversation stories (tests/data/stories/README.md): whole conversations,
written the way customers write, with what every turn must do. Each story runs
against a real server started in this process on a fresh database with the
demo data, its clock started at the story's `at:` (or now), and is driven
through the official client, socketio.AsyncClient, as the widget and the
agent console would drive it.

    .venv/bin/python tests/stories.py [FILES...] [-v] [--quiet SECONDS] [--jobs N]

runs every story of the files (default: every YAML file under
tests/data/stories/), prints each step's result, the failed expectations and
the turn's text of failures (of every step with -v), then the totals:
`steps: P/N (x%)  stories: P/N (y%)`. It exits 1 when a story fails.
tests/test_stories.py runs the same and asserts the pass rates."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from chatbot.clock import StartedClock, parse_iso
from helpers import (
    ALICE,
    BOB,
    CAROL,
    DANA,
    ELI,
    OLGA,
    OMAR,
    SUNNY,
    TOM,
    ChatClient,
    Server,
    forget_stopped_apps,
    make_settings,
    start_server,
)

STORIES_DIR = Path(__file__).parent / "data" / "stories"
ACCOUNTS: dict[str, dict[str, str]] = {
    "alice": ALICE,
    "bob": BOB,
    "sunny": SUNNY,
    "carol": CAROL,
    "dana": DANA,
    "eli": ELI,
    "tom": TOM,
    "olga": OLGA,
    "omar": OMAR,
}
STEP_KINDS = ("say", "click", "agent", "agent_do")
EXPECTATIONS = ("says", "says_any", "not_says", "intent", "handoff", "buttons", "no_buttons", "silent")
HANDOFF_STATES = ("queued", "assigned", "offline", "closed", "none")
AGENT_ACTIONS = ("resolve", "handback", "release")
STORY_KEYS = ("name", "brand", "user", "at", "agents", "steps")
# stories.md: "until the server has been quiet for about a second". Less is
# enough here (the bot answers in milliseconds) and keeps a full run short.
QUIET_SECONDS = 0.6
# How long a turn may take to start: only a turn that brings nothing back
# (`silent`) waits this long, so a slow machine does not cut a reply off.
FIRST_EVENT_SECONDS = 2.0
POLL_SECONDS = 0.02
STALL_SECONDS = 0.1
LONGEST_TURN_SECONDS = 30.0
# Stories run side by side, each on its own server: most of a story is waiting
# for quiet. More would crowd a small machine (replies slower than the quiet).
JOBS = 4


class StoryError(ValueError):
    """A story file that does not follow the format: reported, never guessed at
    (a misspelt expectation would otherwise pass without checking anything)."""


# -- the stories ----------------------------------------------------------------------------


@dataclass
class Story:
    name: str
    brand: str
    user: str
    steps: list[dict[str, Any]]
    at: datetime | None = None
    agents: list[str] = field(default_factory=list)
    source: str = ""


def _as_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise StoryError(f"{where}: expected a pattern or a list of patterns, got {value!r}")
    return value


def _check_step(step: Any, where: str) -> dict[str, Any]:
    if not isinstance(step, dict):
        raise StoryError(f"{where}: a step is a mapping, got {step!r}")
    kinds = [k for k in STEP_KINDS if k in step]
    unknown = set(step) - set(STEP_KINDS) - {"expect"}
    if unknown:
        raise StoryError(f"{where}: unknown key(s) {sorted(unknown)}; a step is one of {STEP_KINDS} with `expect`")
    if len(kinds) != 1:
        raise StoryError(f"{where}: a step is exactly one of {STEP_KINDS}, got {sorted(step)}")
    kind = kinds[0]
    if not isinstance(step[kind], str) or not step[kind]:
        raise StoryError(f"{where}: `{kind}` needs a non-empty string")
    if kind == "agent_do" and step[kind] not in AGENT_ACTIONS:
        raise StoryError(f"{where}: agent_do is one of {AGENT_ACTIONS}, got {step[kind]!r}")
    if kind == "click":
        _compile(step[kind], where)
    expect = step.get("expect")
    if "expect" in step:
        if not isinstance(expect, dict) or not expect:
            raise StoryError(f"{where}: `expect` is a non-empty mapping")
        unknown = set(expect) - set(EXPECTATIONS)
        if unknown:
            raise StoryError(f"{where}: unknown expectation(s) {sorted(unknown)}; known: {EXPECTATIONS}")
        for key in ("says", "says_any", "not_says", "buttons", "no_buttons"):
            if key in expect:
                for pattern in _as_list(expect[key], f"{where}: {key}"):
                    _compile(pattern, f"{where}: {key}")
        if "handoff" in expect and (expect["handoff"] or "none") not in HANDOFF_STATES:
            raise StoryError(f"{where}: handoff is one of {HANDOFF_STATES}, got {expect['handoff']!r}")
        if "silent" in expect and not isinstance(expect["silent"], bool):
            raise StoryError(f"{where}: silent is true or false")
        if "intent" in expect and not isinstance(expect["intent"], str):
            raise StoryError(f"{where}: intent is an intent's name")
    return step


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as e:
        raise StoryError(f"{where}: bad pattern {pattern!r}: {e}") from None


def load_stories(path: Path) -> list[Story]:
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or []
    if not isinstance(data, list):
        raise StoryError(f"{path}: a story file is a list of stories")
    stories, names = [], set()
    for number, raw in enumerate(data, start=1):
        where = f"{path}: story {number}"
        if not isinstance(raw, dict):
            raise StoryError(f"{where}: a story is a mapping")
        unknown = set(raw) - set(STORY_KEYS)
        if unknown:
            raise StoryError(f"{where}: unknown key(s) {sorted(unknown)}")
        for key in ("name", "brand", "user", "steps"):
            if not raw.get(key):
                raise StoryError(f"{where}: `{key}` is required")
        name = str(raw["name"])
        where = f"{path}: {name}"
        if name in names:
            raise StoryError(f"{where}: the name is used twice")
        names.add(name)
        if raw["user"] not in ACCOUNTS:
            raise StoryError(f"{where}: unknown demo account {raw['user']!r}")
        agents = raw.get("agents") or []
        if not isinstance(agents, list) or any(a not in ACCOUNTS for a in agents):
            raise StoryError(f"{where}: agents is a list of demo agents ({sorted(ACCOUNTS)}), got {agents!r}")
        at = raw.get("at")
        if at is not None:
            try:
                # YAML may already have read an unquoted timestamp as a datetime.
                at = at if isinstance(at, datetime) else parse_iso(str(at))
            except ValueError:
                raise StoryError(f"{where}: `at` is an ISO 8601 time, got {at!r}") from None
            if at.utcoffset() is None:
                raise StoryError(f"{where}: `at` needs its UTC offset, got {at!r}")
        if not isinstance(raw["steps"], list):
            raise StoryError(f"{where}: steps is a list")
        steps = [_check_step(s, f"{where}: step {i}") for i, s in enumerate(raw["steps"], start=1)]
        stories.append(Story(name, str(raw["brand"]), str(raw["user"]), steps, at, list(agents), str(path)))
    return stories


def story_files(paths: list[Path] | None = None) -> list[Path]:
    """The files given, a folder's YAML files, or every one under tests/data/stories/."""
    found: list[Path] = []
    for path in paths or [STORIES_DIR]:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
        else:
            found.append(path)
    return found


# -- what a step saw and whether it held --------------------------------------------------------


@dataclass
class Turn:
    """What came back on the customer's /chat socket after a step."""

    events: list[tuple[str, Any]]
    # The seq of the step's own message (the customer's, or the agent's minus
    # one): a message stored before it belongs to an earlier turn, and only
    # came late (its turn was cut off by too short a quiet period).
    after_seq: int | None = None

    def _late(self, data: Any) -> bool:
        return (
            self.after_seq is not None
            and isinstance(data, dict)
            and isinstance(data.get("seq"), int)
            and data["seq"] <= self.after_seq
        )

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [d for e, d in self.events if e == "message" and isinstance(d, dict) and not self._late(d)]

    @property
    def late(self) -> list[dict[str, Any]]:
        """Messages of an earlier turn that came during this one: kept out of it."""
        return [
            d
            for e, d in self.events
            if e == "message" and self._late(d) and d.get("sender", {}).get("type") != "customer"
        ]

    @property
    def replies(self) -> list[dict[str, Any]]:
        """The bot's and the system's messages (stories.md: the turn's text)."""
        return [m for m in self.messages if m.get("sender", {}).get("type") in ("bot", "system")]

    @property
    def quick_replies(self) -> list[tuple[str, Any]]:
        """(title, payload) of every quick reply of the turn, in order; payload
        None for the plain-string form."""
        found = []
        for message in self.replies:
            for reply in message.get("quick_replies") or []:
                if isinstance(reply, dict):
                    found.append((str(reply.get("title", "")), reply.get("payload")))
                else:
                    found.append((str(reply), None))
        return found

    @property
    def titles(self) -> list[str]:
        return [title for title, _ in self.quick_replies]

    @property
    def text(self) -> str:
        parts: list[str] = []
        for message in self.replies:
            parts.append(str(message.get("text", "")))
            titles = [t for t, _ in Turn([("message", message)]).quick_replies]
            parts += titles
        return "\n".join(parts)

    @property
    def handoff(self) -> str:
        states = [d.get("state") for e, d in self.events if e == "handoff" and isinstance(d, dict)]
        return str(states[-1]) if states else "none"

    @property
    def intent(self) -> str | None:
        bot = [m for m in self.replies if m["sender"]["type"] == "bot"]
        return bot[0].get("intent") if bot else None

    def shown(self) -> str:
        """The turn as the failure report shows it: who said what, buttons, handoffs."""
        lines = []
        for event, data in self.events:
            if event == "message" and isinstance(data, dict):
                who = data.get("sender", {}).get("type", "?")
                extra = f" [intent {data['intent']}]" if who == "bot" and data.get("intent") else ""
                extra += " [late: of an earlier turn, not counted]" if self._late(data) else ""
                lines.append(f"{who}{extra}: {data.get('text', '')}")
                titles = [t for t, _ in Turn([("message", data)]).quick_replies]
                if titles:
                    lines.append("  buttons: " + " | ".join(titles))
            elif event == "handoff" and isinstance(data, dict):
                lines.append(f"handoff: {data.get('state')}")
        return "\n".join(lines) or "(nothing came back)"


def check(expect: dict[str, Any], turn: Turn) -> list[str]:
    """The expectations that failed, each said in a line; [] when all hold."""
    failed: list[str] = []
    text = turn.text
    for pattern in _as_list(expect.get("says", []), "says"):
        if not re.search(pattern, text, re.IGNORECASE):
            failed.append(f"says {pattern!r}: no match")
    any_of = _as_list(expect.get("says_any", []), "says_any")
    if any_of and not any(re.search(p, text, re.IGNORECASE) for p in any_of):
        failed.append(f"says_any {any_of!r}: none matches")
    for pattern in _as_list(expect.get("not_says", []), "not_says"):
        hit = re.search(pattern, text, re.IGNORECASE)
        if hit:
            failed.append(f"not_says {pattern!r}: matched {hit.group(0)!r}")
    if "intent" in expect and turn.intent != expect["intent"]:
        failed.append(f"intent: expected {expect['intent']!r}, got {turn.intent!r}")
    if "handoff" in expect:
        wanted = expect["handoff"] or "none"
        if turn.handoff != wanted:
            failed.append(f"handoff: expected {wanted}, got {turn.handoff}")
    titles = turn.titles
    for pattern in _as_list(expect.get("buttons", []), "buttons"):
        if not any(re.search(pattern, t, re.IGNORECASE) for t in titles):
            failed.append(f"buttons {pattern!r}: no quick reply matches (got {titles!r})")
    for pattern in _as_list(expect.get("no_buttons", []), "no_buttons"):
        hits = [t for t in titles if re.search(pattern, t, re.IGNORECASE)]
        if hits:
            failed.append(f"no_buttons {pattern!r}: matched {hits!r}")
    if "silent" in expect:
        # Anything the customer would see breaks the silence: a message from
        # anyone but themselves, or a change of handoff state.
        seen = [("handoff", d) for e, d in turn.events if e == "handoff"]
        seen += [("message", m) for m in turn.messages if m.get("sender", {}).get("type") != "customer"]
        if expect["silent"] and seen:
            failed.append(f"silent: {len(seen)} event(s) came back")
        if not expect["silent"] and not seen:
            failed.append("silent: false, but nothing came back")
    return failed


@dataclass
class StepResult:
    number: int
    step: dict[str, Any]
    turn: Turn
    failures: list[str]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def scored(self) -> bool:
        """A step counts when it expects something, or when it could not be
        done at all (no such button, no agent holding the chat)."""
        return "expect" in self.step or bool(self.failures)

    @property
    def label(self) -> str:
        kind = next(k for k in STEP_KINDS if k in self.step)
        return f"{kind}: {self.step[kind]!r}"


@dataclass
class StoryResult:
    story: Story
    steps: list[StepResult]
    error: str | None = None  # the story could not be set up or run on

    @property
    def passed(self) -> bool:
        return self.error is None and all(s.passed for s in self.steps)


# -- running one story ------------------------------------------------------------------------


class _Agent:
    """A demo agent on /agent, and the conversations it holds (from its events)."""

    def __init__(self, name: str, client: ChatClient) -> None:
        self.name, self.client = name, client
        # conversation -> how many events it had seen when it let go of it by
        # its own hand (resolve, handback, release): only a later `assigned` counts
        self.dropped: dict[int, int] = {}

    def holds(self, conversation_id: int) -> bool:
        holding = False
        for event, data in self.client.events[self.dropped.get(conversation_id, 0) :]:
            if event == "assigned" and data["conversation"]["id"] == conversation_id:
                holding = True
            elif event == "unassigned" and data.get("conversation_id") == conversation_id:
                holding = False
        return holding

    def let_go(self, conversation_id: int) -> None:
        self.dropped[conversation_id] = len(self.client.events)


async def quiet(client: ChatClient, mark: int, seconds: float, first: float) -> Turn:
    """The events after `mark` once the socket has been quiet for `seconds`
    (`first` for the first of them)."""
    loop = asyncio.get_running_loop()
    seen, polled = mark, loop.time()
    last = started = polled
    while True:
        await asyncio.sleep(POLL_SECONDS)
        now = loop.time()
        if len(client.events) > seen:
            seen, last = len(client.events), now
        elif now - polled > POLL_SECONDS + STALL_SECONDS:
            # The loop was busy (a server starting beside this one, a loaded
            # machine): the servers, which share it, could not speak either, so
            # that time is not quiet.
            last = now
        elif now - last >= (first if seen == mark else seconds) or now - started > LONGEST_TURN_SECONDS:
            return Turn(list(client.events[mark:]))
        polled = now


async def _login(server: Server, account: str, brand: str) -> str:
    # The story's brand, not the account's: a story that pairs an account with
    # another brand should fail to log in rather than run elsewhere.
    return await server.login({**ACCOUNTS[account], "brand": brand})


async def run_story(
    story: Story, tmp_dir: Path, quiet_seconds: float = QUIET_SECONDS, first_event_seconds: float = FIRST_EVENT_SECONDS
) -> StoryResult:
    """Start a fresh server, play the story, stop the server."""
    clock = StartedClock(story.at or datetime.now(UTC))
    # start_server's hint says ManualClock, but any Clock does.
    server = await start_server(make_settings(tmp_dir), clock=clock)  # type: ignore[arg-type]
    clients: list[ChatClient] = []
    results: list[StepResult] = []
    try:
        agents: list[_Agent] = []
        for name in story.agents:
            console = ChatClient(server.url, "/agent")
            clients.append(console)
            await console.connect({"token": await _login(server, name, story.brand), "status": "online"})
            await console.wait_for("queue")
            ack = await console.call("status", {"status": "online"})
            if not ack.get("ok"):
                return StoryResult(story, results, f"agent {name} could not go online: {ack}")
            agents.append(_Agent(name, console))
        customer = ChatClient(server.url)
        clients.append(customer)
        await customer.connect({"token": await _login(server, story.user, story.brand)})
        conversation_id = (await customer.wait_for("conversation"))["id"]
        await quiet(customer, 0, quiet_seconds, quiet_seconds)  # whatever a connect brings is no turn
        last = Turn([])
        for number, step in enumerate(story.steps, start=1):
            mark = len(customer.events)
            problem, after_seq = await _act(step, customer, agents, conversation_id, last)
            # An agent's action is answered (or not) like a message: wait the
            # same; nothing was sent when the step could not be done.
            turn = await quiet(customer, mark, quiet_seconds, quiet_seconds if problem else first_event_seconds)
            turn.after_seq = after_seq
            failures = [problem] if problem else check(step.get("expect") or {}, turn)
            results.append(StepResult(number, step, turn, failures))
            last = turn
    except Exception as e:  # a broken server or harness: the story fails with the reason
        return StoryResult(story, results, f"{type(e).__name__}: {e}")
    finally:
        for client in clients:
            await client.close()
        await server.runner.cleanup()
        forget_stopped_apps()
    return StoryResult(story, results)


async def _act(
    step: dict[str, Any], customer: ChatClient, agents: list[_Agent], conversation_id: int, last: Turn
) -> tuple[str | None, int | None]:
    """Do the step: (a reason when it could not be done, the seq after which
    the turn's messages come, when the step wrote one)."""
    if "say" in step:
        return await _send(customer, {"text": step["say"]})
    if "click" in step:
        body = button_message(step["click"], last)
        if body is None:
            return f"click {step['click']!r}: no quick reply of the last turn matches (got {last.titles!r})", None
        return await _send(customer, body)
    holder = next((a for a in agents if a.holds(conversation_id)), None)
    if holder is None:
        return f"no agent of {[a.name for a in agents]} holds the chat", None
    after_seq = None
    if "agent" in step:
        ack = await holder.client.call(
            "message", {"conversation_id": conversation_id, "client_id": str(uuid.uuid4()), "text": step["agent"]}
        )
        if ack.get("ok"):
            after_seq = ack["message"]["seq"] - 1  # the agent's message is part of what the customer sees
    else:
        ack = await holder.client.call(step["agent_do"], {"conversation_id": conversation_id})
        if ack.get("ok"):
            holder.let_go(conversation_id)
    return (None if ack.get("ok") else f"the agent's {next(iter(step))} was refused: {ack}"), after_seq


def button_message(pattern: str, last: Turn) -> dict[str, Any] | None:
    """What the widget sends for the first quick reply of the last turn whose
    title matches: its title as the text, and its payload when the quick reply
    carries one (protocol.md); None when no title matches."""
    for title, payload in last.quick_replies:
        if re.search(pattern, title, re.IGNORECASE):
            body: dict[str, Any] = {"text": title}
            if payload is not None:
                body["payload"] = payload
            return body
    return None


async def _send(customer: ChatClient, body: dict[str, Any]) -> tuple[str | None, int | None]:
    ack = await customer.call("message", {"client_id": str(uuid.uuid4()), **body})
    if not ack.get("ok"):
        return f"the message was refused: {ack}", None
    return None, ack["message"]["seq"]


async def run_stories(
    stories: list[Story],
    quiet_seconds: float = QUIET_SECONDS,
    first_event_seconds: float = FIRST_EVENT_SECONDS,
    jobs: int = JOBS,
) -> list[StoryResult]:
    """Every story on its own server and database, `jobs` of them at a time:
    a story mostly waits for quiet, so a few side by side cost little CPU."""
    slots = asyncio.Semaphore(max(1, jobs))

    async def one(number: int, story: Story, tmp: Path) -> StoryResult:
        async with slots:
            folder = tmp / str(number)  # a fresh database for every story
            folder.mkdir()
            return await run_story(story, folder, quiet_seconds, first_event_seconds)

    with tempfile.TemporaryDirectory(prefix="stories-") as tmp:
        return list(await asyncio.gather(*(one(n, s, Path(tmp)) for n, s in enumerate(stories))))


# -- the report -------------------------------------------------------------------------------


@dataclass
class Totals:
    steps_passed: int
    steps: int
    stories_passed: int
    stories: int

    @property
    def step_rate(self) -> float:
        return self.steps_passed / self.steps if self.steps else 1.0

    @property
    def story_rate(self) -> float:
        return self.stories_passed / self.stories if self.stories else 1.0

    def __str__(self) -> str:
        return (
            f"steps: {self.steps_passed}/{self.steps} ({self.step_rate:.0%})  "
            f"stories: {self.stories_passed}/{self.stories} ({self.story_rate:.0%})"
        )


def totals(results: list[StoryResult]) -> Totals:
    scored = [s for r in results for s in r.steps if s.scored]
    # A story that broke off counts its steps that never ran as failed.
    missing = sum(
        sum(1 for st in r.story.steps if "expect" in st) - sum(1 for s in r.steps if "expect" in s.step)
        for r in results
        if r.error
    )
    return Totals(sum(s.passed for s in scored), len(scored) + missing, sum(r.passed for r in results), len(results))


def _indent(text: str, prefix: str = "        ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def report(results: list[StoryResult], verbose: bool = False, failures_only: bool = False, footer: str = "") -> str:
    lines = []
    for result in results:
        if failures_only and result.passed:
            continue
        lines.append(
            f"{'PASS' if result.passed else 'FAIL'} {result.story.name}"
            + (f"  (at {result.story.at.isoformat()})" if result.story.at else "")
        )
        for step in result.steps:
            if failures_only and step.passed:
                continue
            mark = ("ok  " if step.passed else "FAIL") if step.scored else "    "
            lines.append(f"  {mark} {step.number}. {step.label}")
            for failure in step.failures:
                lines.append(f"         - {failure}")
            if step.turn.late:
                lines.append(
                    f"         note: {len(step.turn.late)} message(s) of an earlier turn came only now "
                    f"(kept out of this turn; a longer --quiet gives them to their own)"
                )
            if not step.passed or verbose:
                lines.append(_indent(step.turn.shown()))
        if result.error:
            lines.append(f"  ERROR {result.error}")
    if footer:
        lines.append(footer)
    lines.append(str(totals(results)))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tests/stories.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="story files or folders (default: tests/data/stories/)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show every step's turn, not only failures")
    parser.add_argument(
        "--quiet",
        type=float,
        default=QUIET_SECONDS,
        help=f"seconds of silence that end a turn (default {QUIET_SECONDS})",
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=JOBS,
        help=f"stories run side by side, each on its own server (default {JOBS})",
    )
    args = parser.parse_args(argv)
    stories = [s for f in story_files(args.files) for s in load_stories(f)]
    started = time.perf_counter()
    results = asyncio.run(run_stories(stories, args.quiet, jobs=args.jobs))
    print(
        report(results, verbose=args.verbose, footer=f"{len(stories)} stories in {time.perf_counter() - started:.1f} s")
    )
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
