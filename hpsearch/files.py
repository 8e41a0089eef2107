"""Files written atomically (temporary file + rename), and the timestamps we put in them."""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

_UMASK = os.umask(0)
os.umask(_UMASK)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def atomic_write(path: Path, write: Callable[[Path], Any], suffix: str = ".tmp") -> None:
    """Let `write` fill a hidden temporary file beside `path`, then rename it into place, so
    that readers see the old file or the new one, never a torn one. `suffix` is the temporary
    name's ending (Keras insists on '.keras')."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are meant to be shared
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` atomically (see `atomic_write`)."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8", newline=""))


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    atomic_write_text(path, frame.to_csv(index=False))


def append_text(path: Path, text: str) -> None:
    """Add whole lines to the end of `path` in one write (no fsync: a kill -9 loses nothing
    once the call returns, and the table it grows is rewritten atomically at the end)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


def complete_lines(path: Path) -> io.BytesIO:
    """The file's bytes up to its last newline: a table being appended to, read while a row is
    half-written (or after a kill in mid-write), loses that row, never shows it torn."""
    data = Path(path).read_bytes()
    return io.BytesIO(data[: data.rfind(b"\n") + 1])


def write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=plain) + "\n")


def plain(value: Any) -> Any:
    """numpy scalars -> plain Python (for JSON and for comparing parameters)."""
    return value.item() if isinstance(value, np.generic) else value


def canonical(params: dict[str, Any]) -> str:
    """Parameters as stable JSON (sorted keys, numpy scalars as Python)."""
    return json.dumps({k: plain(v) for k, v in params.items()}, sort_keys=True, default=repr)
