"""The package as a wheel, not as the editable install the rest of the suite
uses: build it from the working tree, install it into a fresh virtualenv, and
start the server from there, outside the checkout.

The fresh virtualenv has no pip and no packages of its own but the wheel; the
third-party dependencies (the locked ones) are this environment's, made
visible through a .pth file. That keeps the test offline and fast (about
10 s), and it cannot see the checkout: .pth files inside this environment's
site-packages (among them the editable install's finder) are not processed
there, PYTHONPATH is dropped, `python -I` keeps the working directory off
sys.path, and the server runs from a temporary directory.

What the installed server reads at run time lives outside the package, in the
checkout (intents/, static/, node_modules/, tests/data/): an installed server
is pointed at them with its settings (--intents and CHATBOT_* variables,
docs/configuration.md), exactly as here. `make run` does not need them: its
defaults are the checkout's folders."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import threading
import uuid
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import aiohttp
import pytest
import socketio

from helpers import ALICE

REPO = Path(__file__).resolve().parent.parent
LISTENING = re.compile(r"Listening on (http://\S+)")
# Training the models (when not in the cache) on a loaded machine takes minutes.
STARTUP_TIMEOUT = float(os.environ.get("WHEEL_TEST_STARTUP_TIMEOUT", "300"))
# The installed server's data: the checkout's folders, through its settings.
DATA_ENV = {
    "CHATBOT_INTENTS_DIR": str(REPO / "intents"),
    "CHATBOT_STATIC_DIR": str(REPO / "static"),
    "CHATBOT_VENDOR_DIR": str(REPO / "node_modules"),
    "CHATBOT_LABELLED_DIR": str(REPO / "tests" / "data"),
}


def source_modules(root: Path = REPO) -> set[str]:
    """Every module under chatbot/ in the working tree, as dotted names."""
    names = set()
    for path in (root / "chatbot").rglob("*.py"):
        if "__pycache__" in path.parts:
            continue
        names.add(".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__"))
    return names


def wheel_modules(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as z:
        return {
            name[: -len(".py")].replace("/", ".").removesuffix(".__init__")
            for name in z.namelist()
            if name.startswith("chatbot/") and name.endswith(".py")
        }


def _setuptools_version() -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in metadata.version("setuptools").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return (0,)


def build_wheel(out: Path, pyproject: Path = REPO / "pyproject.toml") -> Path:
    """`pip wheel` from a copy of the working tree (a build in the checkout
    would leave build/ behind). With the test extra's setuptools the build
    uses it, offline; without, pip fetches the build backend."""
    src = out / "src"
    shutil.copytree(REPO / "chatbot", src / "chatbot", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(pyproject, src / "pyproject.toml")
    shutil.copy2(REPO / "README.md", src / "README.md")
    isolation = ["--no-build-isolation"] if _setuptools_version() >= (77,) else []
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-cache-dir",
            *isolation,
            "-w",
            str(out / "dist"),
            str(src),
        ],
        check=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=300,
    )
    (wheel,) = (out / "dist").glob("chatbot-*.whl")
    return wheel


def make_venv(where: Path, wheel: Path) -> Path:
    """A fresh virtualenv with the wheel installed; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    python = where / "bin" / "python"
    site_packages = Path(
        subprocess.run(
            [str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # This environment's packages (the locked dependencies), after the venv's own.
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site_packages / "_locked_dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=300,
    )
    return python


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "CHATBOT_", "VIRTUAL_ENV"))}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the wheel, the python of a fresh virtualenv it is installed in)"""
    where = tmp_path_factory.mktemp("wheel")
    try:
        wheel = build_wheel(where)
    except subprocess.CalledProcessError as e:
        pytest.fail(f"pip wheel failed:\n{e.stdout.decode(errors='replace')}", pytrace=False)
    return wheel, make_venv(where / "venv", wheel)


def test_the_wheel_holds_every_module_of_the_package(built):
    wheel, _ = built
    missing = source_modules() - wheel_modules(wheel)
    assert not missing, f"not in the wheel (pyproject.toml, [tool.setuptools]): {sorted(missing)}"


def test_every_module_imports_from_the_installed_wheel(built, tmp_path):
    wheel, python = built
    modules = sorted(wheel_modules(wheel))
    script = (
        "import importlib, sys\n"
        "from pathlib import Path\n"
        "for name in sys.argv[1:]:\n"
        "    module = importlib.import_module(name)\n"
        "    where = Path(module.__file__).resolve()\n"
        f"    assert Path({str(REPO)!r}) not in where.parents, (name, where)\n"
        "print('ok', len(sys.argv) - 1)\n"
    )
    done = subprocess.run(
        [str(python), "-I", "-c", script, *modules],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["ok", str(len(modules))]


class ServerDidNotStart(Exception):
    pass


@contextlib.contextmanager
def installed_server(python: Path, cwd: Path) -> Iterator[str]:
    """`python -m chatbot serve` from the virtualenv, in `cwd`, on a free port."""
    command = [
        str(python),
        "-I",
        "-m",
        "chatbot",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--db",
        str(cwd / "chat.db"),
    ]
    # the models are cached where the rest of the suite keeps them (~/.cache/chatbot/nlu)
    env = clean_env(**DATA_ENV)
    log = cwd / "server.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
        found: dict[str, str] = {}
        ready = threading.Event()

        def read() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                m = LISTENING.search(raw.decode("utf-8", "replace"))
                if m and not ready.is_set():
                    found["url"] = m.group(1)
                    ready.set()
            ready.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            ready.wait(STARTUP_TIMEOUT)
            if "url" not in found:
                proc.kill()
                proc.wait()
                reader.join(5)
                raise ServerDidNotStart(
                    f"the installed server did not start (exit {proc.returncode}):\n"
                    f"{log.read_text(errors='replace')[-4000:]}"
                )
            yield found["url"]
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            reader.join(5)
            proc.stdout.close()


async def _chat(url: str) -> tuple[str, str, dict]:
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/") as r:
            assert r.status == 200
            page = await r.text()
        async with http.get(url + "/vendor/socket.io.min.js") as r:
            assert r.status == 200
            vendor = await r.text()
        async with http.post(url + "/api/login", json=ALICE) as r:
            assert r.status == 200, await r.text()
            token = (await r.json())["token"]
    sio = socketio.AsyncClient(reconnection=False)
    replies: asyncio.Queue[dict] = asyncio.Queue()

    @sio.on("message", namespace="/chat")
    async def _message(data: dict) -> None:
        if data.get("sender", {}).get("type") == "bot":
            await replies.put(data)

    await sio.connect(url, namespaces=["/chat"], auth={"token": token}, transports=["websocket"], wait_timeout=10)
    try:
        ack = await sio.call(
            "message", {"client_id": str(uuid.uuid4()), "text": "where is my order?"}, namespace="/chat", timeout=30
        )
        assert ack["ok"], ack
        while True:
            reply = await asyncio.wait_for(replies.get(), 30)
            if reply["seq"] > ack["message"]["seq"]:
                return page, vendor, reply
    finally:
        await sio.disconnect()


def test_the_installed_server_starts_outside_the_checkout_and_answers(built, tmp_path):
    _, python = built
    with installed_server(python, tmp_path) as url:
        page, vendor, reply = asyncio.run(_chat(url))
    assert "<html" in page.lower()
    assert "io" in vendor  # the Socket.IO client, from CHATBOT_VENDOR_DIR
    assert reply["text"]
