"""`[data]`: a study's own data file (CSV, Parquet or NPZ) in place of a built-in dataset.

Parsing reads the target only (one column, or NPZ's `y`): enough to refuse a missing file or
target in one line and to infer the task, which the engines' checks need (accuracy or RMSE).
Loading, splitting and encoding happen in `hpsearch/data/files.py`.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpsearch.errors import Found
from hpsearch.study.schema import Checker

FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}
FORMATS[".npz"] = "npz"
TASKS = ("classification", "regression")
ENCODINGS = ("onehot", "ordinal")
CATEGORICAL_MISSING = ("category", "most_frequent")
# Integers with at most this many distinct values are class labels; more, a quantity.
MAX_INTEGER_CLASSES = 20

SCHEMA: dict[str, Any] = {
    "train": str,
    "test": str,
    "target": str,
    "task": str,
    "sep": str,
    "x_key": str,
    "y_key": str,
    "test_fraction": float,
    "val_fraction": float,
    "drop": list,
    "categorical": list,
    "categorical_encoding": str,
    "max_categories": int,
    "categorical_missing": str,
    "drop_missing_target": bool,
    "class_weight": str,
}


@dataclass(frozen=True)
class DataSpec:
    """What `[data]` says, checked; paths are absolute (relative ones from the study's folder)."""

    train: str
    format: str
    task: str
    target: str = ""  # CSV / Parquet: the target column
    test: str = ""  # "" -> `test_fraction` of the file
    sep: str = ""  # CSV: "" -> sniffed
    x_key: str = "x"  # NPZ arrays
    y_key: str = "y"
    test_fraction: float = 0.2
    val_fraction: float = 0.1
    drop: tuple[str, ...] = ()
    categorical: tuple[str, ...] | None = None  # None -> the non-numeric columns
    categorical_encoding: str = "onehot"
    max_categories: int | None = None
    categorical_missing: str = "category"
    drop_missing_target: bool = False
    class_weight: str = ""  # "balanced"

    @property
    def name(self) -> str:
        """The data's name in tables and pages: the training file's name."""
        return Path(self.train).name


def resolve(path: str, source: str) -> Path:
    """A data path as written: `~` expanded, a relative one from the study file's folder."""
    p = Path(path).expanduser()
    if not p.is_absolute():
        base = Path.cwd() if source.startswith("<") else Path(source).expanduser().parent
        p = base / p
    return Path(os.path.normpath(p.absolute()))  # no "..": the path shows in run.json and pages


def parse_data(c: Checker, raw: dict[str, Any]) -> DataSpec:
    """Check `[data]` and read its target to infer the task; StudyError on the first problem."""
    if "train" not in raw:
        raise c.fail("data.train", "the path of a CSV, Parquet or NPZ file", Found("nothing"))
    train = _existing(c, "data.train", raw["train"])
    fmt = _format(c, "data.train", train)
    test = _existing(c, "data.test", raw["test"]) if raw.get("test") else None
    if test is not None and _format(c, "data.test", test) != fmt:
        raise c.fail("data.test", f"a {fmt} file like data.train", str(test))
    for key in ("test_fraction", "val_fraction"):
        if key in raw and not 0 < raw[key] < 0.9:
            raise c.fail(f"data.{key}", "a fraction in (0, 0.9)", raw[key])
    for key in ("drop", "categorical"):
        for item in raw.get(key, []):
            if not isinstance(item, str):
                raise c.fail(f"data.{key}", "a list of column names", raw[key])
    if "categorical_encoding" in raw:
        c.one_of("data.categorical_encoding", raw["categorical_encoding"], ENCODINGS)
    if "categorical_missing" in raw:
        c.one_of("data.categorical_missing", raw["categorical_missing"], CATEGORICAL_MISSING)
    if "max_categories" in raw:
        c.at_least("data.max_categories", raw["max_categories"], 2)
    if "class_weight" in raw:
        c.one_of("data.class_weight", raw["class_weight"], ("balanced",))
    if "task" in raw:
        c.one_of("data.task", raw["task"], TASKS)
    if fmt == "npz":
        for key in ("target", "sep", "drop", "categorical"):
            if key in raw:
                raise c.fail(f"data.{key}", "no such key for an NPZ file (x_key, y_key)", raw[key])
        labels = _npz_target(c, train, raw.get("y_key", "y"))
    else:
        for key in ("x_key", "y_key"):
            if key in raw:
                raise c.fail(f"data.{key}", f"no such key for a {fmt} file (target)", raw[key])
        if "target" not in raw:
            raise c.fail("data.target", "the name of the target column", Found("nothing"))
        labels = _table_target(c, train, fmt, raw["target"], raw.get("sep", ""))
    task = raw.get("task") or infer_task(labels)
    if task == "regression" and "class_weight" in raw:
        raise c.fail("data.class_weight", "class weights for classification only", "regression")
    return DataSpec(
        train=str(train),
        format=fmt,
        task=task,
        target=raw.get("target", ""),
        test=str(test) if test else "",
        sep=raw.get("sep", ""),
        x_key=raw.get("x_key", "x"),
        y_key=raw.get("y_key", "y"),
        test_fraction=float(raw.get("test_fraction", 0.2)),
        val_fraction=float(raw.get("val_fraction", 0.1)),
        drop=tuple(raw.get("drop", ())),
        categorical=tuple(raw["categorical"]) if "categorical" in raw else None,
        categorical_encoding=raw.get("categorical_encoding", "onehot"),
        max_categories=raw.get("max_categories"),
        categorical_missing=raw.get("categorical_missing", "category"),
        drop_missing_target=raw.get("drop_missing_target", False),
        class_weight=raw.get("class_weight", ""),
    )


def infer_task(labels: Any) -> str:
    """Text, booleans or categories: classification; integers with few distinct values too;
    anything else (floats, many integers): regression."""
    import pandas as pd  # lazy: loads pandas

    values = pd.Series(labels).dropna()
    kind = values.dtype.kind
    if kind in "OSUb" or isinstance(values.dtype, pd.CategoricalDtype) or kind == "T":
        return "classification"
    if kind in "iu" or (kind == "f" and len(values) and (values == values.round()).all()):
        return "classification" if values.nunique() <= MAX_INTEGER_CLASSES else "regression"
    return "regression"


def _existing(c: Checker, key: str, value: Any) -> Path:
    path = resolve(value, c.source)
    if not path.is_file():
        state = "a folder" if path.is_dir() else "no such file"
        raise c.fail(key, "an existing data file", Found(f"{value!r} ({path}: {state})"))
    if not os.access(path, os.R_OK):
        raise c.fail(key, "a readable data file", Found(f"{path}, which is not readable"))
    return path


def _format(c: Checker, key: str, path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise c.fail(key, "a .csv, .parquet or .npz file", Found(path.name))
    return fmt


def _table_target(c: Checker, path: Path, fmt: str, target: str, sep: str) -> Any:
    columns = _columns(c, path, fmt, sep)
    if target not in columns:
        raise c.fail(
            "data.target", f"a column of {path.name} ({', '.join(map(str, columns))})", target
        )
    return read_columns(path, fmt, sep, [target])[target]


def _columns(c: Checker, path: Path, fmt: str, sep: str) -> list[str]:
    try:
        return list(read_columns(path, fmt, sep, None, nrows=0).columns)
    except ImportError as exc:
        raise c.fail("data.train", "a file this installation can read", Found(str(exc))) from None
    except Exception as exc:  # pandas / pyarrow parser errors name their own kinds
        raise c.fail(
            "data.train", f"a readable {fmt} file", Found(f"{type(exc).__name__}: {exc}")
        ) from None


def _npz_target(c: Checker, path: Path, key: str) -> Any:
    import numpy as np  # lazy: loads NumPy

    try:
        with np.load(path, allow_pickle=False) as arrays:
            if key not in arrays.files:
                raise c.fail(
                    "data.y_key", f"an array of {path.name} ({', '.join(arrays.files)})", key
                )
            return arrays[key].reshape(len(arrays[key]), -1)[:, 0]
    except (OSError, ValueError) as exc:
        raise c.fail(
            "data.train",
            "a readable NPZ file of numeric arrays",
            Found(f"{type(exc).__name__}: {exc}"),
        ) from None


def sniff_sep(path: Path) -> str:
    """A CSV's separator from its first lines (comma when the sniffer cannot tell)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        head = f.read(64 * 1024)
    try:
        return csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_columns(
    path: Path, fmt: str, sep: str, columns: list[str] | None, nrows: int | None = None
) -> Any:
    """A CSV or Parquet file (or some of its columns) as a DataFrame, read once per change."""
    stat = path.stat()
    return _read(str(path), stat.st_mtime_ns, stat.st_size, fmt, sep, tuple(columns or ()), nrows)


@functools.lru_cache(maxsize=8)
def _read(
    path: str,
    mtime: int,
    size: int,
    fmt: str,
    sep: str,
    columns: tuple[str, ...],
    nrows: int | None,
) -> Any:
    import pandas as pd  # lazy: loads pandas

    if fmt == "parquet":
        if importlib.util.find_spec("pyarrow") is None:
            raise ImportError('reading Parquet needs pyarrow: pip install "hpsearch[parquet]"')
        frame = pd.read_parquet(path, columns=list(columns) or None)
        return frame.head(nrows) if nrows is not None else frame
    return pd.read_csv(
        path,
        sep=sep or sniff_sep(Path(path)),
        usecols=list(columns) or None,
        nrows=nrows,
        encoding="utf-8-sig",
    )
