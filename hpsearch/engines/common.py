"""What both engines share: the result shape, test metrics, training callbacks."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpsearch.trials import TrialRecord


@dataclass
class EngineResult:
    engine: str
    records: list[TrialRecord]
    best: TrialRecord | None
    test: dict[str, float] = field(default_factory=dict)
    seconds: float = math.nan
    histories: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""  # an engine-level failure after the trials (e.g. the final refit)


def test_scores(task: str, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy for classification; RMSE and R² for regression."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if task == "classification":
        return {"test_accuracy": float(np.mean(y_true == y_pred.reshape(y_true.shape)))}
    y_pred = y_pred.reshape(y_true.shape).astype(np.float64)
    residual = np.sum((y_true - y_pred) ** 2)
    total = np.sum((y_true - y_true.mean()) ** 2)
    return {"test_rmse": float(np.sqrt(residual / len(y_true))), "test_r2": float(1 - residual / total)}


def last_error_line(text: str | None) -> str:
    """The `Type: message` line that ends a traceback, trimmed for a CSV cell."""
    lines = [ln.strip() for ln in (text or "").strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "unknown error"


def history_rows(engine: str, trial: str, fit: str, history: dict[str, list] | None) -> list[dict[str, Any]]:
    """A Keras history as long-table rows: engine, trial, fit, epoch, metric, value."""
    return [{"engine": engine, "trial": trial, "fit": fit, "epoch": epoch, "metric": metric,
             "value": float(value)}
            for metric, values in (history or {}).items() for epoch, value in enumerate(values, 1)]
