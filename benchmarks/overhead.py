"""Overhead of one trial: each engine against a bare `model.fit` of the same model.

Every registered engine runs a study whose space is a single point (every parameter fixed),
so it trains exactly one model: the same `build_model` parameters, Fashion-MNIST subset,
epochs and batch size as the bare fit it is compared with; early stopping off (patience 0),
so both sides train every epoch. The bare side does what the engine needs for its score:

  - sklearn (cv = "validation"): `build_model` + `fit` on train, then `predict` on validation
    (scikit-learn scores the fitted model once, after the fit);
  - keras_tuner, optuna: `build_model` + `fit(..., validation_data=val)` (validation every epoch).

An engine's time is its `run(ctx)` from the call to the moment it reports the trial
(`ctx.on_trial`): everything the engine does for one trial (set-up of its search and state,
seeding and `clear_session`, the wrapper's input checks, the fit, its callbacks, its scoring,
its records and the fit store / tuner / Optuna storage writes). The run is then stopped: what
an engine does once after its last trial (sklearn's refit of the best on train + validation,
the tuners' rebuild of the best model as an estimator) is a once-per-search cost, not timed.
Each figure is the median of `--repeats` runs, bare and engine interleaved (alternating which
goes first) so that drift in the machine's speed hits both, after a warm-up run of every side
(imports, backend start-up, first compilations). Each side builds a new model, so each still
traces and compiles its train / test / predict steps; JAX reports that time (jax.monitoring)
and it is taken off both sides: the goal applies to the ratio without it. `set-up` is the
engine's time before it builds the trial's model (its search, storage and seeding).

    python benchmarks/overhead.py [--quick] [--json PATH] [--engines sklearn optuna] [--profile]
                                  [--train N --val N --epochs N --batch N --repeats N]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import functools
import gc
import io
import json
import math
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")  # the CLI's default backend
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

from machine import header_lines, machine_info  # noqa: E402

GOAL = 1.05  # engine / bare, per engine
# The single point every engine trains (a typical Fashion trial).
FIXED = {
    "n_hidden": 2,
    "n_neurons": 256,
    "activation": "relu",
    "optimizer": "adam",
    "learning_rate": 1e-3,
}
FULL = {"train": 20_000, "val": 5_000, "epochs": 10, "batch": 128, "repeats": 5}
QUICK = {"train": 5_000, "val": 2_000, "epochs": 3, "batch": 128, "repeats": 3}


class TrialReported(BaseException):
    """Raised from `ctx.on_trial` to stop an engine once its one trial is reported.

    A BaseException, so that no search library's `except Exception` swallows it."""


@dataclasses.dataclass
class Timed:
    seconds: float  # wall time
    epochs: int
    jit_seconds: float = math.nan  # JAX tracing + lowering + XLA compilation inside `seconds`
    compiles: int = -1  # XLA compilations inside `seconds`
    setup_seconds: float = 0.0  # until the trial's model is built (the engine's set-up)

    @property
    def without_jit(self) -> float:
        return self.seconds - self.jit_seconds


class JitClock:
    """JAX's own compile events (jax.monitoring), summed between `reset` and `read`: each new
    model traces and compiles its train / test / predict steps, a cost bare and engine share."""

    EVENTS = (
        "/jax/core/compile/jaxpr_trace_duration",
        "/jax/core/compile/jaxpr_to_mlir_module_duration",
        "/jax/core/compile/backend_compile_duration",
    )

    _clock: JitClock | None = None

    def __init__(self) -> None:
        self.seconds, self.compiles, self.active = 0.0, 0, False
        import keras

        if keras.backend.backend() == "jax":
            import jax

            jax.monitoring.register_event_duration_secs_listener(self._event)
            self.active = True

    @classmethod
    def get(cls) -> JitClock:
        """The process's one clock (JAX listeners cannot be removed, so register one)."""
        if cls._clock is None:
            cls._clock = cls()
        return cls._clock

    def _event(self, event: str, seconds: float, **_: Any) -> None:
        if event in self.EVENTS:
            self.seconds += seconds
            self.compiles += event == self.EVENTS[-1]

    def reset(self) -> None:
        self.seconds, self.compiles = 0.0, 0

    def read(self) -> tuple[float, int]:
        return (self.seconds, self.compiles) if self.active else (math.nan, -1)


