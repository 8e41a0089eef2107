"""`Dataset`: the train / validation / test arrays of a study, with their origin and fingerprint."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpsearch.study.config import DATASETS


@dataclass(frozen=True)
class Dataset:
    """Train / validation / test arrays of one dataset, ready for both engines."""

    name: str
    task: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray | None  # None in the copy an engine gets: it selects, the runner tests
    y_test: np.ndarray | None
    origin: str

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
        return DATASETS[self.name][2]

    def without_test(self) -> Dataset:
        """The copy an engine gets: train and validation only (it selects; the runner tests)."""
        return dataclasses.replace(self, x_test=None, y_test=None)

    def fingerprint(self) -> str:
        """A short hash (16 hex digits) of every array's dtype, shape and bytes.

        A resumed run checks it still has the same data.
        """
        h = hashlib.sha256()
        for a in (self.x_train, self.y_train, self.x_val, self.y_val, self.x_test, self.y_test):
            if a is None:  # an engine's copy, without the test set
                continue
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:16]


def subset(x: np.ndarray, y: np.ndarray, n: int | None, rng: np.random.Generator):
    """At most `n` rows, sampled by `rng` and kept in their order."""
    if n is None or n >= len(x):
        return x, y
    idx = np.sort(rng.choice(len(x), size=n, replace=False))
    return x[idx], y[idx]


def arrays_fingerprint(*arrays: Any) -> str:
    """A short hash of array contents and shapes."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a))
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]
