"""Fashion-MNIST: four IDX files (headers checked), split 55,000 / 5,000 / 10,000 (validation =
the last 5,000 training images, as in the textbook split)."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from hpsearch.data.folders import (
    ENV_DATA_DIR,
    explicit_dir_error,
    keras_cache,
    one_line,
    resolve_data_dir,
    search_dirs,
)
from hpsearch.errors import DataError
from hpsearch.study.config import Study

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
NAMES = [name for name, _ in FASHION_FILES.values()]


def folders(study_dir: str | None, source: str | None) -> list[Path]:
    """Where the files are looked for, in order (Debian's package, then Keras's cache)."""
    defaults = [DEBIAN_FASHION, keras_cache() / "datasets" / FASHION_SUBDIR]
    return search_dirs(study_dir, source, FASHION_SUBDIR, defaults)


def expected(base: Path) -> str:
    return f"{', '.join(NAMES)} in {base / FASHION_SUBDIR} or {base}"


def found(folder: Path) -> bool:
    return all((folder / name).is_file() for name in NAMES)


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
        raise bad(f"unreadable gzip data ({one_line(exc)})") from None
    except OSError as exc:
        raise DataError(
            f"{path}: cannot read the file ({one_line(exc)}); check its permissions"
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


def download() -> tuple[np.ndarray, ...]:
    """Keras's loader: its cache, else a download (needs the network)."""
    import keras

    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    return x_train, y_train, x_test, y_test


def raw(study: Study) -> tuple[tuple[np.ndarray, ...], str]:
    names = [name for name, _ in FASHION_FILES.values()]
    tried = []
    for folder in folders(study.data_dir, study.source):
        present = [name for name in names if (folder / name).is_file()]
        if len(present) == len(names):
            return _read_fashion_folder(folder), str(folder)
        tried.append(f"{folder} ({len(present)} of 4 files)" if present else str(folder))
    if study.data_dir:
        base = resolve_data_dir(study.data_dir, study.source)
        raise explicit_dir_error(study, f"{', '.join(names)} in {base / FASHION_SUBDIR} or {base}")
    try:
        x_train, y_train, x_test, y_test = download()
        x_train, x_test = (np.asarray(x).reshape(len(x), -1) for x in (x_train, x_test))
        if x_train.shape[1] != IMAGE_SIDE * IMAGE_SIDE or len(y_train) != len(x_train):
            raise ValueError(f"unexpected shapes {x_train.shape}, {np.shape(y_train)}")
    except Exception as exc:  # no network, blocked host, a broken cache, ...
        raise DataError(
            f"fashion_mnist: no IDX files in {', '.join(tried) or 'no folder'} and the download "
            f"failed ({one_line(exc)}); set study.data_dir or ${ENV_DATA_DIR} to a folder holding "
            f"{FASHION_SUBDIR}/{names[0]} and the other three"
        ) from None
    return (x_train, np.asarray(y_train), x_test, np.asarray(y_test)), "keras.datasets"


def splits(study: Study, rng: np.random.Generator) -> tuple[tuple[np.ndarray, ...], str]:
    """(x_train, y_train, x_val, y_val, x_test, y_test), scaled to [0, 1]; and the origin."""
    (x_full, y_full, x_test, y_test), origin = raw(study)
    x_full = x_full.astype(np.float32) / 255.0
    x_test = x_test.astype(np.float32) / 255.0
    y_full, y_test = y_full.astype(np.int64), y_test.astype(np.int64)
    x_train, y_train = x_full[:-FASHION_VALIDATION], y_full[:-FASHION_VALIDATION]
    x_val, y_val = x_full[-FASHION_VALIDATION:], y_full[-FASHION_VALIDATION:]
    return (x_train, y_train, x_val, y_val, x_test, y_test), origin