def study_text(settings: dict[str, int]) -> str:
    """The single-point study: every engine trains one model, early stopping off."""
    space = "\n".join(f"{k} = {json.dumps(v)}" for k, v in FIXED.items())
    return f"""
[study]
name = "overhead"
dataset = "fashion_mnist"
engines = ["sklearn"]
seed = 42
max_train_samples = {settings["train"]}
max_eval_samples = {settings["val"]}

[train]
epochs = {settings["epochs"]}
batch_size = {settings["batch"]}

[space]
{space}

[sklearn]
n_iter = 1
cv = "validation"
patience = 0

[keras_tuner]
max_trials = 1
patience = 0

[optuna]
n_trials = 1
patience = 0
"""


def validates_each_epoch(name: str) -> bool:
    """Engines that select on a Keras validation metric fit with validation data each epoch;
    the sklearn engine scores the fitted model once, with scikit-learn."""
    from hpsearch import engines
    from hpsearch.engines.base import KerasObjectiveEngine

    return isinstance(engines.get(name), KerasObjectiveEngine)


def bare_fit(study: Any, data: Any, validate: bool) -> Timed:
    """The same model, data, epochs and batch in plain Keras, scored on validation."""
    import numpy as np

    from hpsearch.model.mlp import build_model

    start = time.perf_counter()
    model = build_model(**FIXED, n_features=data.n_features, n_classes=data.n_outputs)
    extra = {"validation_data": (data.x_val, data.y_val)} if validate else {}
    history = model.fit(
        data.x_train,
        data.y_train,
        epochs=study.epochs,
        batch_size=study.batch_size,
        verbose=0,
        **extra,
    )
    if not validate:  # what scikit-learn's scorer does after the fit
        predicted = np.argmax(model.predict(data.x_val, batch_size=study.batch_size, verbose=0), 1)
        float(np.mean(predicted == data.y_val))
    return Timed(time.perf_counter() - start, len(history.history["loss"]))


@contextlib.contextmanager
def builds(into: list[float]) -> Iterator[None]:
    """Note when `hpsearch.model.mlp.build_model` is called (engines import it inside `run`, so
    they get this wrapper; it adds one clock read per build)."""
    import hpsearch.model.mlp

    original = hpsearch.model.mlp.build_model

    @functools.wraps(original)
    def build_model(*args: Any, **kwargs: Any) -> Any:
        into.append(time.perf_counter())
        return original(*args, **kwargs)

    hpsearch.model.mlp.build_model = build_model
    try:
        yield
    finally:
        hpsearch.model.mlp.build_model = original


def engine_trial(name: str, study: Any, data: Any, workroot: Path) -> Timed:
    """The engine's run until it reports its one trial (see the module docstring)."""
    from hpsearch import engines
    from hpsearch.engines.base import EngineContext

    reported: list[tuple[float, Any]] = []
    built: list[float] = []

    def on_trial(record: Any) -> None:
        reported.append((time.perf_counter(), record))
        raise TrialReported

    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=workroot))  # fresh state each time
    ctx = EngineContext(name, study, data, workdir, on_trial, session="overhead")
    with builds(built):
        start = time.perf_counter()
        with contextlib.suppress(TrialReported):
            engines.get(name).run(ctx)
    if not reported or not built:
        raise RuntimeError(
            f"{name}: the engine returned without building a model and reporting a trial"
        )
    at, record = reported[0]
    if record.status != "ok":
        raise RuntimeError(f"{name}: the trial {record.status}: {record.error}")
    return Timed(at - start, int(record.epochs_run), setup_seconds=built[-1] - start)


def timed(fn: Callable[[], Timed], clock: JitClock) -> Timed:
    gc.collect()  # outside the timing, so a collection lands in neither side's figure
    clock.reset()
    result = fn()
    result.jit_seconds, result.compiles = clock.read()
    return result


