"""The validation kit of study files: typed tables and one-line errors with file and line.

Used by study/config.py for the core sections and by each engine for its own section.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from hpsearch.errors import Found, StudyError

TYPE_NAMES = {
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    bool: "true or false",
    dict: "a table",
}


def type_name(t: Any) -> str:
    if isinstance(t, tuple):
        return " or ".join(TYPE_NAMES[x] for x in t)
    return TYPE_NAMES.get(t, t.__name__)


def is_type(value: Any, t: Any) -> bool:
    types = t if isinstance(t, tuple) else (t,)
    for one in types:
        if one is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if one is int and isinstance(value, bool):
            continue
        if isinstance(value, one):
            return True
    return False


class Checker:
    """Raises StudyError with file, key, line and expectation; one instance per file."""

    def __init__(self, source: str, text: str) -> None:
        self.source, self.lines = source, text.splitlines()

    def line_of(self, key: str) -> int | None:
        """Best-effort line of `section.name = ...` (tomllib does not keep positions)."""
        section, _, name = key.rpartition(".")
        in_section = not section
        for i, line in enumerate(self.lines, 1):
            stripped = line.strip()
            header = re.match(r"\[\s*([^\]]+?)\s*\]\s*(#.*)?$", stripped)
            if header:
                if not section and header.group(1) == name:  # an unknown table: its header
                    return i
                in_section = header.group(1) == section
            elif in_section and re.match(rf"{re.escape(name)}\s*=", stripped):
                return i
        return None

    def fail(self, key: str | None, expected: str, got: Any) -> StudyError:
        return StudyError(self.source, key, expected, got, self.line_of(key) if key else None)

    def table(self, key: str, value: Any, allowed: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, "a table", value)
        for name, item in value.items():
            full = f"{key}.{name}" if key else name
            if name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=1)
                hint = f"one of {', '.join(allowed)}" + (
                    f" (did you mean {close[0]!r}?)" if close else ""
                )
                raise self.fail(full, hint, Found(f"an unknown key {name!r}"))
            if allowed[name] is not object and not is_type(item, allowed[name]):
                raise self.fail(full, type_name(allowed[name]), item)
        return value

    def at_least(self, key: str, value: Any, minimum: float = 1) -> Any:
        if value < minimum:
            raise self.fail(key, f"a value >= {minimum}", value)
        return value

    def one_of(self, key: str, value: Any, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            close = difflib.get_close_matches(str(value), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.fail(key, f"one of {', '.join(allowed)}{hint}", value)
        return value


def check_address(c: Checker, key: str, value: str, scheme: str = "") -> str:
    """HOST:PORT (optionally after `scheme`://): a cluster address given in a study."""
    bare = value.removeprefix(f"{scheme}://") if scheme else value
    host, _, port = bare.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in bare:
        shown = f"{scheme}://HOST:PORT or HOST:PORT" if scheme else "HOST:PORT"
        raise c.fail(key, f"an address {shown} (port 1-65535)", value)
    return value
