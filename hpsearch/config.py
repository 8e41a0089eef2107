"""Study files: parse TOML, validate everything up front, return a frozen `Study`.

Every problem becomes one `StudyError` naming the file, the key (and its line when
we can find it), what was expected and what was found.
"""
from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from hpsearch.errors import Found, StudyError

# name -> (task, n_features, n_outputs); shapes let us refuse absurd models before any data loads.
DATASETS: dict[str, tuple[str, int, int]] = {
    "fashion_mnist": ("classification", 784, 10),
    "california_housing": ("regression", 8, 1),
}
ENGINES = ("sklearn", "keras_tuner")
OPTIMIZERS = ("sgd", "adam", "rmsprop", "nadam", "adamw")
ACTIVATIONS = ("relu", "selu", "elu", "gelu", "swish", "tanh", "sigmoid", "leaky_relu")
ALGORITHMS = ("random", "hyperband", "bayesian")
# The first is the default; RMSE first for regression, so both engines report the same unit.
OBJECTIVES = {
    "classification": ("val_accuracy", "val_loss"),
    "regression": ("val_root_mean_squared_error", "val_loss"),
}
# sklearn scorers that make sense for each task (others would score NaN on every fit).
SCORERS = {
    "classification": ("accuracy", "balanced_accuracy", "f1_macro", "f1_micro", "f1_weighted",
                       "precision_macro", "recall_macro", "neg_log_loss"),
    "regression": ("neg_root_mean_squared_error", "neg_mean_squared_error",
                   "neg_mean_absolute_error", "neg_median_absolute_error", "r2",
                   "explained_variance", "neg_max_error"),
}
MAX_SEED = 2**32 - 1  # numpy's seeding range
DEFAULT_SCORING = {"classification": "accuracy", "regression": "neg_root_mean_squared_error"}
# Beyond these a typo (n_neurons = 10**9) would try to allocate terabytes.
MAX_NEURONS, MAX_HIDDEN, MAX_PARAMETERS = 16_384, 64, 200_000_000


@dataclass(frozen=True)
class Fixed:
    value: Any


@dataclass(frozen=True)
class Choice:
    values: tuple


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    log: bool = False


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    log: bool = False


Param = Union[Fixed, Choice, IntRange, FloatRange]
# Space parameter -> (type of one value, default when the study leaves it out).
SPACE_PARAMS: dict[str, tuple[type, Any]] = {
    "n_hidden": (int, 2),
    "n_neurons": (int, 100),
    "activation": (str, "relu"),
    "optimizer": (str, "adam"),
    "learning_rate": (float, 1e-3),
}


@dataclass(frozen=True)
class SklearnSettings:
    n_iter: int = 10
    cv: int | str = 3  # folds, or "validation" for the fixed validation split
    scoring: str = ""  # "" -> the task's default
    n_jobs: int = 1
    random_state: int | None = None  # None -> the study seed
    patience: int = 0  # early stopping on a validation split inside each fit; 0 = off
    validation_fraction: float = 0.1


@dataclass(frozen=True)
class TunerSettings:
    algorithm: str = "random"
    max_trials: int = 10
    max_epochs: int = 0  # hyperband only; 0 -> train.epochs
    factor: int = 3
    objective: str = ""  # "" -> the task's default
    patience: int = 3


@dataclass(frozen=True)
class Study:
    name: str
    dataset: str
    source: str
    text: str
    engines: tuple[str, ...] = ENGINES
    seed: int = 42
    data_dir: str | None = None
    output_dir: str = "results"
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    epochs: int = 10
    batch_size: int = 32
    space: dict[str, Param] = field(default_factory=dict)
    sklearn: SklearnSettings = SklearnSettings()
    keras_tuner: TunerSettings = TunerSettings()

    @property
    def task(self) -> str:
        return DATASETS[self.dataset][0]

    @property
    def scoring(self) -> str:
        return self.sklearn.scoring or DEFAULT_SCORING[self.task]

    @property
    def sklearn_random_state(self) -> int:
        """The seed of sklearn's candidate draws: its own setting, else the study's."""
        return self.seed if self.sklearn.random_state is None else self.sklearn.random_state

    @property
    def objective(self) -> str:
        return self.keras_tuner.objective or OBJECTIVES[self.task][0]


SCHEMA: dict[str, dict[str, Any]] = {
    "study": {"name": str, "dataset": str, "engines": list, "seed": int, "data_dir": str,
              "output_dir": str, "max_train_samples": int, "max_eval_samples": int},
    "train": {"epochs": int, "batch_size": int},
    "space": {k: object for k in SPACE_PARAMS},
    "sklearn": {"n_iter": int, "cv": (int, str), "scoring": str, "n_jobs": int,
                "random_state": int, "patience": int, "validation_fraction": float},
    "keras_tuner": {"algorithm": str, "max_trials": int, "max_epochs": int, "factor": int,
                    "objective": str, "patience": int},
}
TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", list: "a list",
              bool: "true or false", dict: "a table"}


def _type_name(t: Any) -> str:
    if isinstance(t, tuple):
        return " or ".join(TYPE_NAMES[x] for x in t)
    return TYPE_NAMES.get(t, t.__name__)