def summary(name: str, bare: list[Timed], eng: list[Timed]) -> dict[str, Any]:
    """Medians per side and their ratios, for one engine."""

    def med(runs: list[Timed], what: Callable[[Timed], float]) -> float:
        return round(statistics.median(what(t) for t in runs), 3)

    wall, wall_e = med(bare, lambda t: t.seconds), med(eng, lambda t: t.seconds)
    net, net_e = med(bare, lambda t: t.without_jit), med(eng, lambda t: t.without_jit)
    ratio = net_e / net if math.isfinite(net) else wall_e / wall
    return {
        "bare": "fit + validation each epoch"
        if validates_each_epoch(name)
        else "fit, then predict validation",
        "runs": {
            side: [dataclasses.asdict(t) for t in runs]
            for side, runs in (("bare", bare), ("engine", eng))
        },
        "bare_seconds": wall,
        "engine_seconds": wall_e,
        "extra_seconds": round(wall_e - wall, 3),
        "ratio_wall": round(wall_e / wall, 3),
        "bare_seconds_without_jit": net,
        "engine_seconds_without_jit": net_e,
        "ratio": round(ratio, 3),
        "meets_goal": ratio <= GOAL,
        "engine_setup_seconds": med(eng, lambda t: t.setup_seconds),
        "compiles_bare": sorted({t.compiles for t in bare}),
        "compiles_engine": sorted({t.compiles for t in eng}),
        "epochs_bare": sorted({t.epochs for t in bare}),
        "epochs_engine": sorted({t.epochs for t in eng}),
    }


def measure(
    names: list[str],
    study: Any,
    data: Any,
    repeats: int,
    workroot: Path,
    log: Callable[[str], None],
) -> dict[str, dict[str, Any]]:
    """Warm up every side, then `repeats` interleaved (bare, engine) pairs per engine (the
    engines freeze the collector's view at their first fit themselves: common.seed_keras)."""
    clock = JitClock.get()
    sides = {
        n: {
            "bare": lambda n=n: bare_fit(study, data, validates_each_epoch(n)),
            "engine": lambda n=n: engine_trial(n, study, data, workroot),
        }
        for n in names
    }
    short = dataclasses.replace(study, epochs=1)
    for n in names:  # imports, backend start-up, first compilations: on neither side's clock
        bare_fit(short, data, validates_each_epoch(n))
        engine_trial(n, short, data, workroot)
    runs: dict[str, dict[str, list[Timed]]] = {n: {"bare": [], "engine": []} for n in names}
    for rep in range(repeats):
        for n in names:
            for side in ("bare", "engine") if rep % 2 == 0 else ("engine", "bare"):
                result = timed(sides[n][side], clock)
                runs[n][side].append(result)
                log(
                    f"  repeat {rep + 1}/{repeats} {n:12} {side:6} {result.seconds:6.2f} s, JIT "
                    f"{result.jit_seconds:5.2f} s ({result.compiles} compiles), {result.epochs} epochs"
                )
    return {n: summary(n, r["bare"], r["engine"]) for n, r in runs.items()}


def profile(name: str, study: Any, data: Any, workroot: Path, top: int = 20) -> str:
    """cProfile of one engine trial: the functions with the most time of their own (XLA
    compilation, gc.collect, SQLite, file writes stand out; cumulative times would list the
    Keras and JAX frames around them)."""
    profiler = cProfile.Profile()
    profiler.enable()
    engine_trial(name, study, data, workroot)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    return text.getvalue()


