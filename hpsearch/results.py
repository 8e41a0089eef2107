"""Run directories: where a run's files go, created so that two runs never share one."""

from __future__ import annotations

import os
import secrets
import tempfile
from datetime import datetime
from pathlib import Path

from hpsearch.errors import Found, HPSearchError, StudyError


def check_writable(output_dir: Path, source: str) -> None:
    """Refuse an output directory we cannot create or write, before any work starts."""
    probe = output_dir
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK) or not _can_create(probe):
        raise StudyError(
            source,
            "study.output_dir",
            "a writable directory",
            Found(f"{output_dir}, which is not writable"),
        )


def _can_create(folder: Path) -> bool:
    """A real write probe: os.access says yes to root even on /proc or a read-only mount."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


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
