"""Read-only trial records, the one shape both engines report in."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import pandas as pd

from hpsearch.config import SPACE_PARAMS

HISTORY_COLUMNS = ["engine", "trial", "fit", "epoch", "metric", "value"]
COLUMNS = ["engine", "trial", "status", *[f"param_{p}" for p in SPACE_PARAMS], "metric",
           "val_score", "cv_mean", "cv_std", "n_fits", "epochs_run", "fit_seconds", "started_at",
           "finished_at", "error"]


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial of one engine (like optuna's FrozenTrial).

    `val_score` is the engine's validation score, higher is better for sklearn
    scorers (e.g. neg RMSE) and as Keras reports it for Keras Tuner objectives.
    """

    engine: str
    trial: str
    status: str  # "ok" or "failed"
    params: dict[str, Any]
    metric: str
    val_score: float = math.nan
    cv_mean: float = math.nan
    cv_std: float = math.nan
    n_fits: int = 1  # fits behind the score (CV folds); epochs_run is their mean
    epochs_run: float = math.nan
    fit_seconds: float = math.nan
    started_at: str = ""
    finished_at: str = ""
    error: str = ""

    def row(self) -> dict[str, Any]:
        row = {k: v for k, v in asdict(self).items() if k != "params"}
        row.update({f"param_{k}": self.params[k] for k in SPACE_PARAMS if k in self.params})
        return row


def trials_dataframe(records: Iterable[TrialRecord]) -> pd.DataFrame:
    """One row per trial, the columns of `trials.csv`, in a stable order."""
    return pd.DataFrame([r.row() for r in records], columns=COLUMNS)


def lower_is_better(metric: str) -> bool:
    """Keras names: losses and errors go down, everything else goes up.

    (sklearn scorer names are higher-is-better by construction: 'neg_...'.)
    """
    return str(metric).endswith(("loss", "error"))


def best_trial(records: Iterable[TrialRecord], higher_is_better: bool = True) -> TrialRecord | None:
    """The best successful trial, or None when every trial failed."""
    ok = [r for r in records if r.status == "ok" and math.isfinite(r.val_score)]
    if not ok:
        return None
    pick = max if higher_is_better else min
    return pick(ok, key=lambda r: r.val_score)
