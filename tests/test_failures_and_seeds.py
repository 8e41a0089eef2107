"""Environment failures (out of memory, disk full) that a resume retrains instead of replaying
as failed trials, and the per-fit seeds that make the retrained fit the same fit."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hpsearch import engines as registry
from hpsearch.errors import HPSearchError
from hpsearch.run import opening, runner
from hpsearch.study.config import Study, parse_study

from test_engines import study_text, synthetic

# --- 5. an environment failure is not a failed trial: a resume retrains it -------------------

LR_SPACE = 'n_hidden = 1\nn_neurons = 8\noptimizer = "adam"\nlearning_rate = [0.001, 0.003, 0.01]'


def _study_on_synthetic(tmp_path: Path, engine: str, monkeypatch: pytest.MonkeyPatch) -> Study:
    """A 2-trial study of `engine` that the runner runs on synthetic California data."""
    data, test = synthetic("california_housing"), synthetic("california_housing", seed=5)
    full = dataclasses.replace(data, x_test=test.x_val, y_test=test.y_val)
    monkeypatch.setattr(opening, "load_dataset", lambda s: full)
    return parse_study(
        study_text("california_housing", (engine,), LR_SPACE, output_dir=tmp_path / "out")
    )


def _crash(study: Study, tmp_path: Path) -> Path:
    """Run until the injected MemoryError: the run stops as interrupted, trial 000 kept."""
    with pytest.raises(HPSearchError, match=r"the machine failed a fit \(MemoryError: injected"):
        runner.run_study(study)
    (run_dir,) = [p.parent for p in (tmp_path / "out").glob("*/*/run.json")]
    assert json.loads((run_dir / "status.json").read_text())["state"] == "interrupted"
    trials = pd.read_csv(run_dir / "trials.csv", dtype={"trial": str})
    assert trials["trial"].tolist() == ["000"] and (trials["status"] == "ok").all()
    return run_dir


def _resume(study: Study, run_dir: Path) -> None:
    """Resume (keeping the state to inspect): every trial once, all ok."""
    runner.run_study(study, resume=run_dir, keep_state=True)
    trials = pd.read_csv(run_dir / "trials.csv", dtype={"trial": str})
    assert trials["trial"].tolist() == ["000", "001"]
    assert (trials["status"] == "ok").all(), trials["error"].tolist()
    assert json.loads((run_dir / "status.json").read_text())["state"] == "finished"


def _read(paths: Any) -> dict[str, dict[str, Any]]:
    return {str(p): json.loads(p.read_text()) for p in paths}


def test_memory_error_in_a_sklearn_fit_is_retrained_on_resume(tmp_path, monkeypatch):
    from hpsearch.model import wrappers

    study = _study_on_synthetic(tmp_path, "sklearn", monkeypatch)
    victim = registry.get("sklearn").candidates(study)[1]["model__model__learning_rate"]
    fit, attempts = wrappers.KerasRegressor.fit, []

    def fit_or_run_out_of_memory(self, X, y, **kwargs):
        if self.get_params()["model__learning_rate"] == victim:
            attempts.append(len(X))
            if len(attempts) == 1:
                raise MemoryError("injected")
        return fit(self, X, y, **kwargs)

    monkeypatch.setattr(wrappers.KerasRegressor, "fit", fit_or_run_out_of_memory)
    run_dir = _crash(study, tmp_path)
    fits = run_dir / "state" / "sklearn" / "fits"
    before = _read(fits.glob("*/record.json"))
    assert len(before) == 1  # candidate 0 only: the victim's fit left no record, failed or not
    (first,) = before.values()
    assert first["status"] == "ok" and first["params"]["model__learning_rate"] != victim

    _resume(study, run_dir)
    after = _read(fits.glob("*/record.json"))
    assert {k: after[k] for k in before} == before  # candidate 0 was not trained again
    retried = [r for r in after.values() if r["params"]["model__learning_rate"] == victim]
    assert retried and all(r["status"] == "ok" for r in retried)
    assert all(r["session"] != first["session"] for r in retried)  # trained by the resume
    assert len(attempts) >= 2


def test_memory_error_in_a_keras_tuner_trial_is_retried_on_resume(tmp_path, monkeypatch):
    from keras_tuner.src.engine.tuner import Tuner

    study = _study_on_synthetic(tmp_path, "keras_tuner", monkeypatch)
    build_and_fit, attempts = Tuner._build_and_fit_model, []

    def fit_or_run_out_of_memory(self, trial, *args, **kwargs):
        if int(trial.trial_id) == 1:
            attempts.append(trial.trial_id)
            if len(attempts) == 1:
                raise MemoryError("injected")
        return build_and_fit(self, trial, *args, **kwargs)

    monkeypatch.setattr(Tuner, "_build_and_fit_model", fit_or_run_out_of_memory)
    run_dir = _crash(study, tmp_path)
    state = run_dir / "state" / "keras_tuner"
    before = _read((state / "records").glob("*.json"))
    assert len(before) == 1  # trial 0 only: the victim was not recorded
    trial_files = _read(state.glob("*/trial_*/trial.json")).values()
    oracle = {r["trial_id"]: r["status"] for r in trial_files}
    assert oracle == {"0": "COMPLETED", "1": "RUNNING"}  # unfinished, not FAILED / INVALID

    _resume(study, run_dir)
    after = _read((state / "records").glob("*.json"))
    assert {k: after[k] for k in before} == before  # trial 0 was not trained again
    (retried,) = [after[k] for k in after if k not in before]
    assert retried["session"] != next(iter(before.values()))["session"]
    assert len(attempts) == 2


def test_each_fit_is_seeded_from_the_study_seed_and_its_own_key():
    """Same seed and fit: the same weights, whatever ran before; another study seed or another
    fit (other data): other weights. So a resumed or parallel search retrains identically."""
    from hpsearch.engines.sklearn.fitcache import CheckpointedRegressor
    from hpsearch.model.mlp import build_model

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 3)).astype("float32"), rng.normal(size=64).astype("float32")

    def weights(seed: int, rows: slice = slice(None)) -> list:
        model = CheckpointedRegressor(
            model=build_model, model__n_neurons=4, epochs=1, verbose=0, seed=seed
        )
        return model.fit(X[rows], y[rows]).model_.get_weights()

    first = weights(1)
    weights(2)  # something else runs in between: it must not matter
    for a, b in zip(first, weights(1), strict=True):
        np.testing.assert_array_equal(a, b)
    assert any((a != b).any() for a, b in zip(first, weights(2), strict=True))
    assert any(
        (a != b).any()
        for a, b in zip(weights(1, slice(0, 32)), weights(1, slice(32, 64)), strict=True)
    )


def test_a_study_seed_of_0_draws_the_same_keras_tuner_trials_in_every_run(tmp_path, monkeypatch):
    """Keras Tuner reads a seed of 0 as none (`seed or random.randint(...)`): two runs of one
    study with `seed = 0` drew different trials until the engine mapped 0 to a seed of its own."""
    data, test = synthetic("california_housing"), synthetic("california_housing", seed=5)
    monkeypatch.setattr(
        opening,
        "load_dataset",
        lambda s: dataclasses.replace(data, x_test=test.x_val, y_test=test.y_val),
    )
    space = "n_hidden = 1\nn_neurons = 8\nlearning_rate = { low = 1e-4, high = 1e-1, log = true }"
    drawn = []
    for run in ("first", "second"):
        text = study_text(
            "california_housing", ("keras_tuner",), space, epochs=1, output_dir=tmp_path / run
        )
        runner.run_study(parse_study(text.replace("seed = 3", "seed = 0")))
        (trials,) = (tmp_path / run).glob("*/*/trials.csv")
        drawn.append(pd.read_csv(trials)["param_learning_rate"].tolist())
    assert len(drawn[0]) == 2 and drawn[0] == drawn[1]


def test_keras_tuner_gets_the_study_seed_and_for_0_one_that_bayesian_search_takes():
    """Every seed but 0 is passed as it is (earlier runs draw what they drew); 0's stand-in
    must still seed Bayesian optimization's numpy RandomState, built with the oracle."""
    import keras_tuner as kt

    from hpsearch.engines.keras_tuner.engine import oracle_seed

    assert oracle_seed(7) == 7 and oracle_seed(2**32 - 1) == 2**32 - 1
    oracle = kt.oracles.BayesianOptimizationOracle(
        objective="val_loss", max_trials=2, seed=oracle_seed(0)
    )
    assert oracle.seed == 2**32 - 1


# --- a stop request that a library turns into its own error --------------------------------


def test_a_stop_turned_into_another_error_leaves_the_run_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Optuna's _run_trial raises UnboundLocalError when SIGINT lands while it tells a trial:
    the run is still stopped as asked (interrupted, resumable), not failed."""
    from hpsearch.errors import Interrupted
    from hpsearch.runtime import interrupt

    study = _study_on_synthetic(tmp_path, "optuna", monkeypatch)

    def run(ctx: Any) -> None:
        interrupt._requested.set()  # the SIGINT handler's flag
        raise UnboundLocalError("cannot access local variable 'updated_state'")

    monkeypatch.setattr(registry.get("optuna"), "run", run)
    try:
        with pytest.raises(Interrupted, match="Resume with"):
            runner.run_study(study)
    finally:
        interrupt._requested.clear()
    (status,) = (tmp_path / "out").glob("*/*/status.json")
    assert json.loads(status.read_text())["state"] == "interrupted"
