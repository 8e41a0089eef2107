"""Study files: parse TOML, validate everything up front, return a frozen `Study`.

Every problem becomes one `StudyError` naming the file, the key (and its line when
we can find it), what was expected and what was found.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpsearch import registry
from hpsearch.errors import Found, StudyError
from hpsearch.study import data_section
from hpsearch.study import factory as factories
from hpsearch.study.data_section import DataSpec
from hpsearch.study.schema import Checker, is_type, type_name

# name -> (task, n_features, n_outputs); shapes let us refuse absurd models before any data loads.
DATASETS: dict[str, tuple[str, int, int]] = {
    "fashion_mnist": ("classification", 784, 10),
    "california_housing": ("regression", 8, 1),
}
OPTIMIZERS = ("sgd", "adam", "rmsprop", "nadam", "adamw")
ACTIVATIONS = ("relu", "selu", "elu", "gelu", "swish", "tanh", "sigmoid", "leaky_relu")
MAX_SEED = 2**32 - 1  # numpy's seeding range
# Beyond these a typo (n_neurons = 10**9) would try to allocate terabytes.
ENCODINGS = ("standard", "piecewise_linear", "none")
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


Param = Fixed | Choice | IntRange | FloatRange
# Space parameter -> (type of one value, default when the study leaves it out).
SPACE_PARAMS: dict[str, tuple[type, Any]] = {
    "n_hidden": (int, 2),
    "n_neurons": (int, 100),
    "activation": (str, "relu"),
    "optimizer": (str, "adam"),
    "learning_rate": (float, 1e-3),
    # Optional: absent from a study's space (and its records) unless the study names them.
    "dropout": (float, None),  # rate after each hidden layer; build_model's default is 0
    "batch_size": (int, None),  # unnamed: [train] batch_size
}
# Space parameters of training (given to fit), not of build_model.
TRAINING_PARAMS = ("batch_size",)


def split_params(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A trial's parameters as (build_model keyword arguments, fit keyword arguments)."""
    build = {k: v for k, v in params.items() if k not in TRAINING_PARAMS}
    return build, {k: v for k, v in params.items() if k in TRAINING_PARAMS}


@dataclass(frozen=True)
class Study:
    name: str
    dataset: str
    source: str
    text: str
    engines: tuple[str, ...] = field(default_factory=registry.defaults)
    seed: int = 42
    data_dir: str | None = None
    output_dir: str = "results"
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    epochs: int = 10
    batch_size: int = 32
    # How features reach the model: "standard" (scaled), "piecewise_linear" (scaled, then
    # `bins` quantile bins per feature: encoding.py) or "none"; "" = the task's default.
    encoding: str = ""
    bins: int = 32
    space: dict[str, Param] = field(default_factory=dict)
    # [model]: the study's own model factory ("package.module:function"; "" = hpsearch's MLP)
    # and the absolute folder put on sys.path to import it (None: none)
    factory: str = ""
    factory_path: str | None = None
    # engine name -> its settings (every registered engine, defaults where the file is silent)
    settings: dict[str, Any] = field(default_factory=dict)
    # engine name -> settings given on the command line over the file's (--chief, --scheduler,
    # --storage): kept in run.json, so that resume and workers see the same study
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    # `[data]`: the study's own file (then `dataset` is that file's name), else None
    data: DataSpec | None = None
    # `[track]`: tracker -> where ("mlflow": a tracking URI, "tensorboard": a log folder)
    track: dict[str, str] = field(default_factory=dict)

    @property
    def task(self) -> str:
        return self.data.task if self.data else DATASETS[self.dataset][0]


TRACK_WHERE = {"mlflow": "a tracking URI", "tensorboard": "a log folder"}
SCHEMA: dict[str, dict[str, Any]] = {
    "study": {
        "name": str,
        "dataset": str,
        "engines": list,
        "seed": int,
        "data_dir": str,
        "output_dir": str,
        "max_train_samples": int,
        "max_eval_samples": int,
    },
    "train": {"epochs": int, "batch_size": int, "encoding": str, "bins": int},
    "space": {k: object for k in SPACE_PARAMS},
    "model": {"factory": str, "path": str},
    "data": data_section.SCHEMA,
    "track": {"mlflow": str, "tensorboard": str},  # where runs are tracked too
}


def _parse_param(c: Checker, name: str, raw: Any, kind: type | None = None) -> Param:
    """One [space] value; `kind`: the type of its values (default: SPACE_PARAMS's)."""
    key = f"space.{name}"
    kind = kind or SPACE_PARAMS[name][0]
    if isinstance(raw, list):
        if not raw:
            raise c.fail(key, "a non-empty list of choices", raw)
        for v in raw:
            if not is_type(v, kind):
                raise c.fail(key, f"a list of {type_name(kind)} values", raw)
        return Choice(tuple(float(v) if kind is float else v for v in raw))
    if isinstance(raw, dict):
        if kind in (str, bool):
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
    if not is_type(raw, kind):
        raise c.fail(key, f"{type_name(kind)}, a list of choices, or a {{low, high}} range", raw)
    return Fixed(float(raw) if kind is float else raw)


