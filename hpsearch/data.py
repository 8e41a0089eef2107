"""The two reference datasets, found offline first, split reproducibly.

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

import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpsearch.config import DATASETS, Study
from hpsearch.errors import DataError

ENV_DATA_DIR = "HPSEARCH_DATA_DIR"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
FASHION_SUBDIR = "fashion-mnist"
FASHION_FILES = {
    "x_train": ("train-images-idx3-ubyte.gz", 16),
    "y_train": ("train-labels-idx1-ubyte.gz", 8),
    "x_test": ("t10k-images-idx3-ubyte.gz", 16),
    "y_test": ("t10k-labels-idx1-ubyte.gz", 8),
}
IDX_IMAGES, IDX_LABELS = 2051, 2049  # the magic numbers of IDX image and label files
IMAGE_SIDE = 28
N_CLASSES = 10
FASHION_VALIDATION = 5_000  # the last 5,000 training images, as in the textbook split
CAL_SUBDIR = "scikit_learn_data"
CAL_FILE = "cal_housing_py3.pkz"
CAL_FEATURES = 8


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


# --- where to look -------------------------------------------------------------------------


def _pseudo_source(source: str | None) -> bool:
    """'<study>' and the like: text that did not come from a file."""
    return not source or (source.startswith("<") and source.endswith(">"))


def resolve_data_dir(data_dir: str, source: str | None = None) -> Path:
    """A study's `data_dir`: `~` expanded, a relative one taken from the study file's folder."""
    path = Path(data_dir).expanduser()
    if not path.is_absolute():
        base = (
            Path.cwd()
            if source is None or _pseudo_source(source)
            else Path(source).expanduser().parent
        )
        path = base / path
    return path.absolute()


def _keras_cache() -> Path:
    home = os.environ.get("KERAS_HOME")
    return Path(home).expanduser() if home else Path.home() / ".keras"


def _sklearn_home() -> Path:
    """scikit-learn's data home, computed without creating it (get_data_home() would)."""
    return Path(os.environ.get("SCIKIT_LEARN_DATA", "~/scikit_learn_data")).expanduser()


def data_dirs(
    study_dir: str | None, dataset: str | None = None, source: str | None = None
) -> list[Path]:
    """The folders searched, in order.

    With `dataset=None`: the user-given base folders only, that is the study's
    `data_dir` (resolved against the folder of the study file `source`) when set,
    else `$HPSEARCH_DATA_DIR` when set.

    With a dataset name: every folder searched for its files, in order. When the
    study sets `data_dir` that is `<data_dir>/fashion-mnist` (resp.
    `<data_dir>/scikit_learn_data`) then `<data_dir>`, nothing else. Otherwise
    `$HPSEARCH_DATA_DIR/<same subfolder>` and `$HPSEARCH_DATA_DIR` (when the variable is
    set), then for fashion_mnist Debian's `/usr/share/datasets/fashion-mnist` and Keras's
    cache `$KERAS_HOME/datasets/fashion-mnist` (default `~/.keras`), for
    california_housing scikit-learn's data home (`$SCIKIT_LEARN_DATA`, default
    `~/scikit_learn_data`). `load_dataset` downloads (with Keras or scikit-learn) only
    when none of these folders has the files and the study sets no `data_dir`.
    """
    if study_dir:
        bases = [resolve_data_dir(study_dir, source)]
    else:
        env = os.environ.get(ENV_DATA_DIR)
        bases = [Path(env).expanduser().absolute()] if env else []
    if dataset is None:
        return bases
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    sub = FASHION_SUBDIR if dataset == "fashion_mnist" else CAL_SUBDIR
    folders = [folder for base in bases for folder in (base / sub, base)]
    if not study_dir:
        if dataset == "fashion_mnist":
            folders += [DEBIAN_FASHION, _keras_cache() / "datasets" / FASHION_SUBDIR]
        else:
            folders.append(_sklearn_home())
    return list(dict.fromkeys(folders))


def _explicit_dir_error(study: Study, expected: str) -> DataError:
    """The study named its data_dir, and the files are not there."""
    resolved = resolve_data_dir(str(study.data_dir), study.source)
    shown = (
        str(resolved)
        if study.data_dir == str(resolved)
        else f"{study.data_dir!r} (resolved to {resolved})"
    )
    state = "" if resolved.is_dir() else ", which does not exist"
    return DataError(
        f"{study.source}: study.data_dir {shown}{state}: {study.dataset} files not found; "
        f"expected {expected}; put them (or symlinks) there, or remove data_dir to search "
        f"${ENV_DATA_DIR} and the default places"
    )


