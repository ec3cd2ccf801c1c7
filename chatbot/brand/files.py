"""Reading a brand's YAML files, and saying where one went wrong: the line of
the key ruamel's round-trip loader remembers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError


class IntentFileError(Exception):
    """An intent or brand file that cannot be used, with where it went wrong."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        super().__init__(f"{path}:{line or 1}: {message}")
        self.path, self.line, self.message = path, line, message


def _yaml() -> YAML:
    return YAML(typ="rt")


def load_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as f:
            return _yaml().load(f)
    except YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise IntentFileError(path, mark.line + 1 if mark else None, f"not valid YAML: {e}") from e


def line_at(data: Any, loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest key of `loc` that ruamel's round-trip loader
    remembers (it keeps where each key and item sits)."""
    line, node = None, data
    for part in loc:
        try:
            line = (node.lc.item(part) if isinstance(part, int) else node.lc.key(part))[0] + 1
            node = node[part]
        except Exception:
            break
    return line


def validation_error(path: Path, data: Any, error: ValidationError) -> IntentFileError:
    first = error.errors()[0]
    loc = first["loc"]
    line = line_at(data, loc)
    where = ".".join(str(p) for p in loc)
    return IntentFileError(path, line, f"{where}: {first['msg']}")
