"""Each engine's best model, kept in the run directory and loaded back as an estimator.

`best/<engine>.pkl` is the whole fitted scikit-learn pipeline (scaler included, for
regression) and `best/<engine>.keras` the bare Keras model in Keras's native format.
`load_best(run_dir)` gives a fitted estimator with `predict`, `predict_proba` (classifiers)
and `score`, usable inside the user's own pipelines. The .pkl files are pickles: load only
runs you trust, as with any pickle.
"""

from __future__ import annotations

import io
import math
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hpsearch.data.table import TableEncoder
from hpsearch.errors import InputError
from hpsearch.files import atomic_write
from hpsearch.rundir.folder import BEST
from hpsearch.rundir.read import read_summary
from hpsearch.study.data_section import read_columns, sniff_sep


def save_best(run_dir: Path, engine: str, estimator: Any) -> tuple[Path, Path]:
    """Write the fitted pipeline (pickle) and its Keras model (.keras), each atomically."""
    folder = Path(run_dir) / BEST
    folder.mkdir(parents=True, exist_ok=True)
    pkl, native = folder / f"{engine}.pkl", folder / f"{engine}.keras"
    atomic_write(pkl, lambda tmp: tmp.write_bytes(pickle.dumps(estimator)))
    atomic_write(native, lambda tmp: estimator.steps[-1][1].model_.save(tmp), suffix=".keras")
    return pkl, native


def saved_engines(run_dir: Path) -> list[str]:
    return sorted(p.stem for p in (Path(run_dir) / BEST).glob("[!.]*.pkl"))  # not temp files


def choose_engine(run_dir: Path, engine: str | None = None) -> str:
    """`engine` if it has a saved model; else the engine whose best validation score is best,
    when the engines' metrics agree (else the user must name one)."""
    run_dir = Path(run_dir)
    saved = saved_engines(run_dir)
    if not saved:
        raise InputError(
            f"{run_dir}: expected a finished run with saved models in {run_dir / BEST}, found none"
        )
    if engine is not None:
        if engine not in saved:
            raise InputError(
                f"{run_dir}: expected --engine to be one of {', '.join(saved)} (the "
                f"engines with a saved model), got {engine!r}"
            )
        return engine
    if len(saved) == 1:
        return saved[0]
    summary = read_summary(run_dir)
    rows = summary[summary["engine"].isin(saved) & summary["best_val_score"].notna()]
    metrics = {str(m).removeprefix("val_") for m in rows["metric"]} | set(rows["direction"])
    if len(rows) < 1 or len(metrics) != 2:
        raise InputError(
            f"{run_dir}: the engines ({', '.join(saved)}) score on different metrics; "
            f"expected --engine to choose one"
        )
    lower = rows["direction"].iloc[0] == "minimize"
    best = rows.loc[rows["best_val_score"].idxmin() if lower else rows["best_val_score"].idxmax()]
    return str(best["engine"])


