"""The engines behind the seam: in-process runs on synthetic data, early stopping, the test
set held back, Hyperband / n_jobs = 2 / integer cv / TensorFlow end to end (environment failures and
per-fit seeds: test_failures_and_seeds.py)."""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from hpsearch import engines as registry
from hpsearch.data import Dataset
from hpsearch.engines.base import EngineContext, EngineResult
from hpsearch.run import opening, runner
from hpsearch.study.config import Study, parse_study
from hpsearch.study.trials import TrialRecord

from conftest import run_cli, write_study

ENGINES = ("sklearn", "keras_tuner")
# sklearn's metric and direction; Keras Tuner's metric is the same with "val_" before it.
METRICS = {
    "california_housing": ("root_mean_squared_error", "minimize"),
    "fashion_mnist": ("accuracy", "maximize"),
}


# --- synthetic data and studies --------------------------------------------------------------


def synthetic(dataset: str, n: int = 300, noise: bool = False, seed: int = 0) -> Dataset:
    """Train / validation arrays shaped like `dataset` (no test set: engines never get one).

    Regression: 8 features, a linear target (or pure noise); classification: 6 features,
    labels 0..9 from a random linear map (every class present).
    """
    rng = np.random.default_rng(seed)
    if dataset == "california_housing":
        x = rng.normal(size=(n, 8)).astype(np.float32)
        y = (rng.normal(size=n) if noise else x @ rng.normal(size=8)).astype(np.float32)
    else:
        x = rng.normal(size=(n, 6)).astype(np.float32)
        y = np.argmax(x @ rng.normal(size=(6, 10)), axis=1)
        y[:10] = np.arange(10)  # every label at least once in training
    task = "regression" if dataset == "california_housing" else "classification"
    cut = n * 3 // 4
    return Dataset(dataset, task, x[:cut], y[:cut], x[cut:], y[cut:], None, None, "synthetic")


def study_text(
    dataset: str,
    engines: tuple[str, ...],
    space: str,
    epochs: int = 2,
    patience: int = 0,
    output_dir: Path | str = "results",
) -> str:
    """A 2-trial study; `patience` for both engines (Keras Tuner's default 3 when 0)."""
    return f"""
[study]
name = "synthetic"
dataset = "{dataset}"
engines = {json.dumps(list(engines))}
seed = 3
output_dir = "{output_dir}"

[train]
epochs = {epochs}
batch_size = 32

[space]
{space}

[sklearn]
n_iter = 2
cv = "validation"
patience = {patience}
n_jobs = 1  # fits in this process: tests spy on it and patch it

[keras_tuner]
max_trials = 2
patience = {patience or 3}
"""


def run_engine(
    name: str, study: Study, data: Dataset, workdir: Path
) -> tuple[EngineResult, list[TrialRecord]]:
    """Run one engine in this process; return its result and every on_trial call, in order."""
    reported: list[TrialRecord] = []
    ctx = EngineContext(name, study, data, workdir, reported.append, session="test")
    return registry.get(name).run(ctx), reported


# --- 1. in-process engine runs on synthetic data, 2. early stopping -------------------------

EPOCHS = {"california_housing": 30, "fashion_mnist": 2}
# Regression: a large net on a pure-noise target, patience 1: validation loss must stop
# improving long before 30 epochs. Classification: 2 epochs, no early stopping in sklearn.
SPACES = {
    "california_housing": 'n_hidden = 2\nn_neurons = [128, 256]\noptimizer = "adam"\n'
    "learning_rate = [0.01, 0.02]",
    "fashion_mnist": 'n_hidden = 1\nn_neurons = [8, 16]\noptimizer = "adam"\n'
    "learning_rate = [0.001, 0.01]",
}


@pytest.fixture(scope="module")
def engine_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """(engine, dataset) -> (study, data, result, on_trial calls), each run once per module."""
    cache: dict[tuple[str, str], tuple[Study, Dataset, EngineResult, list[TrialRecord]]] = {}

    def get(engine: str, dataset: str) -> tuple[Study, Dataset, EngineResult, list[TrialRecord]]:
        if (engine, dataset) not in cache:
            regression = dataset == "california_housing"
            data = synthetic(dataset, noise=regression)
            study = parse_study(
                study_text(
                    dataset,
                    (engine,),
                    SPACES[dataset],
                    EPOCHS[dataset],
                    patience=1 if regression else 0,
                )
            )
            workdir = tmp_path_factory.mktemp(f"{engine}-{dataset}")
            cache[engine, dataset] = (study, data, *run_engine(engine, study, data, workdir))
        return cache[engine, dataset]

    return get


