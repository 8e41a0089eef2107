"""`hpsearch.search(data, target=...)`: a study from Python, for notebooks and scripts.

It writes what the command line writes: a copy of the data (content-addressed, so the same
data gives the same file), a study file naming it, and a run folder with its live files, so
`status`, `serve`, `compare`, `report` and `resume` work on it as on any run.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import importlib.util
import json
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hpsearch import registry
from hpsearch.data.dataset import arrays_fingerprint
from hpsearch.errors import InputError
from hpsearch.files import atomic_write, atomic_write_text
from hpsearch.report.best import load_best
from hpsearch.rundir.folder import REPORT
from hpsearch.rundir.read import load_run, read_summary
from hpsearch.runtime import compile_cache
from hpsearch.study import data_section
from hpsearch.study.config import SCHEMA, parse_study

# Keyword settings by the section they belong to; `n_trials` sets each engine's own count.
STUDY_KEYS = tuple(k for k in SCHEMA["study"] if k not in ("dataset", "data_dir"))
TRAIN_KEYS = tuple(SCHEMA["train"])
DATA_KEYS = tuple(
    k for k in data_section.SCHEMA if k not in ("train", "test", "target", "x_key", "y_key", "sep")
)


@dataclasses.dataclass(frozen=True)
class SearchResult:
    """A finished run of `search`: its folder, and its tables and models read from there."""

    run_dir: Path

    @property
    def trials(self) -> pd.DataFrame:
        """One row per trial and engine (trials.csv)."""
        return load_run(self.run_dir).trials

    @property
    def summary(self) -> pd.DataFrame:
        """One row per engine: its best trial and its test score (summary.csv)."""
        return read_summary(self.run_dir)

    @property
    def report(self) -> Path:
        return self.run_dir / REPORT

    def best_estimator(self, engine: str | None = None) -> Any:
        """The fitted best pipeline of `engine` (default: the best engine); it takes raw rows."""
        return load_best(self.run_dir, engine)


def search(
    data: Any,
    target: str | None = None,
    *,
    y: Any = None,
    study: str | Path | dict[str, Any] | None = None,
    model: Any = None,
    resume: str | Path | None = None,
    verbose: int = 0,
    **settings: Any,
) -> SearchResult:
    """Search over `data` (a DataFrame with the `target` column, or features with `y`).

    `study`: a study file or dict without `[data]` (its engines, space, budget); keyword
    `settings` override it: `engines`, `space`, `epochs`, `batch_size`, `n_trials` (every
    engine's trial count), `seed`, `name`, `output_dir`, the `[data]` keys (`test_fraction`,
    `task`, `class_weight`, `drop`, ...), engine sections (`optuna={"sampler": "random"}`) and
    `track={"mlflow": URI}` (README: Tracking).
    `model`: a model factory (a function returning a compiled Keras model, its keyword
    parameters searched by `space`) or its "package.module:function" name. One defined in a
    notebook or script runs in this process only: `worker`s and Dask cannot import it.
    `resume`: a run folder of an earlier `search` over the same data and settings.
    """
    if "keras" not in sys.modules and importlib.util.find_spec("jax") is not None:
        os.environ.setdefault("KERAS_BACKEND", "jax")  # as the command line: 2-3x faster on CPU
    compile_cache.configure()  # as the command line: a model of an earlier shape skips XLA
    from hpsearch.run.runner import run_study  # lazy: loads Keras, the engines

    doc = _base(study)
    _apply(doc, settings)
    if model is not None:
        doc["model"] = {"factory": _factory_name(model)}
    folder = Path(doc["study"].get("output_dir", "results")) / doc["study"]["name"] / "data"
    doc["data"].update(_keep_data(data, target, y, folder))
    text = _to_toml(doc)
    source = folder / f"study-{hashlib.sha256(text.encode()).hexdigest()[:12]}.toml"
    if not source.is_file():
        atomic_write_text(source, text)  # `hpsearch run` runs it again from the command line
    run_dir = run_study(parse_study(text, str(source)), resume=resume, verbose=verbose)
    return SearchResult(run_dir)


def _factory_name(model: Any) -> str:
    """ "package.module:function" of a factory given as a function (or as that name)."""
    if isinstance(model, str):
        return model
    name = getattr(model, "__qualname__", "")
    if not callable(model) or not name.isidentifier():
        raise InputError(
            f"search(): model expected a function defined at the top of a module or notebook "
            f"(or its 'package.module:function' name), got {model!r}"
        )
    return f"{model.__module__}:{name}"


def _base(study: str | Path | dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    if study is None:
        doc: dict[str, Any] = {}
    elif isinstance(study, dict):
        doc = copy.deepcopy(study)
    else:
        try:
            doc = tomllib.loads(Path(study).read_text(encoding="utf-8-sig"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InputError(f"{study}: expected a readable study file ({exc})") from None
    for key in ("data",):
        if key in doc:
            raise InputError(f"search(): the study's [{key}] is the data given to search()")
    doc.setdefault("study", {}).pop("dataset", None)
    doc["study"].setdefault("name", "search")
    doc.setdefault("data", {})
    return doc


def _apply(doc: dict[str, dict[str, Any]], settings: dict[str, Any]) -> None:
    engines = registry.names()
    n_trials = settings.pop("n_trials", None)
    for key, value in settings.items():
        if key in STUDY_KEYS:
            doc["study"][key] = list(value) if key == "engines" else value
        elif key in TRAIN_KEYS:
            doc.setdefault("train", {})[key] = value
        elif key in DATA_KEYS:
            doc["data"][key] = list(value) if isinstance(value, tuple) else value
        elif key in ("space", "track") or key in engines:
            if not isinstance(value, dict):
                raise InputError(f"search(): {key} expected a dict, got {type(value).__name__}")
            doc.setdefault(key, {}).update(value)
        else:
            known = (*STUDY_KEYS, *TRAIN_KEYS, *DATA_KEYS, "space", "track", "n_trials", *engines)
            raise InputError(
                f"search(): unknown setting {key!r}; expected one of {', '.join(known)}"
            )
    if n_trials is not None:
        for name in doc["study"].get("engines") or registry.defaults():
            key = registry.get(name).trials_setting
            if key:
                doc.setdefault(name, {})[key] = n_trials


def _keep_data(data: Any, target: str | None, y: Any, folder: Path) -> dict[str, Any]:
    """The data as a file in `folder`, named by its content; the `[data]` keys naming it."""
    if isinstance(data, pd.DataFrame):
        frame = data.copy()
        if y is not None:
            target = target or "target"
            frame[target] = np.asarray(y)
        if target is None or target not in frame.columns:
            raise InputError(
                f"search(): expected target= naming a column of the DataFrame, or y=; "
                f"got target={target!r} (columns: {', '.join(map(str, frame.columns))})"
            )
        frame.columns = [str(c) for c in frame.columns]
        parquet = importlib.util.find_spec("pyarrow") is not None  # keeps the columns' types
        path = folder / f"{arrays_fingerprint(frame)}.{'parquet' if parquet else 'csv'}"
        if not path.is_file():
            if parquet:
                atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
            else:
                atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))
        return {"train": str(path.absolute()), "target": target}
    if y is None:
        raise InputError("search(): expected y= with an array of features (or a DataFrame)")
    x, labels = np.asarray(data), np.asarray(y)
    if labels.dtype.kind == "O":
        labels = labels.astype(str)  # NPZ holds no Python objects (allow_pickle=False)
    path = folder / f"{arrays_fingerprint(x, labels)}.npz"
    if not path.is_file():

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, x=x, y=labels)

        atomic_write(path, write)
    return {"train": str(path.absolute())}


def _to_toml(doc: dict[str, dict[str, Any]]) -> str:
    """The study as TOML: tables of plain values, lists and inline tables (ranges)."""
    order = ["study", "data", "model", "train", "space"]
    names = order + [k for k in doc if k not in order]
    lines: list[str] = []
    for name in (n for n in names if n in doc):
        lines.append(f"[{name}]")
        lines += [f"{key} = {_value(value)}" for key, value in doc[name].items()]
        lines.append("")
    return "\n".join(lines)


def _value(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"
    raise InputError(f"search(): cannot write {value!r} ({type(value).__name__}) in a study")