def _values(param: Param) -> list[Any]:
    """The extreme values a parameter can take (for bounds checks)."""
    if isinstance(param, Fixed):
        return [param.value]
    if isinstance(param, Choice):
        return list(param.values)
    return [param.low, param.high]


def _check_space(c: Checker, space: dict[str, Param], dataset: str | None) -> None:
    for name, bounds in (("n_hidden", (0, MAX_HIDDEN)), ("n_neurons", (1, MAX_NEURONS))):
        for v in _values(space[name]):
            if not bounds[0] <= v <= bounds[1]:
                raise c.fail(f"space.{name}", f"values in [{bounds[0]}, {bounds[1]}]", v)
    for v in _values(space["learning_rate"]):
        if not 0 < v < 10:  # 10 is already absurd; above it is surely a typo
            raise c.fail("space.learning_rate", "values in (0, 10)", v)
    for name, low, high, expected in (
        ("dropout", 0, 1, "values in [0, 1)"),
        ("batch_size", 1, 1_000_000, "values in [1, 1,000,000]"),
    ):
        for v in _values(space[name]) if name in space else []:
            if not (low <= v < high if name == "dropout" else low <= v <= high):
                raise c.fail(f"space.{name}", expected, v)
    for v in _values(space["optimizer"]):
        c.one_of("space.optimizer", v, OPTIMIZERS)
    for v in _values(space["activation"]):
        c.one_of("space.activation", v, ACTIVATIONS)
    if dataset is None:  # a file's width is known once it loads
        return
    _, n_in, n_out = DATASETS[dataset]
    hidden, neurons = max(_values(space["n_hidden"])), max(_values(space["n_neurons"]))
    n_params = (
        n_in * neurons + max(hidden - 1, 0) * neurons * neurons + neurons * n_out
        if hidden
        else n_in * n_out
    )
    if n_params > MAX_PARAMETERS:
        raise c.fail(
            "space.n_neurons",
            f"a model under {MAX_PARAMETERS:,} parameters",
            Found(f"up to {n_params:,} parameters with n_hidden={hidden}, n_neurons={neurons}"),
        )


def _factory_space(c: Checker, factory: factories.Factory, raw: dict[str, Any]) -> dict[str, Param]:
    """A factory's [space]: its keyword parameters (and the training ones), each value's type
    read from the TOML value (`factories.value_kind`); only the keys given (the factory's own
    defaults fill in the rest)."""
    takes = (*factory.parameters, *TRAINING_PARAMS)
    space: dict[str, Param] = {}
    for name, value in raw.items():
        if name not in takes and not (factory.any_keyword and name not in factories.CONTEXT):
            raise c.fail(
                f"space.{name}",
                f"a parameter of {factory.spec} ({', '.join(takes)})",
                Found(f"an unknown key {name!r}"),
            )
        kind = SPACE_PARAMS[name][0] if name in TRAINING_PARAMS else None
        space[name] = _parse_param(
            c, name, value, kind or factories.value_kind(c, f"space.{name}", value)
        )
    for v in _values(space["batch_size"]) if "batch_size" in space else []:
        if not 1 <= v <= 1_000_000:
            raise c.fail("space.batch_size", "values in [1, 1,000,000]", v)
    return space


def read_text(path: Path) -> str:
    source = str(path)
    if path.is_dir():
        raise StudyError(source, None, "a study file", Found("a directory"))
    try:
        return path.read_text(encoding="utf-8-sig")  # a BOM is not an error
    except FileNotFoundError:
        raise StudyError(source, None, "an existing study file", Found("no such file")) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StudyError(
            source, None, "a readable UTF-8 file", Found(f"{exc.__class__.__name__}: {exc}")
        ) from None