@pytest.mark.parametrize("dataset", ["california_housing", "fashion_mnist"])
@pytest.mark.parametrize("engine", ENGINES)
def test_engine_reports_every_trial_and_returns_a_fitted_pipeline(engine_run, engine, dataset):
    study, data, result, reported = engine_run(engine, dataset)
    assert data.x_test is None and data.y_test is None
    regression = dataset == "california_housing"
    assert (data.n_features, data.n_outputs) == ((8, 1) if regression else (6, 10))
    assert regression or set(np.unique(data.y_train)) == set(range(10))
    assert registry.get(engine).planned(study) == 2

    ids = [r.trial for r in reported]
    assert Counter(ids) == {"000": 1, "001": 1}, ids  # every trial, each exactly once

    def seen(records: list[TrialRecord]) -> dict[str, tuple]:
        return {r.trial: (r.status, r.params, r.val_score, r.epochs_run) for r in records}

    assert seen(result.records) == seen(reported)  # the final records are those reported live
    metric, direction = METRICS[dataset]
    metric = metric if engine == "sklearn" else f"val_{metric}"
    assert registry.get(engine).metric(study) == (metric, direction)
    for record in result.records:
        assert record.engine == engine and record.status == "ok", record.error
        assert (record.metric, record.direction) == (metric, direction)
        assert 1 <= record.epochs_run <= EPOCHS[dataset]
        if direction == "minimize":
            assert 0 < record.val_score < 10  # an RMSE in its natural (positive) sign
        else:
            assert 0 <= record.val_score <= 1
    scores = [r.val_score for r in result.records]
    assert result.best is not None
    assert result.best.val_score == (min(scores) if direction == "minimize" else max(scores))

    model = result.model
    assert isinstance(model, Pipeline)
    assert [name for name, _ in model.steps] == (["scale", "model"] if regression else ["model"])
    new_rows = synthetic(dataset, n=40, seed=99).x_train
    predicted = model.predict(new_rows)
    assert len(predicted) == len(new_rows)
    if regression:
        assert np.isfinite(predicted).all()
    else:
        assert set(np.unique(predicted)) <= set(range(10))
        assert model.predict_proba(new_rows).shape == (len(new_rows), 10)


@pytest.mark.parametrize("engine", ENGINES)
def test_early_stopping_stops_before_epochs(engine_run, engine):
    """The regression runs above: pure noise, epochs = 30, patience = 1."""
    study, _, result, _ = engine_run(engine, "california_housing")
    assert study.epochs == 30 and study.settings[engine].patience == 1
    assert len(result.records) == 2
    for record in result.records:
        assert record.status == "ok", record.error
        assert 1 <= record.epochs_run < study.epochs, record


# --- 3. the test set stays unused until the engines are done --------------------------------


class Spy:
    """Stands in for a test array: forwards every use to it and logs the use in `events`."""

    def __init__(self, array: np.ndarray, name: str, events: list[tuple[str, ...]]) -> None:
        self._array, self._name, self._events = array, name, events

    def _use(self, how: str) -> None:
        self._events.append(("use", self._name, how))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        self._use("__array__")
        return np.array(self._array, dtype=dtype, copy=True)

    def __len__(self) -> int:
        self._use("len")
        return len(self._array)

    def __getitem__(self, item: Any) -> Any:
        self._use("getitem")
        return self._array[item]

    def __getattr__(self, name: str) -> Any:  # shape, dtype, ...: anything else
        self._use(name)
        return getattr(self._array, name)


def _run_dir(proc: Any) -> Path:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Path(proc.stdout.strip().splitlines()[-1])


# The small California study, smaller still: 600 rows, 2 epochs, a rate that learns in them.
SUBSET = {
    "max_train_samples = 2000": "max_train_samples = 600",
    "max_eval_samples = 500": "max_eval_samples = 200",
    "epochs = 3": "epochs = 2",
    "batch_size = 64": "batch_size = 32",
    "low = 2e-3, high = 1e-2": "low = 1e-2, high = 3e-2",
}


