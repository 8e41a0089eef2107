"""California housing: scikit-learn's cache file, split 60 / 20 / 20, shuffled by the study's seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpsearch.data.folders import (
    ENV_DATA_DIR,
    explicit_dir_error,
    one_line,
    resolve_data_dir,
    search_dirs,
    sklearn_home,
)
from hpsearch.errors import DataError
from hpsearch.study.config import Study

CAL_SUBDIR = "scikit_learn_data"
CAL_FILE = "cal_housing_py3.pkz"
CAL_FEATURES = 8


def folders(study_dir: str | None, source: str | None) -> list[Path]:
    """Where the file is looked for, in order (then scikit-learn's data home)."""
    return search_dirs(study_dir, source, CAL_SUBDIR, [sklearn_home()])


def expected(base: Path) -> str:
    return f"{CAL_FILE} in {base / CAL_SUBDIR} or {base}"


def found(folder: Path) -> bool:
    return (folder / CAL_FILE).is_file()


def _check_california(x: np.ndarray, y: np.ndarray, where: str) -> None:
    if x.ndim != 2 or x.shape[1] != CAL_FEATURES or y.shape != (len(x),) or len(x) < 5:
        raise DataError(
            f"{where}: expected California housing ({CAL_FEATURES} features, one "
            f"target per row), got arrays of shapes {x.shape} and {y.shape}; replace "
            f"it with an intact copy"
        )


def _read_california(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import fetch_california_housing

    path = folder / CAL_FILE
    try:
        bunch = fetch_california_housing(data_home=str(folder), download_if_missing=False)
    except Exception as exc:  # joblib / zlib / pickle errors of a truncated or foreign file
        raise DataError(
            f"{path}: expected scikit-learn's California housing cache file, but it "
            f"does not load ({one_line(exc)}); replace it with an intact copy (or "
            f"delete it and let fetch_california_housing() download it again)"
        ) from None
    x, y = np.asarray(bunch.data), np.asarray(bunch.target)
    _check_california(x, y, str(path))
    return x, y


def download() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's loader: its data home, else a download (needs the network)."""
    from sklearn.datasets import fetch_california_housing

    bunch = fetch_california_housing()
    return np.asarray(bunch.data), np.asarray(bunch.target)


def raw(study: Study) -> tuple[np.ndarray, np.ndarray, str]:
    tried = []
    for folder in folders(study.data_dir, study.source):
        if (folder / CAL_FILE).is_file():
            x, y = _read_california(folder)
            return x, y, str(folder)
        tried.append(str(folder))
    if study.data_dir:
        base = resolve_data_dir(study.data_dir, study.source)
        raise explicit_dir_error(study, f"{CAL_FILE} in {base / CAL_SUBDIR} or {base}")
    try:
        x, y = download()
    except Exception as exc:
        raise DataError(
            f"california_housing: no {CAL_FILE} in {', '.join(tried)} and the download failed "
            f"({one_line(exc)}); set study.data_dir or ${ENV_DATA_DIR} to a folder holding "
            f"{CAL_SUBDIR}/{CAL_FILE}, or set SCIKIT_LEARN_DATA"
        ) from None
    _check_california(x, y, "fetch_california_housing()")
    return x, y, str(sklearn_home())


def splits(study: Study, rng: np.random.Generator) -> tuple[tuple[np.ndarray, ...], str]:
    """(x_train, y_train, x_val, y_val, x_test, y_test) as float32; and the origin."""
    x, y, origin = raw(study)
    x, y = x.astype(np.float32), y.astype(np.float32)
    order = rng.permutation(len(x))  # 60 / 20 / 20, shuffled by the study's seed
    n_test = n_val = len(x) // 5
    test, val, train = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
    return (x[train], y[train], x[val], y[val], x[test], y[test]), origin
