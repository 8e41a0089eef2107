"""`Dataset`: the train / validation / test splits of a study (arrays, or DataFrames for a
table), with their origin, class labels and fingerprint."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hpsearch.study.config import DATASETS


@dataclass(frozen=True)
class Dataset:
    """Train / validation / test arrays of one dataset, ready for both engines."""

    name: str
    task: str
    x_train: Any  # an array, or a DataFrame of raw columns for a CSV / Parquet table
    y_train: np.ndarray
    x_val: Any
    y_val: np.ndarray
    x_test: Any | None  # None in the copy an engine gets: it selects, the runner tests
    y_test: np.ndarray | None
    origin: str
    # classification from a file: the original labels; y holds their positions (0..k-1)
    classes: tuple[Any, ...] | None = None

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    def sizes(self) -> dict[str, int]:
        """Rows in each split (an engine's copy has no test set: 0)."""
        return {
            "train": len(self.x_train),
            "val": len(self.x_val),
            "test": 0 if self.x_test is None else len(self.x_test),
        }

    @property
    def n_outputs(self) -> int:
        if self.classes is not None:
            return len(self.classes)
        return DATASETS[self.name][2] if self.name in DATASETS else 1

    def train_and_val(self) -> tuple[Any, np.ndarray]:
        """Training and validation rows together (a search with its own folds)."""
        return concat(self.x_train, self.x_val), np.concatenate([self.y_train, self.y_val])

    def without_test(self) -> Dataset:
        """The copy an engine gets: train and validation only (it selects; the runner tests)."""
        return dataclasses.replace(self, x_test=None, y_test=None)

    def fingerprint(self) -> str:
        """A short hash (16 hex digits) of every array's dtype, shape and bytes.

        A resumed run checks it still has the same data.
        """
        parts = (self.x_train, self.y_train, self.x_val, self.y_val, self.x_test, self.y_test)
        return arrays_fingerprint(*(a for a in parts if a is not None))  # an engine's copy: no test


def subset(x: Any, y: np.ndarray, n: int | None, rng: np.random.Generator) -> tuple[Any, Any]:
    """At most `n` rows, sampled by `rng` and kept in their order."""
    if n is None or n >= len(x):
        return x, y
    idx = np.sort(rng.choice(len(x), size=n, replace=False))
    return (x.iloc[idx] if isinstance(x, pd.DataFrame) else x[idx]), y[idx]


def concat(a: Any, b: Any) -> Any:
    """Rows of `a` then `b`: arrays, or DataFrames with their columns."""
    if isinstance(a, pd.DataFrame):
        return pd.concat([a, b], ignore_index=True)
    return np.concatenate([a, b])


def arrays_fingerprint(*arrays: Any) -> str:
    """A short hash of array contents and shapes."""
    h = hashlib.sha256()
    for a in arrays:
        if isinstance(a, pd.DataFrame):  # by value: text columns are objects, not bytes
            h.update(f"{a.shape}{list(a.columns)}{list(map(str, a.dtypes))}".encode())
            h.update(pd.util.hash_pandas_object(a, index=False).to_numpy().tobytes())
            continue
        a = np.ascontiguousarray(np.asarray(a))
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]