def cv3(n_jobs: int, tuner: str) -> dict[str, str]:
    """SUBSET with cv = 3 and `n_jobs` workers for sklearn, `tuner` settings for Keras Tuner."""
    return {
        **SUBSET,
        'cv = "validation"': f"cv = 3\nn_jobs = {n_jobs}",
        'algorithm = "bayesian"': tuner,
    }


@pytest.fixture(scope="module")
def spied_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """California (cv = 3, n_jobs = 1, both engines) run in this process, its test set spied
    and each engine's `run` wrapped to log when it starts and returns, and what data it got."""
    from hpsearch.data import load_dataset
    from hpsearch.study.config import load_study

    tmp = tmp_path_factory.mktemp("spied")
    study = load_study(
        write_study(
            tmp, "california_housing", list(ENGINES), n=1, replace=cv3(1, 'algorithm = "random"')
        )
    )
    real = load_dataset(study)
    events: list[tuple[str, ...]] = []
    seen: dict[str, Dataset] = {}
    spied = dataclasses.replace(
        real, x_test=Spy(real.x_test, "x_test", events), y_test=Spy(real.y_test, "y_test", events)
    )

    def wrap(name: str, run: Any) -> Any:
        def logged(ctx: EngineContext) -> EngineResult:
            seen[name] = ctx.data
            events.append(("start", name))
            try:
                return run(ctx)
            finally:
                events.append(("end", name))

        return logged

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(opening, "load_dataset", lambda s: spied)
        for name in ENGINES:
            engine = registry.get(name)
            mp.setattr(engine, "run", wrap(name, engine.run))
        run_dir = runner.run_study(study, output_dir=str(tmp / "out"))
    return {"run_dir": run_dir, "events": events, "seen": seen, "real": real}


@pytest.mark.data
def test_test_set_is_untouched_until_each_engine_is_done(spied_run):
    events, seen, real = spied_run["events"], spied_run["seen"], spied_run["real"]
    assert [e for e in events if e[0] != "use"] == [
        ("start", "sklearn"),
        ("end", "sklearn"),
        ("start", "keras_tuner"),
        ("end", "keras_tuner"),
    ]
    for name in ENGINES:  # the engines were handed no test set at all
        assert seen[name].x_test is None and seen[name].y_test is None
        assert np.array_equal(seen[name].x_train, real.x_train)
    running: set[str] = set()
    used_after: dict[str, set[str]] = {}
    for event in events:
        kind, what = event[0], event[1]
        if kind == "start":
            running.add(what)
        elif kind == "end":
            running.discard(what)
            used_after[what] = set()
        else:
            assert not running, f"{what} used ({event[2]}) while {running} ran"
            for done in used_after:
                used_after[done].add(what)
    # The spy sees the test scoring: both arrays used after each engine returned...
    assert used_after == {"sklearn": {"x_test", "y_test"}, "keras_tuner": {"x_test", "y_test"}}
    # ... and the test scores in summary.csv are those of the saved best models on the test set.
    run_dir = spied_run["run_dir"]
    summary = pd.read_csv(run_dir / "summary.csv").set_index("engine")
    for name in ENGINES:
        model = pickle.loads((run_dir / "best" / f"{name}.pkl").read_bytes())
        predicted = model.predict(real.x_test).astype(np.float64)
        rmse = math.sqrt(np.mean((real.y_test - predicted) ** 2))
        assert summary.loc[name, "test_rmse"] == pytest.approx(rmse, rel=1e-6)
        assert 0.3 < summary.loc[name, "test_rmse"] < 1.3  # predicting the mean gives ~1.15


# --- 4. Hyperband, n_jobs = 2, integer cv, the TensorFlow backend: end to end ----------------


@pytest.fixture(scope="module")
def parallel_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The spied study through the CLI, with n_jobs = 2 and Keras Tuner's Hyperband."""
    tmp = tmp_path_factory.mktemp("parallel")
    hyperband = 'algorithm = "hyperband"\nmax_epochs = 3\nfactor = 3'
    study = write_study(tmp, "california_housing", list(ENGINES), n=1, replace=cv3(2, hyperband))
    # A tight timeout: the run takes ~20 s here; a process that skipped its exit order once
    # waited 300 s for loky's idle workers before exiting (python -m hpsearch's os._exit)
    return _run_dir(
        run_cli(
            "run", str(study), "--output-dir", str(tmp / "out"), "--quiet", cwd=tmp, timeout=240
        )
    )


