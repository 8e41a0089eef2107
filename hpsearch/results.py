"""Run directories and the files in them, written atomically (tmp file + rename)."""
from __future__ import annotations

import json
import os
import secrets
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from hpsearch.errors import Found, HPSearchError, StudyError


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` so that readers see the old file or the new one, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    atomic_write_text(path, frame.to_csv(index=False))


def write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def check_writable(output_dir: Path, source: str) -> None:
    """Refuse an output directory we cannot create or write, before any work starts."""
    probe = output_dir
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise StudyError(source, "study.output_dir", "a writable directory",
                         Found(f"{output_dir}, which is not writable"))


def new_run_dir(output_dir: Path, study_name: str) -> Path:
    """Create `output_dir/<study>/<run-id>`; mkdir without exist_ok so two runs never share one."""
    base = output_dir / study_name
    try:
        base.mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            run_id = datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)
            try:
                (base / run_id).mkdir()
                return base / run_id
            except FileExistsError:
                continue
    except OSError as exc:
        raise HPSearchError(f"{base}: cannot create a run directory ({exc})") from None
    raise HPSearchError(f"{base}: no free run id")