def _one_line(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


# --- Fashion-MNIST -------------------------------------------------------------------------


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """One gzip-compressed IDX file, header checked: labels as (n,), images as (n, 784)."""
    kind = "image" if magic == IDX_IMAGES else "label"
    expected = f"a gzip-compressed IDX {kind} file (magic {magic}" + (
        f", {IMAGE_SIDE}x{IMAGE_SIDE} images)" if magic == IDX_IMAGES else ")"
    )

    def bad(got: str) -> DataError:
        return DataError(
            f"{path}: expected {expected}, got {got}; replace it with an intact copy "
            f"(delete it if it is in a download cache)"
        )

    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except EOFError:
        raise bad("a truncated file (the compressed data end early)") from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise bad(f"unreadable gzip data ({_one_line(exc)})") from None
    except OSError as exc:
        raise DataError(
            f"{path}: cannot read the file ({_one_line(exc)}); check its permissions"
        ) from None
    header = 16 if magic == IDX_IMAGES else 8
    if len(raw) < header:
        raise bad(f"{len(raw)} bytes, shorter than the {header}-byte IDX header")
    fields = np.frombuffer(raw, dtype=">u4", count=header // 4)
    if int(fields[0]) != magic:
        raise bad(f"magic number {int(fields[0])}")
    n = int(fields[1])
    if magic == IDX_IMAGES:
        rows, cols = int(fields[2]), int(fields[3])
        if (rows, cols) != (IMAGE_SIDE, IMAGE_SIDE):
            raise bad(f"{rows}x{cols} images")
        size = rows * cols
    else:
        size = 1
    if len(raw) != header + n * size:
        raise bad(
            f"{len(raw) - header:,} data bytes where the header announces {n:,} "
            f"{kind}s ({n * size:,} bytes)"
        )
    if n == 0:
        raise bad(f"no {kind}s")
    data = np.frombuffer(raw, dtype=np.uint8, offset=header)
    if magic == IDX_LABELS:
        top = int(data.max())
        if top >= N_CLASSES:
            raise bad(f"label {top} (expected 0-{N_CLASSES - 1})")
        return data
    return data.reshape(n, size)


def _read_fashion_folder(folder: Path) -> tuple[np.ndarray, ...]:
    files = {k: folder / name for k, (name, _) in FASHION_FILES.items()}
    arrays = {
        k: _read_idx(p, IDX_IMAGES if k.startswith("x") else IDX_LABELS) for k, p in files.items()
    }
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if len(x) != len(y):
            raise DataError(
                f"{files[f'y_{part}']}: expected one label per image of "
                f"{files[f'x_{part}']}, got {len(y):,} labels for {len(x):,} images; "
                f"replace the files with intact copies"
            )
    if len(arrays["x_train"]) <= FASHION_VALIDATION:
        raise DataError(
            f"{files['x_train']}: expected more than {FASHION_VALIDATION:,} training "
            f"images (the last {FASHION_VALIDATION:,} are the validation split), got "
            f"{len(arrays['x_train']):,}; replace it with the full file"
        )
    return arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]


def _download_fashion() -> tuple[np.ndarray, ...]:
    """Keras's loader: its cache, else a download (needs the network)."""
    import keras

    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    return x_train, y_train, x_test, y_test


def _fashion_raw(study: Study) -> tuple[tuple[np.ndarray, ...], str]:
    names = [name for name, _ in FASHION_FILES.values()]
    tried = []
    for folder in data_dirs(study.data_dir, "fashion_mnist", study.source):
        present = [name for name in names if (folder / name).is_file()]
        if len(present) == len(names):
            return _read_fashion_folder(folder), str(folder)
        tried.append(f"{folder} ({len(present)} of 4 files)" if present else str(folder))
    if study.data_dir:
        base = resolve_data_dir(study.data_dir, study.source)
        raise _explicit_dir_error(study, f"{', '.join(names)} in {base / FASHION_SUBDIR} or {base}")
    try:
        x_train, y_train, x_test, y_test = _download_fashion()
        x_train, x_test = (np.asarray(x).reshape(len(x), -1) for x in (x_train, x_test))
        if x_train.shape[1] != IMAGE_SIDE * IMAGE_SIDE or len(y_train) != len(x_train):
            raise ValueError(f"unexpected shapes {x_train.shape}, {np.shape(y_train)}")
    except Exception as exc:  # no network, blocked host, a broken cache, ...
        raise DataError(
            f"fashion_mnist: no IDX files in {', '.join(tried) or 'no folder'} and the download "
            f"failed ({_one_line(exc)}); set study.data_dir or ${ENV_DATA_DIR} to a folder holding "
            f"{FASHION_SUBDIR}/{names[0]} and the other three"
        ) from None
    return (x_train, np.asarray(y_train), x_test, np.asarray(y_test)), "keras.datasets"


# --- California housing --------------------------------------------------------------------


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
            f"does not load ({_one_line(exc)}); replace it with an intact copy (or "
            f"delete it and let fetch_california_housing() download it again)"
        ) from None
    x, y = np.asarray(bunch.data), np.asarray(bunch.target)
    _check_california(x, y, str(path))
    return x, y


