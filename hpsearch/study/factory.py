"""A study's own model factory (`[model] factory = "package.module:function"`): found, imported
and inspected while the study is parsed, so that a bad name or a `[space]` key the function
does not take is one line before anything runs.

Light: it imports only the factory's module (which may load Keras), never Keras itself.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpsearch.errors import Found
from hpsearch.study.schema import Checker

# What hpsearch passes a factory, when (and only when) the function declares it: never
# searched, so never a [space] key.
CONTEXT = ("n_features", "input_shape", "n_classes", "n_outputs", "task", "meta")
# Keyword parameters that scikeras fills itself for a function that declares them.
SCIKERAS_OWN = ("compile_kwargs", "params")
SPEC = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*")


@dataclass(frozen=True)
class Factory:
    """A resolved `[model] factory`: its name, the folder put on sys.path, what it takes."""

    spec: str  # "package.module:function"
    path: str | None  # absolute folder added to sys.path before importing, if any
    parameters: tuple[str, ...]  # searchable keyword parameters, in the signature's order
    context: tuple[str, ...]  # the CONTEXT names it declares
    any_keyword: bool  # it takes **kwargs: any [space] key reaches it


def _describe(exc: BaseException) -> Found:
    return Found(f"{type(exc).__name__}: {exc}".splitlines()[0][:200])


def add_path(path: str | None) -> None:
    """Put `path` first on sys.path (once), so that the factory's module imports from it."""
    if path and path not in sys.path:
        sys.path.insert(0, path)


def import_factory(spec: str, path: str | None) -> Callable[..., Any]:
    """The function `spec` names ("package.module:function"), `path` on sys.path first.
    Raises ImportError, AttributeError or TypeError, with a message, when it cannot."""
    add_path(path)
    module_name, _, name = spec.partition(":")
    module = importlib.import_module(module_name)
    function = getattr(module, name)
    if not callable(function):
        raise TypeError(f"{spec} is a {type(function).__name__}, not a function")
    return function


def resolve(c: Checker, raw: dict[str, Any]) -> Factory:
    """The `[model]` table (`factory`, optional `path`), imported and inspected; one line
    naming the study file and `model.factory` (or `model.path`) when it cannot be."""
    if "factory" not in raw:
        raise c.fail("model.factory", '"package.module:function"', Found("nothing"))
    spec = raw["factory"]
    if not SPEC.fullmatch(spec):
        raise c.fail("model.factory", '"package.module:function"', spec)
    path = None
    if "path" in raw:
        # relative to the study file, as data_dir is: the run is found wherever it starts
        folder = (Path(c.source).parent / Path(raw["path"]).expanduser()).resolve()
        if not folder.is_dir():
            raise c.fail("model.path", "a folder (relative to the study file)", raw["path"])
        path = str(folder)
    try:
        function = import_factory(spec, path)
        signature = inspect.signature(function)
    except Exception as exc:  # anything the user's module raises on import is its fault
        raise c.fail("model.factory", "an importable function", _describe(exc)) from None
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    named = [p.name for p in signature.parameters.values() if p.kind in kinds]
    return Factory(
        spec=spec,
        path=path,
        parameters=tuple(n for n in named if n not in (*CONTEXT, *SCIKERAS_OWN)),
        context=tuple(n for n in CONTEXT if n in named),
        any_keyword=any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()
        ),
    )


def source_hash(spec: str, path: str | None) -> str:
    """A short hash of the factory's module source: a resume refuses a changed factory."""
    module = sys.modules.get(spec.partition(":")[0])
    if module is None:
        import_factory(spec, path)
        module = sys.modules[spec.partition(":")[0]]
    try:
        text = Path(inspect.getsourcefile(module) or "").read_bytes()
    except (OSError, TypeError):  # a compiled module: its name is all there is to compare
        text = spec.encode()
    return hashlib.sha256(text).hexdigest()[:16]


def value_kind(c: Checker, key: str, raw: Any) -> type:
    """The type of a factory's [space] value, read from the TOML value itself: a scalar's type,
    the one type of a list of choices (ints and floats: float), a range's bounds' type."""
    if isinstance(raw, dict):
        bounds = [raw.get("low"), raw.get("high")]
        ints = all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)
        return int if ints else float  # non-numbers: the range's own check says so
    if raw == []:
        return str  # the choices' own check: "a non-empty list of choices"
    values = raw if isinstance(raw, list) else [raw]
    kinds = {bool if isinstance(v, bool) else type(v) for v in values}
    if kinds <= {int, float} and kinds:
        return float if float in kinds else int
    if len(kinds) == 1 and next(iter(kinds)) in (str, bool):
        return next(iter(kinds))
    expected = (
        "choices of one type (numbers, strings or true/false)"
        if isinstance(raw, list)
        else "a number, a string, true/false, a list of choices or a {low, high} range"
    )
    raise c.fail(key, expected, raw)
