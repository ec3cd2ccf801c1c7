"""Units small enough to hold in your head (issue 19): no module of chatbot/
over 400 lines, no function over 40, except a function whose def has a
comment starting `# Long because` just above it saying why (a migration's
DDL, the demo data: declarations read top to bottom)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "chatbot"
MODULE_LINES = 400
FUNCTION_LINES = 40
WHY = "# Long because"
MODULES = sorted(PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_the_module_is_at_most_400_lines(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MODULE_LINES


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_its_functions_are_at_most_40_lines_or_say_why(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    long = []
    for node in ast.walk(ast.parse("\n".join(lines))):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        assert node.end_lineno is not None
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        above = lines[max(0, first - 4) : first - 1]
        if node.end_lineno - node.lineno + 1 > FUNCTION_LINES and not any(WHY in line for line in above):
            long.append(f"{node.name} (line {node.lineno}, {node.end_lineno - node.lineno + 1} lines)")
    assert not long, f"over {FUNCTION_LINES} lines without a '{WHY}' comment: {', '.join(long)}"
