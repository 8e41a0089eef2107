"""A study's data: the two reference datasets (found offline first) or your own CSV, Parquet
or NPZ file ([data], `files.py`), split reproducibly.

Where the files are looked for, in order (the first folder holding all of them wins):

* If the study sets `data_dir` (a relative one is taken from the study file's folder),
  only there: `<data_dir>/fashion-mnist/` then `<data_dir>/` for the four Fashion-MNIST
  IDX files, `<data_dir>/scikit_learn_data/` then `<data_dir>/` for California
  housing's `cal_housing_py3.pkz`. Missing files are a `DataError`: no fallback, no
  download.
* Otherwise, for Fashion-MNIST: `$HPSEARCH_DATA_DIR/fashion-mnist/`,
  `$HPSEARCH_DATA_DIR/`, Debian's `/usr/share/datasets/fashion-mnist/` (package
  `dataset-fashion-mnist`), Keras's cache `$KERAS_HOME/datasets/fashion-mnist/`
  (`~/.keras` without `$KERAS_HOME`), and last `keras.datasets.fashion_mnist.load_data()`,
  which downloads into that cache.
* Otherwise, for California housing: `$HPSEARCH_DATA_DIR/scikit_learn_data/`,
  `$HPSEARCH_DATA_DIR/`, scikit-learn's data home (`$SCIKIT_LEARN_DATA`, else
  `~/scikit_learn_data`), and last `sklearn.datasets.fetch_california_housing()`,
  which downloads into that data home.

Files that are found but unreadable (truncated gzip, wrong IDX header, a .pkz that does
not load) are a `DataError` naming the file, not a reason to look further.

Splits: Fashion-MNIST 55,000 / 5,000 / 10,000 (validation = the last 5,000 training
images); California housing 60 / 20 / 20, shuffled by the study's seed. Subsets
(`max_train_samples`, `max_eval_samples`) are sampled with the same seed.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np

from hpsearch.data import california_housing, fashion_mnist, files
from hpsearch.data.dataset import Dataset, subset
from hpsearch.data.folders import ENV_DATA_DIR, base_dirs, explicit_dir_error, resolve_data_dir
from hpsearch.study.config import DATASETS, Study

__all__ = [
    "ENV_DATA_DIR",
    "Dataset",
    "data_dirs",
    "load_dataset",
    "locate_data",
    "resolve_data_dir",
]

# One module per source: folders(), expected(), found() and splits(study, rng).
SOURCES: dict[str, ModuleType] = {
    "fashion_mnist": fashion_mnist,
    "california_housing": california_housing,
}


def data_dirs(
    study_dir: str | None, dataset: str | None = None, source: str | None = None
) -> list[Path]:
    """The folders searched, in order.

    With `dataset=None`: the user-given base folders only (the study's `data_dir`, resolved
    against the folder of the study file `source`, else `$HPSEARCH_DATA_DIR`). With a
    dataset name: every folder searched for its files, in order (see the module's doc).
    """
    if dataset is None:
        return base_dirs(study_dir, source)
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    return SOURCES[dataset].folders(study_dir, source)


def locate_data(study: Study) -> str:
    """Where `load_dataset` will read the study's data from, without reading it (for
    `validate`): a folder, or 'download' when no local copy exists and the study sets no
    data_dir. Raises the same DataError as `load_dataset` for an explicit data_dir without
    the files."""
    if study.data is not None:  # its files were checked when the study was read
        return study.data.train
    src = SOURCES[study.dataset]
    for folder in src.folders(study.data_dir, study.source):
        if src.found(folder):
            return str(folder)
    if study.data_dir:
        base = resolve_data_dir(study.data_dir, study.source)
        raise explicit_dir_error(study, src.expected(base))
    return "download"


def load_dataset(study: Study) -> Dataset:
    """Load, split and (for subsets) sample the study's data; the seed makes it reproducible.

    Raises DataError (one line: where it looked or which file, what it expected, what to do).
    """
    rng = np.random.default_rng(study.seed)
    classes = None
    if study.data is not None:
        (x_train, y_train, x_val, y_val, x_test, y_test), origin, classes = files.splits(study, rng)
    else:
        (x_train, y_train, x_val, y_val, x_test, y_test), origin = SOURCES[study.dataset].splits(
            study, rng
        )
    x_train, y_train = subset(x_train, y_train, study.max_train_samples, rng)
    x_val, y_val = subset(x_val, y_val, study.max_eval_samples, rng)
    x_test, y_test = subset(x_test, y_test, study.max_eval_samples, rng)
    return Dataset(
        study.dataset, study.task, x_train, y_train, x_val, y_val, x_test, y_test, origin, classes
    )