def _download_california() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's loader: its data home, else a download (needs the network)."""
    from sklearn.datasets import fetch_california_housing

    bunch = fetch_california_housing()
    return np.asarray(bunch.data), np.asarray(bunch.target)


def _california_raw(study: Study) -> tuple[np.ndarray, np.ndarray, str]:
    tried = []
    for folder in data_dirs(study.data_dir, "california_housing", study.source):
        if (folder / CAL_FILE).is_file():
            x, y = _read_california(folder)
            return x, y, str(folder)
        tried.append(str(folder))
    if study.data_dir:
        base = resolve_data_dir(study.data_dir, study.source)
        raise _explicit_dir_error(study, f"{CAL_FILE} in {base / CAL_SUBDIR} or {base}")
    try:
        x, y = _download_california()
    except Exception as exc:
        raise DataError(
            f"california_housing: no {CAL_FILE} in {', '.join(tried)} and the download failed "
            f"({_one_line(exc)}); set study.data_dir or ${ENV_DATA_DIR} to a folder holding "
            f"{CAL_SUBDIR}/{CAL_FILE}, or set SCIKIT_LEARN_DATA"
        ) from None
    _check_california(x, y, "fetch_california_housing()")
    return x, y, str(_sklearn_home())


# --- without loading ---------------------------------------------------------------------


def locate_data(study: Study) -> str:
    """Where `load_dataset` will read the study's data from, without reading it (for
    `validate`): a folder, or 'download' when no local copy exists and the study sets no
    data_dir. Raises the same DataError as `load_dataset` for an explicit data_dir without
    the files."""
    if study.dataset == "fashion_mnist":
        names = [name for name, _ in FASHION_FILES.values()]
        expected = lambda base: f"{', '.join(names)} in {base / FASHION_SUBDIR} or {base}"  # noqa: E731
        found = lambda folder: all((folder / name).is_file() for name in names)  # noqa: E731
    else:
        expected = lambda base: f"{CAL_FILE} in {base / CAL_SUBDIR} or {base}"  # noqa: E731
        found = lambda folder: (folder / CAL_FILE).is_file()  # noqa: E731
    for folder in data_dirs(study.data_dir, study.dataset, study.source):
        if found(folder):
            return str(folder)
    if study.data_dir:
        raise _explicit_dir_error(study, expected(resolve_data_dir(study.data_dir, study.source)))
    return "download"


# --- splits --------------------------------------------------------------------------------


def _subset(x: np.ndarray, y: np.ndarray, n: int | None, rng: np.random.Generator):
    if n is None or n >= len(x):
        return x, y
    idx = np.sort(rng.choice(len(x), size=n, replace=False))
    return x[idx], y[idx]


def load_dataset(study: Study) -> Dataset:
    """Load, split and (for subsets) sample the study's dataset; the seed makes it reproducible.

    Raises DataError (one line: where it looked or which file, what it expected, what to do).
    """
    rng = np.random.default_rng(study.seed)
    if study.dataset == "fashion_mnist":
        (x_full, y_full, x_test, y_test), origin = _fashion_raw(study)
        x_full = x_full.astype(np.float32) / 255.0
        x_test = x_test.astype(np.float32) / 255.0
        y_full, y_test = y_full.astype(np.int64), y_test.astype(np.int64)
        x_train, y_train = x_full[:-FASHION_VALIDATION], y_full[:-FASHION_VALIDATION]
        x_val, y_val = x_full[-FASHION_VALIDATION:], y_full[-FASHION_VALIDATION:]
    else:
        x, y, origin = _california_raw(study)
        x, y = x.astype(np.float32), y.astype(np.float32)
        order = rng.permutation(len(x))  # 60 / 20 / 20, shuffled by the study's seed
        n_test = n_val = len(x) // 5
        test, val, train = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
        x_train, y_train, x_val, y_val = x[train], y[train], x[val], y[val]
        x_test, y_test = x[test], y[test]
    x_train, y_train = _subset(x_train, y_train, study.max_train_samples, rng)
    x_val, y_val = _subset(x_val, y_val, study.max_eval_samples, rng)
    x_test, y_test = _subset(x_test, y_test, study.max_eval_samples, rng)
    return Dataset(
        study.dataset, study.task, x_train, y_train, x_val, y_val, x_test, y_test, origin
    )
