"""A run folder's names and its making: `results/<study>/<run-id>/`, never shared by two runs.

Every file of a run is named here and nowhere else:

    study.toml      the study as given (a resume re-reads it)
    run.json        what started the run: seed, engines, data fingerprint, versions, sessions
    status.json     where it stands now (rundir/live.py rewrites it as trials finish)
    trials.csv      one row per trial; histories.csv one row per trial, metric and epoch
    summary.csv     one row per finished engine (rundir/read.py reads it with its types)
    report.html     the report; best/<engine>.pkl|.keras the best models
    state/<engine>/ an engine's own state for resume (fit store, oracle, storage, sampler)
    meta.json       the user's tags and note (rundir/meta.py; written by the web page, never
                    by the run itself)
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from hpsearch.errors import Found, HPSearchError, StudyError
from hpsearch.files import write_json

STUDY = "study.toml"
RUN = "run.json"
STATUS = "status.json"
TRIALS = "trials.csv"
HISTORIES = "histories.csv"
SUMMARY = "summary.csv"
REPORT = "report.html"
BEST = "best"
STATE = "state"
META = "meta.json"
# The files a run folder shows and serves, in the order the pages list them.
RUN_FILES = (TRIALS, SUMMARY, HISTORIES, REPORT, RUN, STATUS, STUDY)
# A folder holding one of these is a run (a run being started may have only status.json).
MARKERS = (STATUS, RUN, TRIALS)


def is_run_dir(path: Path) -> bool:
    return any((Path(path) / name).is_file() for name in MARKERS)


def state_dir(run_dir: Path, engine: str) -> Path:
    """Where `engine` keeps its state for a resume (removed when the run finishes)."""
    return Path(run_dir) / STATE / engine


def read_info(run_dir: Path) -> dict[str, Any]:
    """run.json as a dict; {} when missing or unreadable (a run that is starting, a stray folder)."""
    try:
        info = json.loads((Path(run_dir) / RUN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def write_info(run_dir: Path, info: dict[str, Any]) -> None:
    write_json(Path(run_dir) / RUN, info)


def remove_temporaries(run_dir: Path) -> None:
    """What a kill -9 during an atomic write leaves: its temporary files."""
    for tmp in (*Path(run_dir).glob(".*.tmp"), *Path(run_dir).glob(f"{BEST}/.*")):
        tmp.unlink(missing_ok=True)


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
