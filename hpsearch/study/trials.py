"""Read-only trial records, the one shape every engine reports in."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hpsearch.files import complete_lines
from hpsearch.study.config import SPACE_PARAMS

# A metric's direction: whether a higher or a lower score is better.
MAXIMIZE, MINIMIZE = "maximize", "minimize"

HISTORY_COLUMNS = ["engine", "trial", "fit", "epoch", "metric", "value"]
COLUMNS = [
    "engine",
    "trial",
    "status",
    *[f"param_{p}" for p in SPACE_PARAMS],
    "metric",
    "direction",
    "val_score",
    "cv_mean",
    "cv_std",
    "n_fits",
    "epochs_run",
    "fit_seconds",
    "started_at",
    "finished_at",
    "error",
    "rungs",
]  # new columns go last: positions stay
# Read these as text: "007" is a trial id, not the number 7.
TEXT_COLUMNS = [
    "engine",
    "trial",
    "status",
    "metric",
    "direction",
    "error",
    "started_at",
    "finished_at",
    "best_trial",
    "fit",
    "rungs",
]


PRUNED = "pruned"  # the status of a trial the search stopped early (not a failure)


def trial_id(number: int) -> str:
    """The one form of a trial id across engines: '000', '001', ... (more digits past 999)."""
    return f"{int(number):03d}"


def float32_score(value: Any) -> float:
    """A float32 metric at its true precision (0.888, not 0.8880000114440918)."""
    return float(str(np.float32(value)))


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial of one engine (like optuna's FrozenTrial).

    `val_score` is the validation score in its natural sign (an RMSE is positive);
    `direction` says which way is better.
    """

    engine: str
    trial: str
    status: str  # "ok", "failed" or "pruned" (stopped early by the search; keeps its score)
    params: dict[str, Any]
    metric: str
    direction: str = MAXIMIZE
    val_score: float = math.nan
    cv_mean: float = math.nan
    cv_std: float = math.nan
    n_fits: int = 1  # fits behind the score (CV folds); epochs_run is their mean
    epochs_run: float = math.nan
    fit_seconds: float = math.nan
    started_at: str = ""
    finished_at: str = ""
    error: str = ""
    # Successive halving: "epochs:score" at each rung reached ("1:0.7712 3:0.8120"); else "".
    rungs: str = ""

    def row(self) -> dict[str, Any]:
        row = {k: v for k, v in asdict(self).items() if k != "params"}
        # a model factory's own parameters too (trials_dataframe puts them after COLUMNS)
        row.update({f"param_{k}": v for k, v in self.params.items()})
        return row

    @property
    def ok(self) -> bool:
        return self.status == "ok" and math.isfinite(self.val_score)

    @property
    def failed(self) -> bool:
        """Not ok and not pruned: a trial the search stopped early has not failed."""
        return not self.ok and self.status != PRUNED


def trials_dataframe(records: Iterable[TrialRecord]) -> pd.DataFrame:
    """One row per trial, the columns of `trials.csv`, in a stable order (a model factory's
    parameters that are not the MLP's last, in the order they first appear)."""
    rows = [r.row() for r in records]
    extra = dict.fromkeys(k for row in rows for k in row if k not in COLUMNS)
    return pd.DataFrame(rows, columns=[*COLUMNS, *extra])


def read_trials(path: Path) -> list[TrialRecord]:
    """The records of a trials.csv (a resumed run starts from what its tables already hold)."""
    if not Path(path).is_file():
        return []
    lines = complete_lines(path)
    header = next(csv.reader([lines.getvalue().split(b"\n", 1)[0].decode("utf-8")]), [])
    try:
        frame = pd.read_csv(
            lines,
            dtype={c: str for c in TEXT_COLUMNS},
            keep_default_na=False,  # an error text "NA" stays text
            # empty is missing in every other column, a factory's own parameters' included
            na_values={c: [""] for c in {*COLUMNS, *header} if c not in TEXT_COLUMNS},
        )
    except pd.errors.EmptyDataError:
        return []
    records = []
    for row in frame.to_dict("records"):
        params = {
            k.removeprefix("param_"): v.item() if hasattr(v, "item") else v
            for k, v in row.items()
            if k.startswith("param_") and v == v
        }
        values = {k: row[k] for k in (f.name for f in fields(TrialRecord)) if k in row}
        values["n_fits"] = int(values.get("n_fits", 1))
        records.append(TrialRecord(params=params, **values))
    return records


def read_histories(path: Path) -> list[dict[str, Any]]:
    """The rows of a histories.csv (engine, trial, fit, epoch, metric, value); [] if none."""
    try:
        frame = pd.read_csv(
            complete_lines(path), dtype={"engine": str, "trial": str, "fit": str, "metric": str}
        )
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return []
    if not set(HISTORY_COLUMNS) <= set(frame.columns):
        return []
    return frame[HISTORY_COLUMNS].to_dict("records")


def better(a: float, b: float, direction: str) -> bool:
    """Is score `a` better than `b`?"""
    return a < b if direction == MINIMIZE else a > b


def best_trial(records: Iterable[TrialRecord]) -> TrialRecord | None:
    """The best successful trial by each record's direction (first of equals), or None."""
    best = None
    for record in records:
        if record.ok and (
            best is None or better(record.val_score, best.val_score, record.direction)
        ):
            best = record
    return best
