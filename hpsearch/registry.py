"""The engines, found through the entry-point group `hpsearch.engines` (name = "module:ENGINE").

hpsearch's own engines are declared in its pyproject.toml like any other, so a package
outside hpsearch adds one by declaring an entry point, with no change to hpsearch. Nothing
here names an engine, and nothing of hpsearch is imported: the study's parser looks engines
up, below every engine module. Engine modules keep their search libraries behind `run`, so
loading them all (to validate a study, to list choices) is cheap.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

GROUP = "hpsearch.engines"
_loaded: dict[str, Any] | None = None


class NoEngines(RuntimeError):
    """No engine is registered: hpsearch is not installed (its entry points are its metadata)."""


def engines() -> dict[str, Any]:
    """Every registered engine by name, in their `rank` order (then by name)."""
    global _loaded
    if _loaded is None:
        found = {ep.name: ep.load() for ep in metadata.entry_points(group=GROUP)}
        if not found:
            raise NoEngines(f'no engines in the entry-point group {GROUP!r}: pip install -e "."')
        _loaded = dict(sorted(found.items(), key=lambda item: (item[1].rank, item[0])))
    return _loaded


def reset() -> None:
    """Look the entry points up again at the next call (after installing an engine)."""
    global _loaded
    _loaded = None


def names() -> tuple[str, ...]:
    return tuple(engines())


def get(name: str) -> Any:
    """The engine `name` (KeyError if unknown: the study's parser has checked names)."""
    return engines()[name]


def defaults() -> tuple[str, ...]:
    """What a study that names no engines runs."""
    return tuple(name for name, engine in engines().items() if engine.default)
