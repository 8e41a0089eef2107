"""What the engines share: test metrics, seeds, failure kinds, history rows."""

from __future__ import annotations

import gc
import hashlib
import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from hpsearch.study.config import Study


class EnvironmentFailure(BaseException):
    """The machine failed a fit (out of memory, disk full): stop the run, keep finished work.

    A BaseException, like KeyboardInterrupt, so that no search library's `except Exception`
    records it as a failed trial: the fit stays unfinished and a resume retrains it.
    """


# Backend errors that mean "the machine ran out", not "these hyperparameters are bad".
_ENVIRONMENT_MARKERS = ("RESOURCE_EXHAUSTED", "ResourceExhausted", "OutOfMemory", "out of memory")


def is_environment_failure(exc: BaseException) -> bool:
    """MemoryError, OSError (disk full, I/O) or a backend's out-of-memory error."""
    if isinstance(exc, (MemoryError, OSError)):
        return True
    text = f"{type(exc).__name__}: {exc}"
    return any(marker in text for marker in _ENVIRONMENT_MARKERS)


def fit_seed(study_seed: int, identity: str) -> int:
    """The seed of one fit: from the study's seed and the fit's own identity, never from the
    process's history, so a resumed study trains each fit exactly as an uninterrupted one."""
    digest = hashlib.sha256(f"{study_seed}|{identity}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def seed_keras(study_seed: int, identity: str) -> None:
    """Release Keras's previous state and seed Python, NumPy, TensorFlow and Keras for one fit."""
    import keras

    keras.backend.clear_session(free_memory=False)  # names and graphs of the previous fit
    collect_garbage()
    keras.utils.set_random_seed(fit_seed(study_seed, identity))


# A full collection (every object, the imported frameworks' ~500k included) runs once the time
# since the last one is FULL_PACE times what that one took: at most ~2% of a run's time.
FULL_PACE = 50
_gc = {"last_full": -math.inf, "full_seconds": 0.0}


def collect_garbage() -> None:
    """Free the previous fit's model (Keras models hold reference cycles) before the next one.

    A full collection walks every object the process holds, the imported frameworks and the
    records of a long run included: 0.1-0.5 s a fit, and more as a run grows. So after each
    collection the survivors are frozen (`gc.freeze`) and the next one walks only what was
    made since, the previous fit's model among it: a few milliseconds. Keras's and Keras
    Tuner's own `gc.collect()` before a build then cost as little. What the frozen survivors
    drop later (rare: caches' evictions) waits for a full collection, paced by FULL_PACE
    (every 20 s or so when one takes 0.4 s), so that a dropped model is not held for long.
    """
    if time.monotonic() - _gc["last_full"] >= FULL_PACE * _gc["full_seconds"]:
        start = time.monotonic()
        gc.unfreeze()
        gc.collect()
        _gc.update(last_full=time.monotonic(), full_seconds=time.monotonic() - start)
    else:
        gc.collect()
    gc.freeze()


def preprocessing(study: Study) -> list[tuple[str, Any]]:
    """Pipeline steps before the model, fitted on training data only (inside the pipeline, so
    CV folds do not leak). By default feature scaling for regression; pixels in [0, 1] need
    none. `[train] encoding` chooses: standard, piecewise_linear (scaled, then binned), none.
    A CSV / Parquet table starts with `TableEncoder` (imputed, scaled, encoded: raw rows in);
    an NPZ file's arrays of any shape get nothing unless the study asks."""
    from sklearn.preprocessing import StandardScaler

    from hpsearch.data.encoding import PiecewiseLinearEncoder  # lazy: loads scikit-learn
    from hpsearch.data.table import TableEncoder  # lazy: loads pandas, scikit-learn

    spec = study.data
    steps: list[tuple[str, Any]] = []
    if spec is not None and spec.format != "npz":
        table = TableEncoder(
            spec.categorical,
            spec.categorical_encoding,
            spec.max_categories,
            spec.categorical_missing,
        )
        steps.append(("table", table))  # it standardises the numeric columns itself
    default = "standard" if spec is None and study.task == "regression" else "none"
    encoding = study.encoding or default
    if encoding != "none" and not steps:
        steps.append(("scale", StandardScaler()))
    if encoding == "piecewise_linear":
        steps.append(("encode", PiecewiseLinearEncoder(study.bins)))
    return steps


def class_weights(study: Study, y_train: np.ndarray) -> dict[int, float] | None:
    """`[data] class_weight = "balanced"` as Keras's `class_weight` (class -> weight), else None."""
    if study.data is None or not study.data.class_weight:
        return None
    from sklearn.utils.class_weight import compute_class_weight  # lazy: loads scikit-learn

    classes = np.unique(y_train)
    weights = compute_class_weight("balanced", classes=classes, y=y_train)
    return {int(c): float(w) for c, w in zip(classes, weights, strict=True)}


def test_scores(task: str, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy for classification; RMSE and R² for regression."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if task == "classification":
        return {"test_accuracy": float(np.mean(y_true == y_pred.reshape(y_true.shape)))}
    y_pred = y_pred.reshape(y_true.shape).astype(np.float64)
    residual = np.sum((y_true - y_pred) ** 2)
    total = np.sum((y_true - y_true.mean()) ** 2)
    return {
        "test_rmse": float(np.sqrt(residual / len(y_true))),
        "test_r2": float(1 - residual / total),
    }


def last_error_line(text: str | None) -> str:
    """The `Type: message` line that ends a traceback, trimmed for a CSV cell."""
    lines = [ln.strip() for ln in (text or "").strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "unknown error"


def history_rows(
    engine: str, trial: str, fit: str, history: dict[str, list] | None
) -> list[dict[str, Any]]:
    """A Keras history as long-table rows: engine, trial, fit, epoch, metric, value."""
    return [
        {
            "engine": engine,
            "trial": trial,
            "fit": fit,
            "epoch": epoch,
            "metric": metric,
            "value": float(value),
        }
        for metric, values in (history or {}).items()
        for epoch, value in enumerate(values, 1)
    ]