def _is(value: Any, t: Any) -> bool:
    types = t if isinstance(t, tuple) else (t,)
    for one in types:
        if one is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if one is int and isinstance(value, bool):
            continue
        if isinstance(value, one):
            return True
    return False


class _Checker:
    """Raises StudyError with file, key, line and expectation; one instance per file."""

    def __init__(self, source: str, text: str) -> None:
        self.source, self.lines = source, text.splitlines()

    def line_of(self, key: str) -> int | None:
        """Best-effort line of `section.name = ...` (tomllib does not keep positions)."""
        section, _, name = key.rpartition(".")
        in_section = not section
        for i, line in enumerate(self.lines, 1):
            stripped = line.strip()
            header = re.match(r"\[\s*([^\]]+?)\s*\]\s*(#.*)?$", stripped)
            if header:
                if not section and header.group(1) == name:  # an unknown table: its header
                    return i
                in_section = header.group(1) == section
            elif in_section and re.match(rf"{re.escape(name)}\s*=", stripped):
                return i
        return None

    def fail(self, key: str | None, expected: str, got: Any) -> StudyError:
        return StudyError(self.source, key, expected, got, self.line_of(key) if key else None)

    def table(self, key: str, value: Any, allowed: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, "a table", value)
        for name, item in value.items():
            full = f"{key}.{name}" if key else name
            if name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=1)
                hint = f"one of {', '.join(allowed)}" + (f" (did you mean {close[0]!r}?)" if close else "")
                raise self.fail(full, hint, Found(f"an unknown key {name!r}"))
            if allowed[name] is not object and not _is(item, allowed[name]):
                raise self.fail(full, _type_name(allowed[name]), item)
        return value

    def at_least(self, key: str, value: Any, minimum: float = 1) -> Any:
        if value < minimum:
            raise self.fail(key, f"a value >= {minimum}", value)
        return value

    def one_of(self, key: str, value: Any, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            close = difflib.get_close_matches(str(value), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.fail(key, f"one of {', '.join(allowed)}{hint}", value)
        return value


def _parse_param(c: _Checker, name: str, raw: Any) -> Param:
    key = f"space.{name}"
    kind, _ = SPACE_PARAMS[name]
    if isinstance(raw, list):
        if not raw:
            raise c.fail(key, "a non-empty list of choices", raw)
        for v in raw:
            if not _is(v, kind):
                raise c.fail(key, f"a list of {_type_name(kind)} values", raw)
        return Choice(tuple(float(v) if kind is float else v for v in raw))
    if isinstance(raw, dict):
        if kind is str:
            raise c.fail(key, "a value or a list of choices (ranges are numeric only)", raw)
        c.table(key, raw, {"low": kind, "high": kind, "log": bool})
        if "low" not in raw or "high" not in raw:
            raise c.fail(key, "a range with both 'low' and 'high'", raw)
        low, high, log = raw["low"], raw["high"], raw.get("log", False)
        if low > high:
            raise c.fail(key, "low <= high", Found(f"low = {low}, high = {high}"))
        if log and low <= 0:
            raise c.fail(key, "low > 0 for a log-scale range", Found(f"low = {low}"))
        return IntRange(low, high, log) if kind is int else FloatRange(float(low), float(high), log)
    if not _is(raw, kind):
        raise c.fail(key, f"{_type_name(kind)}, a list of choices, or a {{low, high}} range", raw)
    return Fixed(float(raw) if kind is float else raw)


def _values(param: Param) -> list[Any]:
    """The extreme values a parameter can take (for bounds checks)."""
    if isinstance(param, Fixed):
        return [param.value]
    if isinstance(param, Choice):
        return list(param.values)
    return [param.low, param.high]


def _check_space(c: _Checker, space: dict[str, Param], dataset: str) -> None:
    for name, bounds in (("n_hidden", (0, MAX_HIDDEN)), ("n_neurons", (1, MAX_NEURONS))):
        for v in _values(space[name]):
            if not bounds[0] <= v <= bounds[1]:
                raise c.fail(f"space.{name}", f"values in [{bounds[0]}, {bounds[1]}]", v)
    for v in _values(space["learning_rate"]):
        if not 0 < v < 10:  # 10 is already absurd; above it is surely a typo
            raise c.fail("space.learning_rate", "values in (0, 10)", v)
    for v in _values(space["optimizer"]):
        c.one_of("space.optimizer", v, OPTIMIZERS)
    for v in _values(space["activation"]):
        c.one_of("space.activation", v, ACTIVATIONS)
    _, n_in, n_out = DATASETS[dataset]
    hidden, neurons = max(_values(space["n_hidden"])), max(_values(space["n_neurons"]))
    n_params = (n_in * neurons + max(hidden - 1, 0) * neurons * neurons + neurons * n_out
                if hidden else n_in * n_out)
    if n_params > MAX_PARAMETERS:
        raise c.fail("space.n_neurons", f"a model under {MAX_PARAMETERS:,} parameters",
                     Found(f"up to {n_params:,} parameters with n_hidden={hidden}, n_neurons={neurons}"))


def read_text(path: Path) -> str:
    source = str(path)
    if path.is_dir():
        raise StudyError(source, None, "a study file", Found("a directory"))
    try:
        return path.read_text(encoding="utf-8-sig")  # a BOM is not an error
    except FileNotFoundError:
        raise StudyError(source, None, "an existing study file", Found("no such file")) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StudyError(source, None, "a readable UTF-8 file",
                         Found(f"{exc.__class__.__name__}: {exc}")) from None


def parse_study(text: str, source: str = "<study>") -> Study:
    """Parse and validate a study from TOML text; raise StudyError on the first problem."""
    c = _Checker(source, text)
    if not text.strip():
        raise StudyError(source, None, "a TOML study with a [study] table", Found("an empty file"))
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"at line (\d+)", str(exc))
        raise StudyError(source, None, "valid TOML", Found(str(exc)),
                         int(line.group(1)) if line else None) from None
    c.table("", doc, {name: dict for name in SCHEMA})
    sections = {name: c.table(name, doc.get(name, {}), SCHEMA[name]) for name in SCHEMA}
    st, tr, sk, kt = (sections[k] for k in ("study", "train", "sklearn", "keras_tuner"))

    if "dataset" not in st:
        raise c.fail("study.dataset", f"one of {', '.join(DATASETS)}", Found("nothing"))
    dataset = c.one_of("study.dataset", st["dataset"], tuple(DATASETS))
    task = DATASETS[dataset][0]
    engines = tuple(st.get("engines", ENGINES))
    if not engines:
        raise c.fail("study.engines", f"a non-empty list of {', '.join(ENGINES)}", [])
    for e in engines:
        c.one_of("study.engines", e, ENGINES)
    if len(set(engines)) != len(engines):
        raise c.fail("study.engines", "each engine at most once", list(engines))
    for key in ("max_train_samples", "max_eval_samples"):
        if key in st:
            c.at_least(f"study.{key}", st[key], 10)
    for key, value in (("study.seed", st.get("seed")), ("sklearn.random_state", sk.get("random_state"))):
        if value is not None and not 0 <= value <= MAX_SEED:
            raise c.fail(key, f"an integer in [0, {MAX_SEED}]", value)
    c.at_least("train.epochs", tr.get("epochs", 10))
    c.at_least("train.batch_size", tr.get("batch_size", 32))
    for key, top in (("train.epochs", 10_000), ("train.batch_size", 1_000_000)):
        value = tr.get(key.split(".")[1])
        if value is not None and value > top:
            raise c.fail(key, f"a value <= {top:,}", value)

    space = {n: _parse_param(c, n, sections["space"].get(n, default))
             for n, (_, default) in SPACE_PARAMS.items()}
    _check_space(c, space, dataset)

    for key in ("n_iter", "n_jobs"):
        if key in sk:
            c.at_least(f"sklearn.{key}", sk[key], -1 if key == "n_jobs" else 1)
    if sk.get("n_jobs") == 0:
        raise c.fail("sklearn.n_jobs", "a positive number of workers or -1", 0)
    if isinstance(sk.get("cv"), str):
        c.one_of("sklearn.cv", sk["cv"], ("validation",))
    elif "cv" in sk:
        c.at_least("sklearn.cv", sk["cv"], 2)
    if "patience" in sk:
        c.at_least("sklearn.patience", sk["patience"], 0)
    if "validation_fraction" in sk and not 0 < sk["validation_fraction"] < 1:
        raise c.fail("sklearn.validation_fraction", "a fraction in (0, 1)", sk["validation_fraction"])
    if "scoring" in sk:
        c.one_of("sklearn.scoring", sk["scoring"], SCORERS[task])

    if "algorithm" in kt:
        c.one_of("keras_tuner.algorithm", kt["algorithm"], ALGORITHMS)
    for key, low in (("max_trials", 1), ("max_epochs", 1), ("factor", 2), ("patience", 0)):
        if key in kt:
            c.at_least(f"keras_tuner.{key}", kt[key], low)
    if "objective" in kt:
        c.one_of("keras_tuner.objective", kt["objective"], OBJECTIVES[task])

    # The name becomes a directory: no separators, and no leading dot ('..' would escape).
    name = st.get("name") or re.sub(r"[^A-Za-z0-9_.-]", "_", Path(source).stem).strip("._") or "study"
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name):
        raise c.fail("study.name", "letters, digits, '_', '-' or '.' only", name)
    return Study(
        name=name, dataset=dataset, source=source, text=text, engines=engines,
        seed=st.get("seed", 42), data_dir=st.get("data_dir"),
        output_dir=st.get("output_dir", "results"),
        max_train_samples=st.get("max_train_samples"), max_eval_samples=st.get("max_eval_samples"),
        epochs=tr.get("epochs", 10), batch_size=tr.get("batch_size", 32), space=space,
        sklearn=SklearnSettings(**{k: float(v) if k == "validation_fraction" else v
                                   for k, v in sk.items()}),
        keras_tuner=TunerSettings(**kt),
    )


def load_study(path: str | Path) -> Study:
    """Read and validate a study file."""
    path = Path(path)
    return parse_study(read_text(path), str(path))
