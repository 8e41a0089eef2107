"""Every use of another library's private parts, one module per library.

The rule: nothing outside `hpsearch/compat/` imports a private name of another library
(`keras_tuner.src`, `optuna.storages._heartbeat`, `joblib._dask`, ...), reads a private
attribute of its objects, or patches it. Each module here names the versions it was written
for (`SUPPORTED`, major.minor, both ends included) and checks them where the private part
is used: outside the range it raises `CompatError` (one line: the library, the version
found, the versions supported) or, where a safe fallback exists, falls back; each module
says which, and why. tests/test_compat.py fails when a library changes under one of them.
Heavy libraries (Keras Tuner, Optuna, Dask, TensorFlow) are imported inside the functions.
"""

from __future__ import annotations

import functools
import re

from hpsearch.errors import HPSearchError

Span = tuple[str, str]  # ("1.4", "1.5"): 1.4.0 up to every 1.5.x


class CompatError(HPSearchError):
    """An installed library's version is outside those hpsearch's private uses were written for."""

    exit_code = 2


@functools.cache
def version(dist: str) -> str | None:
    """The installed version of distribution `dist` (None if it is not installed)."""
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _major_minor(text: str) -> tuple[int, int] | None:
    found = re.match(r"(\d+)\.(\d+)", text)
    return (int(found[1]), int(found[2])) if found else None


def supported(dist: str, span: Span, found: str | None = None) -> bool:
    """Is `dist` (its installed version, or `found`) within `span`?"""
    found = version(dist) if found is None else found
    at = _major_minor(found) if found else None
    low, high = _major_minor(span[0]), _major_minor(span[1])
    return at is not None and low is not None and high is not None and low <= at <= high


def require(dist: str, span: Span, what: str) -> None:
    """Raise CompatError unless the installed `dist` is within `span`."""
    if not supported(dist, span):
        raise CompatError(
            f"{dist} {version(dist) or '(not installed)'}: hpsearch's {what} was written for "
            f"{dist} {span[0]} to {span[1]}.x; install a version in that range"
        )