def parse_study(
    text: str, source: str = "<study>", overrides: dict[str, dict[str, Any]] | None = None
) -> Study:
    """Parse and validate a study from TOML text; raise StudyError on the first problem.

    `overrides` (engine -> settings) replace the file's engine settings and are checked as
    if the file had them."""
    c = Checker(source, text)
    if not text.strip():
        raise StudyError(source, None, "a TOML study with a [study] table", Found("an empty file"))
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"at line (\d+)", str(exc))
        raise StudyError(
            source, None, "valid TOML", Found(str(exc)), int(line.group(1)) if line else None
        ) from None
    registered = registry.names()
    c.table("", doc, {name: dict for name in (*SCHEMA, *registered)})
    model = c.table("model", doc.get("model", {}), SCHEMA["model"])
    factory = factories.resolve(c, model) if model else None
    sections = {
        name: c.table(name, doc.get(name, {}), SCHEMA[name])
        for name in SCHEMA
        if name != "space" or factory is None  # a factory's space: _factory_space
    }
    st, tr = sections["study"], sections["train"]
    for key, value in sections["track"].items():
        if not value.strip():
            raise c.fail(f"track.{key}", TRACK_WHERE[key], value)

    data = None
    if "data" in doc:
        if "dataset" in st:
            raise c.fail(
                "study.dataset",
                "either study.dataset or a [data] table, not both",
                Found(f"dataset = {st['dataset']!r} and [data]"),
            )
        if "data_dir" in st:
            raise c.fail(
                "study.data_dir", "no data_dir with [data] (its paths are its own)", st["data_dir"]
            )
        data = data_section.parse_data(c, sections["data"])
        dataset = data.name
    elif "dataset" not in st:
        raise c.fail(
            "study.dataset", f"one of {', '.join(DATASETS)}, or a [data] table", Found("nothing")
        )
    else:
        dataset = c.one_of("study.dataset", st["dataset"], tuple(DATASETS))
    chosen = tuple(st.get("engines", registry.defaults()))
    if not chosen:
        raise c.fail("study.engines", f"a non-empty list of {', '.join(registered)}", [])
    for e in chosen:
        c.one_of("study.engines", e, registered)
    if len(set(chosen)) != len(chosen):
        raise c.fail("study.engines", "each engine at most once", list(chosen))
    for key in ("max_train_samples", "max_eval_samples"):
        if key in st:
            c.at_least(f"study.{key}", st[key], 10)
    if not 0 <= st.get("seed", 0) <= MAX_SEED:
        raise c.fail("study.seed", f"an integer in [0, {MAX_SEED}]", st["seed"])
    c.at_least("train.epochs", tr.get("epochs", 10))
    c.at_least("train.batch_size", tr.get("batch_size", 32))
    if "encoding" in tr:
        c.one_of("train.encoding", tr["encoding"], ENCODINGS)
    if "bins" in tr:
        c.at_least("train.bins", tr["bins"], 2)
    for key, top in (
        ("train.epochs", 10_000),
        ("train.batch_size", 1_000_000),
        ("train.bins", 1024),
    ):
        value = tr.get(key.split(".")[1])
        if value is not None and value > top:
            raise c.fail(key, f"a value <= {top:,}", value)

    if factory is None:
        space = {
            n: _parse_param(c, n, sections["space"].get(n, default))
            for n, (_, default) in SPACE_PARAMS.items()
            if n in sections["space"] or default is not None
        }
        _check_space(c, space, None if data else dataset)
    else:
        raw_space = doc.get("space", {})
        if not isinstance(raw_space, dict):
            raise c.fail("space", "a table", raw_space)
        space = _factory_space(c, factory, raw_space)
    overrides = {k: dict(v) for k, v in (overrides or {}).items() if v}

    # The name becomes a directory: no separators, and no leading dot ('..' would escape).
    name = (
        st.get("name") or re.sub(r"[^A-Za-z0-9_.-]", "_", Path(source).stem).strip("._") or "study"
    )
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name):
        raise c.fail("study.name", "letters, digits, '_', '-' or '.' only", name)
    study = Study(
        name=name,
        dataset=dataset,
        source=source,
        text=text,
        engines=chosen,
        seed=st.get("seed", 42),
        data_dir=st.get("data_dir"),
        output_dir=st.get("output_dir", "results"),
        max_train_samples=st.get("max_train_samples"),
        max_eval_samples=st.get("max_eval_samples"),
        epochs=tr.get("epochs", 10),
        batch_size=tr.get("batch_size", 32),
        space=space,
        encoding=tr.get("encoding", ""),
        bins=tr.get("bins", 32),
        overrides=overrides,
        factory=factory.spec if factory else "",
        factory_path=factory.path if factory else None,
        data=data,
        track=dict(sections["track"]),
    )
    # Each engine checks its own section against the study validated so far (also for
    # engines this study does not run: a typo there is still a typo).
    settings = {}
    for engine_name in registered:
        engine = registry.get(engine_name)
        raw = c.table(
            engine_name,
            {**doc.get(engine_name, {}), **overrides.get(engine_name, {})},
            engine.schema,
        )
        settings[engine_name] = engine.parse(c, raw, study)
    return dataclasses.replace(study, settings=settings)


def merge_overrides(*layers: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Engine-setting overrides, later layers winning key by key."""
    merged: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for engine, values in (layer or {}).items():
            merged.setdefault(engine, {}).update(values)
    return merged


def load_study(path: str | Path, overrides: dict[str, dict[str, Any]] | None = None) -> Study:
    """Read and validate a study file (with command-line `overrides` of engine settings)."""
    path = Path(path)
    return parse_study(read_text(path), str(path), overrides)
