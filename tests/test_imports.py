"""Which part of chatbot/ may import which (docs/architecture.md), read from
the source with `ast`: every import counts, those inside functions too.

- The matcher (chatbot.nlu) and the store (chatbot.store) import nothing from
  the rest of chatbot/ and nothing of the web (aiohttp, Socket.IO).
- The domain (all of chatbot/ but the edge) imports nothing from the edge:
  not chatbot.web, not aiohttp, not Socket.IO. The edge is chatbot.web and the
  command line, chatbot.__main__, which starts the server.

An import that breaks a rule today and is someone's work to remove is listed
in KNOWN: its test is an expected failure (strict), so it fails loudly once
the import is gone and the entry is stale; an import that is not listed
fails at once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "chatbot"
WEB_LIBRARIES = ("aiohttp", "socketio", "engineio")
SELF_CONTAINED = ("chatbot.nlu", "chatbot.store")
EDGE = ("chatbot.web", "chatbot.__main__")

# (rule, module) -> the imports that break the rule today, exactly.
KNOWN: dict[tuple[str, str], set[str]] = {}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts).removesuffix(".__init__")] = path
    return found


def imports(module: str, path: Path) -> set[str]:
    """The dotted names a module imports, relative imports resolved. For
    `from X import y` both X and X.y (y may be a module) are given."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if node.module:
                names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _as_module(name: str, known: dict[str, Path]) -> str:
    """chatbot.brands.load_brands -> chatbot.brands; aiohttp.web -> aiohttp."""
    if name.split(".")[0] in WEB_LIBRARIES:
        return name.split(".")[0]
    module = name
    while module and module not in known:
        module = module.rpartition(".")[0]
    return module or name


def violations(rule: str, module: str, path: Path) -> set[str]:
    known = modules()
    found = set()
    for name in {_as_module(n, known) for n in imports(module, path)}:
        if rule == "self-contained":
            home = next(p for p in SELF_CONTAINED if _within(module, p))
            bad = _within(name, "chatbot") and not _within(name, home)
        else:  # "no-edge"
            bad = any(_within(name, e) for e in EDGE)
        if bad or name in WEB_LIBRARIES:
            found.add(name)
    return found


def cases() -> list:
    params = []
    for module, path in modules().items():
        rules = []
        if any(_within(module, p) for p in SELF_CONTAINED):
            rules.append("self-contained")
        if not any(_within(module, e) for e in EDGE):
            rules.append("no-edge")
        for rule in rules:
            known = KNOWN.get((rule, module))
            marks = (
                [
                    pytest.mark.xfail(
                        raises=AssertionError, strict=True, reason=f"{module} imports {', '.join(sorted(known))}"
                    )
                ]
                if known
                else []
            )
            params.append(pytest.param(rule, module, path, id=f"{rule}:{module}", marks=marks))
    return params


@pytest.mark.parametrize(("rule", "module", "path"), cases())
def test_module_keeps_the_import_rules(rule: str, module: str, path: Path) -> None:
    found = violations(rule, module, path)
    unexpected = found - KNOWN.get((rule, module), set())
    if unexpected:
        pytest.fail(
            f"{module} ({path.relative_to(PACKAGE.parent)}) breaks the {rule} rule: "
            f"imports {', '.join(sorted(unexpected))}",
            pytrace=False,
        )
    assert not found, f"{module} still imports {', '.join(sorted(found))}"


def test_every_known_violation_names_a_module_that_exists() -> None:
    stale = sorted(module for _, module in KNOWN if module not in modules())
    assert not stale, f"KNOWN lists modules that are gone: {stale}"


def test_the_rules_see_relative_and_nested_imports(tmp_path: Path) -> None:
    source = tmp_path / "tune.py"
    source.write_text(
        "from . import OUT_OF_SCOPE\nfrom .hybrid import train\n"
        "def main():\n    from ..brands import load_brands\n    from .. import settings\n"
        "    import aiohttp.web\n"
    )
    assert imports("chatbot.nlu.tune", source) >= {
        "chatbot.nlu.OUT_OF_SCOPE",
        "chatbot.nlu.hybrid",
        "chatbot.brands",
        "chatbot.settings",
        "aiohttp.web",
    }
