"""A study's own data file (`[data]`): CSV, Parquet or NPZ, split by the study's seed.

Tables stay DataFrames (the engines' pipelines start with `TableEncoder`, so a saved model
takes raw rows); NPZ arrays stay arrays of any shape. Class labels of any kind (text, bool,
integers) become 0..k-1 for training, and `Dataset.classes` maps them back. Splits are
stratified for classification. Every problem is one DataError naming the file and the key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hpsearch.errors import DataError
from hpsearch.study.config import Study
from hpsearch.study.data_section import DataSpec, read_columns

# A table takes several times its file's size in memory (pandas objects, copies, encodings).
MEMORY_FACTOR = 5


def splits(
    study: Study, rng: np.random.Generator
) -> tuple[tuple[Any, ...], str, tuple[Any, ...] | None]:
    """((x_train, y_train, x_val, y_val, x_test, y_test), origin, classes or None)."""
    spec = study.data
    assert spec is not None, "a study with [data]"
    seed = int(rng.integers(2**31))
    x, y = _read(spec, Path(spec.train))
    classes = None
    if spec.task == "classification":
        classes, y = _encode_labels(spec, y, spec.train)
    else:
        y = _numeric_target(spec, y, spec.train)
    if spec.test:
        x_test, y_test = _read(spec, Path(spec.test))
        if spec.format != "npz":
            _same_columns(spec, x, x_test)
        y_test = (
            _encode_test_labels(spec, classes, y_test)
            if classes is not None
            else _numeric_target(spec, y_test, spec.test)
        )
        x_rest, y_rest = x, y
    else:
        x_rest, x_test, y_rest, y_test = _split(spec, x, y, spec.test_fraction, seed, "test")
    x_train, x_val, y_train, y_val = _split(spec, x_rest, y_rest, spec.val_fraction, seed, "val")
    return (x_train, y_train, x_val, y_val, x_test, y_test), spec.train, classes


def _read(spec: DataSpec, path: Path) -> tuple[Any, np.ndarray]:
    """Features and raw target of one file, checked."""
    _fits_in_memory(path)
    if spec.format == "npz":
        return _read_npz(spec, path)
    frame = read_columns(path, spec.format, spec.sep, None).copy()
    for key, names in (("drop", spec.drop), ("categorical", spec.categorical or ())):
        unknown = [n for n in names if n not in frame.columns]
        if unknown:
            raise DataError(
                f"{path}: data.{key} names {', '.join(map(repr, unknown))}, not columns of the "
                f"file (expected some of {', '.join(map(str, frame.columns))})"
            )
    if spec.target not in frame.columns:
        raise DataError(f"{path}: data.target {spec.target!r} is not a column of the file")
    missing = frame[spec.target].isna()
    if missing.any():
        if not spec.drop_missing_target:
            raise DataError(
                f"{path}: data.target {spec.target!r} is missing in {int(missing.sum())} of "
                f"{len(frame)} rows; expected a value in every row, or set "
                f"drop_missing_target = true"
            )
        frame = frame[~missing].reset_index(drop=True)
    y = frame.pop(spec.target).to_numpy()
    x = frame.drop(columns=list(spec.drop))
    if x.shape[1] == 0:
        raise DataError(f"{path}: no feature columns left besides data.target and data.drop")
    empty = [str(c) for c in x.columns if x[c].isna().all()]
    if empty:
        raise DataError(
            f"{path}: column {empty[0]!r} has no value in any row; expected some values, or "
            f"add it to data.drop"
        )
    return x, y


def _read_npz(spec: DataSpec, path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as arrays:
            for key in (spec.x_key, spec.y_key):
                if key not in arrays.files:
                    name = "x_key" if key == spec.x_key else "y_key"
                    raise DataError(
                        f"{path}: data.{name} {key!r} is not an array of the file "
                        f"(it has {', '.join(arrays.files)})"
                    )
            x, y = arrays[spec.x_key], arrays[spec.y_key]
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: expected an NPZ file of numeric arrays ({exc})") from None
    if len(x) != len(y) or y.ndim != 1:
        raise DataError(
            f"{path}: expected data.x_key and data.y_key arrays with one label per sample, "
            f"got shapes {x.shape} and {y.shape}"
        )
    if x.dtype.kind not in "iufb":
        raise DataError(f"{path}: expected numeric data.x_key, got dtype {x.dtype}")
    return x.astype(np.float32), y


def _fits_in_memory(path: Path) -> None:
    size = path.stat().st_size
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return
    if size * MEMORY_FACTOR > available:
        raise DataError(
            f"{path}: {size / 2**30:.1f} GiB is too large for this machine's "
            f"{available / 2**30:.1f} GiB of free memory (a table takes about "
            f"{MEMORY_FACTOR}x its file); use a sample of it"
        )


def _encode_labels(spec: DataSpec, y: np.ndarray, where: str) -> tuple[tuple[Any, ...], np.ndarray]:
    labels = pd.Series(y)
    classes = tuple(sorted(labels.unique().tolist(), key=lambda v: (str(type(v)), v)))
    if len(classes) < 2:
        raise DataError(
            f"{where}: data.target {spec.target or spec.y_key!r} has a single class "
            f"({classes[0]!r}); expected at least two for classification"
        )
    index = {c: i for i, c in enumerate(classes)}
    return tuple(_plain(c) for c in classes), labels.map(index).to_numpy(np.int64)


def _encode_test_labels(spec: DataSpec, classes: tuple[Any, ...], y: np.ndarray) -> np.ndarray:
    index = {c: i for i, c in enumerate(classes)}
    unseen = sorted({str(v) for v in pd.Series(y).map(_plain) if v not in index})
    if unseen:
        raise DataError(
            f"{spec.test}: data.test has classes the training file lacks: {', '.join(unseen)}"
        )
    return pd.Series(y).map(_plain).map(index).to_numpy(np.int64)


def _numeric_target(spec: DataSpec, y: np.ndarray, where: str) -> np.ndarray:
    values = pd.to_numeric(pd.Series(y), errors="coerce")
    if values.isna().any():
        bad = pd.Series(y)[values.isna()].iloc[0]
        raise DataError(
            f"{where}: data.target {spec.target or spec.y_key!r} holds {bad!r}; expected "
            f'numbers for regression (or set data.task = "classification")'
        )
    return values.to_numpy(np.float32)


def _split(
    spec: DataSpec, x: Any, y: np.ndarray, fraction: float, seed: int, part: str
) -> tuple[Any, Any, np.ndarray, np.ndarray]:
    """(x_keep, x_out, y_keep, y_out): `fraction` of the rows out, stratified by class."""
    from sklearn.model_selection import train_test_split  # lazy: loads scikit-learn

    stratify = y if spec.task == "classification" else None
    try:
        return train_test_split(x, y, test_size=fraction, random_state=seed, stratify=stratify)
    except ValueError as exc:
        if stratify is None:
            raise DataError(
                f"{spec.train}: cannot split off data.{part}_fraction ({exc})"
            ) from None
        counts = pd.Series(y).value_counts()
        raise DataError(
            f"{spec.train}: the smallest class has {int(counts.min())} rows, too few to "
            f"stratify {fraction:g} of them into the {part} split; expected at least "
            f"{int(np.ceil(2 / min(fraction, 1 - fraction)))} rows per class (or a larger "
            f"data.{part}_fraction)"
        ) from None


def _same_columns(spec: DataSpec, x: pd.DataFrame, x_test: pd.DataFrame) -> None:
    missing = [str(c) for c in x.columns if c not in x_test.columns]
    if missing:
        raise DataError(f"{spec.test}: data.test lacks the columns {', '.join(missing)}")


def _plain(value: Any) -> Any:
    """NumPy scalars as Python values (run.json, comparisons with labels read back)."""
    return value.item() if isinstance(value, np.generic) else value