def report(settings: dict[str, int], results: dict[str, dict[str, Any]], backend: str) -> list[str]:
    model = f"784-{'-'.join([str(FIXED['n_neurons'])] * FIXED['n_hidden'])}-10"
    lines = [
        f"data:    fashion_mnist, {settings['train']:,} train / {settings['val']:,} validation "
        f"images; model {model} {FIXED['activation']} {FIXED['optimizer']} "
        f"lr {FIXED['learning_rate']:g}; {settings['epochs']} epochs, batch {settings['batch']}; "
        f"early stopping off; Keras backend {backend}",
        f"timing:  median of {settings['repeats']} runs per side, bare and engine interleaved, "
        "after a warm-up run of each",
        "",
        f"{'':12} {'--- wall time (s) ---':^29}  {'--- without JIT (s) ---':^24}",
        f"{'engine':12} {'bare':>7} {'engine':>7} {'extra':>6} {'ratio':>6}  {'bare':>7} "
        f"{'engine':>7} {'ratio':>7}  {'goal':>12}  {'set-up s':>8}  {'compiles':>8}  "
        f"{'epochs':>6}  bare side",
    ]
    for name, r in results.items():
        verdict = f"<= {GOAL:.2f} " + ("ok" if r["meets_goal"] else "MISSED")
        compiles = (
            f"{','.join(map(str, r['compiles_bare']))}/{','.join(map(str, r['compiles_engine']))}"
        )
        epochs = f"{','.join(map(str, r['epochs_bare']))}/{','.join(map(str, r['epochs_engine']))}"
        lines.append(
            f"{name:12} {r['bare_seconds']:7.2f} {r['engine_seconds']:7.2f} "
            f"{r['extra_seconds']:+6.2f} {r['ratio_wall']:6.3f}  "
            f"{r['bare_seconds_without_jit']:7.2f} {r['engine_seconds_without_jit']:7.2f} "
            f"{r['ratio']:7.3f}  {verdict:>12}  {r['engine_setup_seconds']:8.2f}  "
            f"{compiles:>8}  {epochs:>6}  {r['bare']}"
        )
    lines += [
        "",
        "engine: engine.run() from its call until it reports the trial (ctx.on_trial): set-up of "
        "its search and state,",
        "  seeding and clear_session, input checks, the fit and its callbacks, its scoring, its "
        "records and fit-store /",
        "  Keras Tuner / Optuna storage writes. Not timed: the work after the last trial (sklearn's "
        "refit of the best on",
        "  train + validation, the tuners' rebuild of the best model), once per search. No feature "
        "scaling (images).",
        "bare: build_model + model.fit (+ predict on validation for sklearn), nothing else.",
        "without JIT: minus JAX's tracing, lowering and XLA compilation (jax.monitoring events): "
        "every new model compiles",
        "  its train / test / predict steps, on both sides; the goal applies to this ratio. "
        "set-up s: the engine's time",
        "  before it builds the model (once per search). compiles and epochs: bare/engine.",
    ]
    return lines


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from hpsearch import engines

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK} (default {FULL})")
    parser.add_argument(
        "--engines", nargs="+", choices=engines.names(), default=list(engines.names())
    )
    for key in FULL:
        parser.add_argument(f"--{key}", type=int, help=f"override the {key} setting")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after timing, print a cProfile of one trial of each engine above the goal",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    settings = dict(QUICK if args.quick else FULL)
    settings.update({k: getattr(args, k) for k in FULL if getattr(args, k) is not None})

    import keras

    from hpsearch.data import load_dataset
    from hpsearch.study.config import parse_study

    info = machine_info()
    print(
        "\n".join(["overhead of one trial: each engine vs a bare model.fit", *header_lines(info)]),
        flush=True,
    )
    study = parse_study(study_text(settings), "<overhead benchmark>")
    data = dataclasses.replace(load_dataset(study), x_test=None, y_test=None)  # as engines get it
    with tempfile.TemporaryDirectory(prefix="hpsearch-overhead-") as tmp:
        results = measure(
            args.engines,
            study,
            data,
            settings["repeats"],
            Path(tmp),
            lambda line: print(line, flush=True),
        )
        lines = report(settings, results, keras.backend.backend())
        print("\n" + "\n".join(lines))
        profiles = {}
        for name in args.engines if args.profile else []:
            if not results[name]["meets_goal"]:
                profiles[name] = profile(name, study, data, Path(tmp))
                print(f"\ncProfile of one {name} trial (own time):\n{profiles[name]}")
    out = {
        "benchmark": "overhead",
        "machine": info,
        "settings": settings,
        "fixed_params": FIXED,
        "backend": keras.backend.backend(),
        "goal_ratio": GOAL,
        "engines": results,
        "profiles": profiles,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return out


if __name__ == "__main__":
    main()
