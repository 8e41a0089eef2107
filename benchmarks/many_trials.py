"""hpsearch's own cost per trial, over thousands of trials of a tiny model.

Each engine runs one study of `--trials` trials through `hpsearch.search` (the whole runner:
live files, status, the engine's own state), on a small table (scikit-learn's diabetes data,
442 rows, 10 features) with a tiny MLP (1 hidden layer of 4-16 units) for `--epochs` epochs.
Keras's own work is timed where it happens: the model factory (build and compile) and
`keras.Model.fit` / `evaluate` / `predict` (JAX's tracing and compilation happen inside them,
and so do the callbacks hpsearch or the engine give `fit`). A trial's own time is the wall time
from the previous trial's report (the runner's `on_trial`) to its own, minus the Keras time in
between: the engine's search step, seeding, the wrapper's checks, scoring, records, the live
files and the engine's storage. The first trial (imports, set-up) is left out.

    python benchmarks/many_trials.py [--trials 2000] [--epochs 1] [--engines sklearn optuna]
                                     [--json PATH]

`--engines sklearn-fixed`: the sklearn engine with one candidate a batch all along (its batches
grow late in a run of short trials, see UniqueRandomizedSearchCV.grow), to compare in one run.
Trials reported together (a batch) share their span evenly.

Goal: median own time <= 25 ms a trial, and the last 10% of trials' median own time at most
1.2x the first 10%'s (flat: no cost that grows with the run).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")  # the command line's default backend
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

from machine import header_lines, machine_info  # noqa: E402

MEDIAN_GOAL = 0.025  # seconds of hpsearch's own time per trial
FLAT_GOAL = 1.2  # last 10% / first 10%, medians
SPACE = {
    "n_hidden": 1,
    "n_neurons": {"low": 4, "high": 16},
    "activation": "relu",
    "optimizer": "adam",
    "learning_rate": {"low": 1e-3, "high": 1e-1, "log": True},
    "dropout": 0.0,
}
ENGINE_SETTINGS = {
    "sklearn": {"cv": "validation"},
    "keras_tuner": {"algorithm": "random"},
    "optuna": {"sampler": "random", "pruner": "none"},
}


FIXED = "sklearn-fixed"  # --engines: sklearn with batches that never grow


class Clock:
    """Seconds spent inside Keras, and the moment each trial was reported."""

    def __init__(self) -> None:
        self.keras = 0.0
        self.depth = 0  # fit calls evaluate/predict-like steps: count the outermost call only
        self.reports: list[tuple[float, float]] = []  # (wall, keras seconds so far)

    def timed(self, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if self.depth:
                return method(*args, **kwargs)
            self.depth += 1
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.keras += time.perf_counter() - start
                self.depth -= 1

        return wrapper

    def report(self) -> None:
        self.reports.append((time.perf_counter(), self.keras))


@contextlib.contextmanager
def instrumented(clock: Clock) -> Iterator[None]:
    """Time Keras's build, fit, evaluate and predict, and every trial's report."""
    import keras

    from hpsearch.model import mlp
    from hpsearch.rundir.live import LiveRun

    saved = []

    def patch(owner: Any, name: str, new: Any) -> None:
        saved.append((owner, name, owner.__dict__.get(name)))  # None: inherited
        setattr(owner, name, new)

    for name in ("fit", "evaluate", "predict"):  # defined by the backend's trainer class
        patch(keras.Model, name, clock.timed(getattr(keras.Model, name)))
    # the MLP factory, looked up through its module wherever hpsearch builds a model
    patch(mlp, "build_model", clock.timed(mlp.build_model))
    on_trial = LiveRun.on_trial

    def reported(self: LiveRun, record: Any) -> None:
        on_trial(self, record)
        clock.report()

    patch(LiveRun, "on_trial", reported)
    try:
        yield
    finally:
        for owner, name, value in reversed(saved):
            if value is None:
                delattr(owner, name)
            else:
                setattr(owner, name, value)


def per_trial(reports: list[tuple[float, float]]) -> tuple[list[float], list[float]]:
    """Own and wall seconds of each trial after the first, from (wall, Keras seconds so far) at
    each report. Reports with no Keras time between them came together (a batch of the sklearn
    engine): they share their span evenly, or a batch's cost would fall on its first trial and
    the others would read as free."""
    own: list[float] = []
    walls: list[float] = []
    i = 1
    while i < len(reports):
        j = i
        while j + 1 < len(reports) and reports[j + 1][1] == reports[j][1]:
            j += 1
        (t0, k0), (t1, k1), n = reports[i - 1], reports[j], j - i + 1
        own += [((t1 - t0) - (k1 - k0)) / n] * n
        walls += [(t1 - t0) / n] * n
        i = j + 1
    return own, walls


def run_engine(engine: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    import pandas as pd
    from sklearn.datasets import load_diabetes

    import hpsearch
    from hpsearch.engines.sklearn.fitcache import UniqueRandomizedSearchCV

    frame = load_diabetes(as_frame=True).frame
    frame["target"] = frame["target"] / 100.0
    clock = Clock()
    # "sklearn-fixed": one candidate a batch all along, as before batches grew (a comparison)
    name, grow = (engine, UniqueRandomizedSearchCV.grow)
    if engine == FIXED:
        name, UniqueRandomizedSearchCV.grow = "sklearn", 0
    start = time.perf_counter()
    try:
        with instrumented(clock):
            result = hpsearch.search(
                frame,
                "target",
                name=f"many-{engine}",
                output_dir=str(out),
                engines=[name],
                n_trials=args.trials,
                seed=args.seed,
                epochs=args.epochs,
                batch_size=512,
                space=SPACE,
                **{name: {**ENGINE_SETTINGS[name], "patience": 0}},
            )
    finally:
        UniqueRandomizedSearchCV.grow = grow
    wall = time.perf_counter() - start
    trials = pd.read_csv(result.run_dir / "trials.csv")
    own, walls = per_trial(clock.reports)
    tenth = max(1, len(own) // 10)
    first, last = statistics.median(own[:tenth]), statistics.median(own[-tenth:])
    return {
        "engine": engine,
        "trials": len(trials),
        "failed": int((trials["status"] != "ok").sum()),
        "wall_s": round(wall, 1),
        "keras_s": round(clock.keras, 1),
        "trial_wall_median_ms": round(1000 * statistics.median(walls), 1),
        "own_median_ms": round(1000 * statistics.median(own), 2),
        "own_p95_ms": round(1000 * sorted(own)[int(0.95 * (len(own) - 1))], 2),
        "own_first10_ms": round(1000 * first, 2),
        "own_last10_ms": round(1000 * last, 2),
        "flat_ratio": round(last / first, 3),
        "own": [round(x, 5) for x in own],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engines", nargs="+", default=["sklearn", "keras_tuner", "optuna"])
    parser.add_argument("--no-speed", action="store_true", help="skip the machine's speed")
    parser.add_argument("--json", type=Path, help="write the figures (and every trial's own time)")
    args = parser.parse_args(argv)

    info = machine_info(measure_speed=not args.no_speed)
    print("many trials: hpsearch's own time per trial (wall minus Keras's build/fit/evaluate)")
    for line in header_lines(info):
        print(line)
    print(
        f"study:   diabetes (442 rows, 10 features), {args.trials} trials an engine, "
        f"{args.epochs} epoch(s), batch 512, 1 hidden layer of 4-16 units, seed {args.seed}"
    )
    print(f"goal:    median own time <= {MEDIAN_GOAL * 1000:.0f} ms; last/first 10% <= {FLAT_GOAL}")
    print()
    rows = []
    with tempfile.TemporaryDirectory(prefix="hpsearch-many-") as tmp:
        for engine in args.engines:
            rows.append(run_engine(engine, args, Path(tmp)))
            row = rows[-1]
            print(f"  {engine}: {row['trials']} trials in {row['wall_s']} s", flush=True)
    print()
    header = (
        f"{'engine':<12} {'trials':>6} {'failed':>6} {'trial ms':>9} {'own p50':>8} "
        f"{'own p95':>8} {'first10%':>9} {'last10%':>8} {'ratio':>6}  goal"
    )
    print(header)
    for r in rows:
        met = r["own_median_ms"] <= MEDIAN_GOAL * 1000 and r["flat_ratio"] <= FLAT_GOAL
        print(
            f"{r['engine']:<12} {r['trials']:>6} {r['failed']:>6} {r['trial_wall_median_ms']:>9} "
            f"{r['own_median_ms']:>8} {r['own_p95_ms']:>8} {r['own_first10_ms']:>9} "
            f"{r['own_last10_ms']:>8} {r['flat_ratio']:>6}  {'met' if met else 'MISSED'}"
        )
    print(
        "\ntrial ms: median wall time between two trials' reports; own: that minus the time "
        "inside Keras\n(build and compile, fit with its callbacks, evaluate, predict); "
        "ms, median (p50) and 95th percentile;\nfirst/last 10%: medians of the first and last "
        "tenth of the trials; ratio: last / first."
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": info, "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