# Where hpsearch's classes lived before the packages of 0.2 (a pickle names each class by its
# module): best models saved by earlier runs still load.
MOVED = {
    "hpsearch.wrappers": "hpsearch.model.wrappers",
    "hpsearch.model": "hpsearch.model.mlp",
    "hpsearch.encoding": "hpsearch.data.encoding",
    "hpsearch.engines.fitcache": "hpsearch.engines.sklearn.fitcache",
    "hpsearch.engines.tuner_engine": "hpsearch.engines.keras_tuner.engine",
    "hpsearch.engines.optuna_engine": "hpsearch.engines.optuna.engine",
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        return super().find_class(MOVED.get(module, module), name)


def load_pickle(data: bytes) -> Any:
    """A pickled model, from this version or an earlier one (see MOVED)."""
    return _Unpickler(io.BytesIO(data)).load()


def load_best(run_dir: str | Path, engine: str | None = None) -> Any:
    """The fitted best pipeline of `engine` (default: see `choose_engine`) in `run_dir`."""
    run_dir = Path(run_dir)
    name = choose_engine(run_dir, engine)
    path = run_dir / BEST / f"{name}.pkl"
    try:
        return load_pickle(path.read_bytes())
    except Exception as exc:  # a torn copy, or a pickle from other package versions
        raise InputError(
            f"{path}: expected a pickled hpsearch model, but it does not load "
            f"({type(exc).__name__}: {exc})"
        ) from None


def takes_table(model: Any) -> bool:
    """Whether `model` takes raw table rows (its pipeline starts with TableEncoder)."""
    steps = getattr(model, "steps", None) or []
    return bool(steps) and isinstance(steps[0][1], TableEncoder)


def predict_file(model: Any, path: str | Path) -> pd.DataFrame:
    """`predictions` for the rows of a file: raw table rows (CSV or Parquet, shaped like the
    training file) for a model of a table, else numbers (.npy or a numeric CSV)."""
    if not takes_table(model):
        return predictions(model, read_features(path, n_features_of(model)))
    rows = read_table(path)
    try:
        return predictions(model, rows)
    except ValueError as exc:  # TableEncoder: a missing column, text in a numeric one
        raise InputError(f"{path}: {' '.join(str(exc).split())[:300]}") from None


def _read(path: Path, expected: str, read: Callable[[Path], Any]) -> Any:
    """`read(path)`, its failures as one InputError line naming the file."""
    try:
        return read(path)
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError(f"{path}: expected an input file, found none") from None
    except Exception as exc:
        raise InputError(
            f"{path}: expected {expected}, got {type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:200]}"
        ) from None


def read_table(path: str | Path) -> pd.DataFrame:
    """Rows to predict from a CSV (separator sniffed) or Parquet file, with a header row."""

    def read(path: Path) -> pd.DataFrame:
        if path.suffix.lower() in (".parquet", ".pq"):
            return read_columns(path, "parquet", "", None)
        if path.suffix.lower() in (".csv", ".tsv", ".txt"):
            return pd.read_csv(path, sep=sniff_sep(path), encoding="utf-8-sig")
        raise InputError(
            f"{path}: expected a .csv or .parquet file of rows shaped like the training "
            f"file, got {path.suffix or 'no suffix'!r}"
        )

    frame = _read(Path(path), "a table of rows", read)
    if frame.empty:
        raise InputError(f"{path}: expected rows to predict, found none")
    return frame


def read_features(path: str | Path, n_features: int) -> np.ndarray:
    """Rows to predict from a .npy array or a numeric CSV (a header row is skipped)."""

    def read(path: Path) -> Any:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if path.suffix == ".csv":
            frame = pd.read_csv(path, header=None)
            first = pd.to_numeric(frame.iloc[0], errors="coerce") if len(frame) else None
            # A header row: names, or the column numbers 0..n-1 that pandas writes by default.
            if first is not None and (
                first.isna().any() or first.tolist() == list(range(len(first)))
            ):
                frame = frame.iloc[1:]
            return frame.apply(pd.to_numeric, errors="raise").to_numpy()
        raise InputError(
            f"{path}: expected a .csv or .npy file, got {path.suffix or 'no suffix'!r}"
        )

    path = Path(path)
    x = _read(path, "a numeric table", read)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1 and n_features > 1:
        x = x.reshape(1, -1)
    if x.ndim != 2 or x.shape[1] != n_features or not len(x):
        raise InputError(
            f"{path}: expected rows of {n_features} features, got an array of shape {x.shape}"
        )
    if not np.isfinite(x).all():
        raise InputError(f"{path}: expected finite numbers, found NaN or inf")
    return x


def predictions(model: Any, x: np.ndarray) -> pd.DataFrame:
    """A table of predictions: `prediction`, and each class's probability for classifiers."""
    frame = pd.DataFrame(
        {
            "prediction": model.predict(x).reshape(len(x), -1)[:, 0]
            if not hasattr(model, "classes_")
            else model.predict(x)
        }
    )
    if hasattr(model, "predict_proba") and hasattr(model, "classes_"):
        proba = model.predict_proba(x)
        for i, label in enumerate(model.classes_):
            frame[f"proba_{label}"] = proba[:, i]
    return frame


def n_features_of(model: Any) -> int:
    n = getattr(model, "n_features_in_", None)
    return int(n) if n is not None and not (isinstance(n, float) and math.isnan(n)) else 0
