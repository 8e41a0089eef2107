"""The two reference datasets, found offline first, split reproducibly.

Search order: the study's `data_dir`, then `$HPSEARCH_DATA_DIR`, then Debian's
`/usr/share/datasets`, then the libraries' own caches and downloaders.
"""
from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpsearch.config import DATASETS, Study
from hpsearch.errors import DataError

ENV_DATA_DIR = "HPSEARCH_DATA_DIR"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = {
    "x_train": ("train-images-idx3-ubyte.gz", 16),
    "y_train": ("train-labels-idx1-ubyte.gz", 8),
    "x_test": ("t10k-images-idx3-ubyte.gz", 16),
    "y_test": ("t10k-labels-idx1-ubyte.gz", 8),
}
FASHION_VALIDATION = 5_000  # the last 5,000 training images, as in the textbook split
CAL_FILE = "cal_housing_py3.pkz"


@dataclass(frozen=True)
class Dataset:
    """Train / validation / test arrays of one dataset, ready for both engines."""

    name: str
    task: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    origin: str

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_outputs(self) -> int:
        return DATASETS[self.name][2]

    def fingerprint(self) -> str:
        """A short hash of every array: a resumed run checks it still has the same data."""
        h = hashlib.sha256()
        for a in (self.x_train, self.y_train, self.x_val, self.y_val, self.x_test, self.y_test):
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:16]


def data_dirs(study_dir: str | None) -> list[Path]:
    """Candidate data directories, in the order they are tried."""
    dirs = [Path(d).expanduser() for d in (study_dir, os.environ.get(ENV_DATA_DIR)) if d]
    return dirs


def _read_idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def _fashion_raw(data_dir: str | None) -> tuple[tuple[np.ndarray, ...], str]:
    tried = []
    for base in data_dirs(data_dir) + [DEBIAN_FASHION, Path.home() / ".keras/datasets"]:
        for folder in (base / "fashion-mnist", base):
            files = {k: folder / name for k, (name, _) in FASHION_FILES.items()}
            tried.append(str(folder))
            if all(p.is_file() for p in files.values()):
                arrays = {k: _read_idx(files[k], FASHION_FILES[k][1]) for k in files}
                x_train = arrays["x_train"].reshape(-1, 28 * 28)
                x_test = arrays["x_test"].reshape(-1, 28 * 28)
                return (x_train, arrays["y_train"], x_test, arrays["y_test"]), str(folder)
    try:
        import keras  # the online fallback: keras downloads and caches the same files

        (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    except Exception as exc:  # no network, blocked host, ...
        raise DataError(
            f"fashion_mnist: no IDX files found in {', '.join(dict.fromkeys(tried))} and the "
            f"download failed ({exc.__class__.__name__}); set study.data_dir or ${ENV_DATA_DIR} "
            f"to a folder holding fashion-mnist/{FASHION_FILES['x_train'][0]} and the other three"
        ) from None
    return (x_train.reshape(-1, 784), y_train, x_test.reshape(-1, 784), y_test), "keras.datasets"


def _california_raw(data_dir: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    from sklearn.datasets import fetch_california_housing, get_data_home

    tried = []
    for base in data_dirs(data_dir):
        for home in (base / "scikit_learn_data", base):
            tried.append(str(home))
            if (home / CAL_FILE).is_file():
                bunch = fetch_california_housing(data_home=str(home), download_if_missing=False)
                return bunch.data, bunch.target, str(home)
    tried.append(get_data_home())
    try:
        bunch = fetch_california_housing()  # sklearn's own cache, then its downloader
    except Exception as exc:
        raise DataError(
            f"california_housing: no {CAL_FILE} in {', '.join(dict.fromkeys(tried))} and the "
            f"download failed ({exc.__class__.__name__}); set study.data_dir or ${ENV_DATA_DIR} "
            f"to a folder holding scikit_learn_data/{CAL_FILE}, or set SCIKIT_LEARN_DATA"
        ) from None
    return bunch.data, bunch.target, get_data_home()


def _subset(x: np.ndarray, y: np.ndarray, n: int | None, rng: np.random.Generator):
    if n is None or n >= len(x):
        return x, y
    idx = np.sort(rng.choice(len(x), size=n, replace=False))
    return x[idx], y[idx]


def load_dataset(study: Study) -> Dataset:
    """Load, split and (for subsets) sample the study's dataset; the seed makes it reproducible."""
    rng = np.random.default_rng(study.seed)
    if study.dataset == "fashion_mnist":
        (x_full, y_full, x_test, y_test), origin = _fashion_raw(study.data_dir)
        x_full = x_full.astype(np.float32) / 255.0
        x_test = x_test.astype(np.float32) / 255.0
        y_full, y_test = y_full.astype(np.int64), y_test.astype(np.int64)
        x_train, y_train = x_full[:-FASHION_VALIDATION], y_full[:-FASHION_VALIDATION]
        x_val, y_val = x_full[-FASHION_VALIDATION:], y_full[-FASHION_VALIDATION:]
    else:
        x, y, origin = _california_raw(study.data_dir)
        x, y = x.astype(np.float32), y.astype(np.float32)
        order = rng.permutation(len(x))  # 60 / 20 / 20, shuffled by the study's seed
        n_test = n_val = len(x) // 5
        test, val, train = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
        x_train, y_train, x_val, y_val = x[train], y[train], x[val], y[val]
        x_test, y_test = x[test], y[test]
    x_train, y_train = _subset(x_train, y_train, study.max_train_samples, rng)
    x_val, y_val = _subset(x_val, y_val, study.max_eval_samples, rng)
    x_test, y_test = _subset(x_test, y_test, study.max_eval_samples, rng)
    return Dataset(study.dataset, study.task, x_train, y_train, x_val, y_val, x_test, y_test, origin)
