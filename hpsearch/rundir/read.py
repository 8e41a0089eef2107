"""A run folder read back as pandas tables, with each CSV's column types in one place: ids such
as trial "007" stay text, scores and counts are numbers (NaN where missing).

Read leniently: a run still training, or one that was killed, has only some of its files.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from hpsearch.errors import InputError
from hpsearch.files import complete_lines
from hpsearch.rundir.folder import HISTORIES, SUMMARY, TRIALS, read_info
from hpsearch.study.trials import HISTORY_COLUMNS, TEXT_COLUMNS

TRIAL_NUMERIC = ["val_score", "cv_mean", "cv_std", "epochs_run", "fit_seconds"]
SUMMARY_NUMERIC = [
    "n_trials",
    "n_failed",
    "n_pruned",
    "best_val_score",
    "best_cv_std",
    "epochs_run_total",
    "fit_seconds_total",
    "engine_seconds",
]


@dataclass
class Run:
    """What a run directory holds, read leniently (missing files give empty frames)."""

    path: Path
    info: dict[str, Any]
    trials: pd.DataFrame
    summary: pd.DataFrame
    histories: pd.DataFrame

    @property
    def label(self) -> str:
        return f"{self.info.get('study') or self.path.parent.name}/{self.path.name}"


def _read_csv(path: Path, text_columns: Iterable[str]) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame()
    try:
        return pd.read_csv(complete_lines(path), dtype={c: str for c in text_columns})
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def _numeric(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    for column in columns:
        frame[column] = (
            pd.to_numeric(frame[column], errors="coerce") if column in frame else math.nan
        )
    return frame


def load_run(run_dir: str | Path) -> Run:
    """Read run.json and the CSVs of `run_dir`; trial and fit ids stay strings ("000")."""
    path = Path(run_dir)
    if not (path / TRIALS).is_file() and not (path / SUMMARY).is_file():
        raise InputError(
            f"{path}: expected a run directory with trials.csv or summary.csv, found neither"
        )
    info = read_info(path)
    trials = _read_csv(path / TRIALS, TEXT_COLUMNS)
    trials = _numeric(trials, TRIAL_NUMERIC)
    if "status" not in trials:
        trials["status"] = trials["val_score"].notna().map({True: "ok", False: "failed"})
    for column in TEXT_COLUMNS[: TEXT_COLUMNS.index("finished_at") + 1]:  # a trial's own
        trials[column] = trials[column].fillna("").astype(str) if column in trials else ""
    summary = read_summary(path)
    histories = _read_csv(path / HISTORIES, TEXT_COLUMNS)
    if not set(HISTORY_COLUMNS) <= set(histories.columns):
        histories = pd.DataFrame(columns=HISTORY_COLUMNS)
    histories = _numeric(histories, ["epoch", "value"]).dropna(subset=["epoch", "value"])
    return Run(path, info, trials, summary, histories)


def read_summary(run_dir: str | Path) -> pd.DataFrame:
    """summary.csv alone (empty when not written yet), numbers as numbers."""
    return _numeric(_read_csv(Path(run_dir) / SUMMARY, TEXT_COLUMNS), SUMMARY_NUMERIC)