@pytest.mark.data
def test_integer_cv_for_regression_reports_every_fold(spied_run, parallel_run):
    for run_dir in (spied_run["run_dir"], parallel_run):
        trials = pd.read_csv(run_dir / "trials.csv", dtype={"trial": str})
        sk = trials[trials.engine == "sklearn"]
        assert len(sk) == 1 and (sk["status"] == "ok").all(), sk["error"].tolist()
        assert (sk["n_fits"] == 3).all()
        assert sk["cv_std"].notna().all() and (sk["cv_std"] >= 0).all()
        assert (sk["cv_mean"] == sk["val_score"]).all()
        hist = pd.read_csv(run_dir / "histories.csv", dtype={"trial": str, "fit": str})
        folds = hist[(hist.engine == "sklearn") & (hist.metric == "loss")]
        assert set(folds["fit"]) == {"0", "1", "2", "refit"}


@pytest.mark.data
def test_n_jobs_2_gives_the_scores_of_n_jobs_1(spied_run, parallel_run):
    one = pd.read_csv(spied_run["run_dir"] / "trials.csv", dtype={"trial": str})
    two = pd.read_csv(parallel_run / "trials.csv", dtype={"trial": str})
    one, two = (t[t.engine == "sklearn"].set_index("trial") for t in (one, two))
    params = [c for c in one.columns if c.startswith("param_")]
    pd.testing.assert_frame_equal(one[params], two[params])
    for column in ("val_score", "cv_std", "epochs_run"):
        assert one[column].tolist() == two[column].tolist(), column


@pytest.mark.data
def test_hyperband_runs_end_to_end(parallel_run):
    trials = pd.read_csv(parallel_run / "trials.csv", dtype={"trial": str}).fillna({"error": ""})
    kt = trials[trials.engine == "keras_tuner"]
    # max_epochs 3, factor 3: brackets of 3 trials (1 epoch, best goes on to 3) and 2 trials
    assert len(kt) >= 4 and kt["trial"].is_unique
    assert kt["status"].isin(["ok", "failed"]).all()
    assert (kt.loc[kt.status == "failed", "error"] != "").all()
    ok = kt[kt.status == "ok"]
    assert len(ok) >= 1 and ok["epochs_run"].between(1, 3).all()
    assert (ok["val_score"] > 0).all()
    status = json.loads((parallel_run / "status.json").read_text())
    assert status["state"] == "finished"
    assert status["engines"]["keras_tuner"]["trials_planned"] is None  # Hyperband: not known ahead
    summary = pd.read_csv(parallel_run / "summary.csv").set_index("engine")
    assert summary.loc["keras_tuner", "best_val_score"] == ok["val_score"].min()
    for name in ENGINES:
        for suffix in (".pkl", ".keras"):
            assert (parallel_run / "best" / f"{name}{suffix}").stat().st_size > 0
    assert 0.3 < summary.loc["keras_tuner", "test_rmse"] < 1.3
    assert not (parallel_run / "state").exists()


@pytest.mark.data
def test_tensorflow_backend_runs_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    study = write_study(tmp_path, "california_housing", list(ENGINES), n=1, replace=SUBSET)
    run_dir = _run_dir(
        run_cli("run", str(study), "--output-dir", str(tmp_path / "out"), "--quiet", cwd=tmp_path)
    )
    versions = json.loads((run_dir / "run.json").read_text())["versions"]
    assert versions["keras_backend"] == "tensorflow"
    assert versions["backend_version"] == versions["tensorflow"]
    trials = pd.read_csv(run_dir / "trials.csv")
    assert len(trials) == 2 and (trials["status"] == "ok").all(), trials["error"].tolist()
    summary = pd.read_csv(run_dir / "summary.csv").set_index("engine")
    assert (summary["test_rmse"].between(0.3, 1.3)).all(), summary["test_rmse"]
    assert (summary["test_r2"] > 0).all(), summary["test_r2"]
    for name in ENGINES:
        for suffix in (".pkl", ".keras"):
            assert (run_dir / "best" / f"{name}{suffix}").stat().st_size > 0
