"""The Optuna engine: its [optuna] section, in-process runs on synthetic data (reporting,
pruning, resume, environment failures), a missing Optuna, and one CLI run on real data."""

from __future__ import annotations

import functools
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from hpsearch.data import Dataset
from hpsearch.engines.base import EngineContext, EngineResult
from hpsearch.engines.common import EnvironmentFailure
from hpsearch.engines.optuna import engine as optuna_engine
from hpsearch.engines.optuna import trainer as optuna_trainer
from hpsearch.engines.optuna.shared import local_storage
from hpsearch.errors import StudyError
from hpsearch.study.config import Study, parse_study
from hpsearch.study.trials import TrialRecord

from conftest import run_cli, write_study
from test_engines import study_text, synthetic

CLASSIFY = 'n_hidden = 1\nn_neurons = [8, 16]\noptimizer = "adam"\nlearning_rate = [0.001, 0.01]'


def optuna_study(dataset: str, space: str, optuna: str, epochs: int = 2) -> Study:
    """A synthetic study running only the optuna engine, with `optuna` as its section body."""
    text = study_text(dataset, ("optuna",), space, epochs) + f"\n[optuna]\n{optuna}\n"
    return parse_study(text, "synthetic.toml")


def run_optuna(
    study: Study, data: Dataset, workdir: Path
) -> tuple[EngineResult, list[TrialRecord]]:
    reported: list[TrialRecord] = []
    ctx = EngineContext("optuna", study, data, workdir, reported.append, session="test")
    return optuna_engine.ENGINE.run(ctx), reported


# --- the [optuna] section --------------------------------------------------------------------


def test_defaults_and_one_line_errors_with_did_you_mean():
    study = optuna_study("fashion_mnist", CLASSIFY, "")
    assert study.settings["optuna"] == optuna_engine.OptunaSettings(10, "tpe", "median", "", 3, "")
    assert optuna_engine.ENGINE.metric(study) == ("val_accuracy", "maximize")
    assert optuna_engine.ENGINE.planned(study) == 10
    regression = optuna_study("california_housing", CLASSIFY, 'objective = "val_loss"')
    assert optuna_engine.ENGINE.metric(regression) == ("val_loss", "minimize")
    for section, key, hint in (
        ('sampler = "tpee"', "optuna.sampler", "'tpe'"),
        ('pruner = "medain"', "optuna.pruner", "'median'"),
        ('objective = "val_acuracy"', "optuna.objective", "'val_accuracy'"),
    ):
        with pytest.raises(StudyError) as err:
            optuna_study("fashion_mnist", CLASSIFY, section)
        message = str(err.value)
        assert "\n" not in message and key in message and f"did you mean {hint}?" in message, (
            message
        )
    with pytest.raises(StudyError, match="optuna.objective"):  # a classification objective
        optuna_study("california_housing", CLASSIFY, 'objective = "val_accuracy"')
    with pytest.raises(StudyError, match="optuna.n_trials"):
        optuna_study("fashion_mnist", CLASSIFY, "n_trials = 0")


# --- in-process runs on synthetic data -------------------------------------------------------


def test_every_trial_reported_once_and_the_best_model_predicts(tmp_path):
    study = optuna_study(
        "fashion_mnist", CLASSIFY, 'n_trials = 3\npruner = "none"\nsampler = "random"'
    )
    data = synthetic("fashion_mnist")
    result, reported = run_optuna(study, data, tmp_path / "state")
    assert [r.trial for r in reported] == ["000", "001", "002"]
    assert [r.trial for r in result.records] == ["000", "001", "002"]
    assert all(r.status == "ok" and 0 <= r.val_score <= 1 for r in result.records), result.records
    assert {(r.metric, r.direction) for r in result.records} == {("val_accuracy", "maximize")}
    assert all(r.epochs_run == 2 for r in result.records)
    assert all(
        r.params["n_hidden"] == 1 and r.params["n_neurons"] in (8, 16) for r in result.records
    )
    assert result.best.val_score == max(r.val_score for r in result.records)
    assert isinstance(result.model, Pipeline)
    predictions = result.model.predict(data.x_val)
    assert predictions.shape == data.y_val.shape
    # The rebuilt model carries the best trial's weights: its validation accuracy is the score.
    accuracy = float(np.mean(predictions == data.y_val))
    assert math.isclose(accuracy, result.best.val_score, abs_tol=1e-3), (accuracy, result.best)
    history = pd.DataFrame(result.histories)
    assert set(history["trial"]) == {"000", "001", "002"} and "val_accuracy" in set(
        history["metric"]
    )
    assert sorted(p.name for p in (tmp_path / "state" / "weights").iterdir()) == [
        f"{n}.weights.h5" for n in range(3)
    ]


def test_the_median_pruner_prunes_clearly_worse_trials(tmp_path, monkeypatch):
    """A learning rate of 1e-6 cannot fit the linear target while 0.05 can; after one
    complete trial (n_startup_trials = 1) the median pruner stops a trial whose epoch-1
    RMSE is worse than the median. Seeded (study seed 3): the random sampler draws 0.05 for
    trials 0-5 and 1e-6 for trials 6-7, so the bad ones come after good medians."""
    monkeypatch.setitem(optuna_engine.PRUNER_KWARGS, "median", {"n_startup_trials": 1})
    space = 'n_hidden = 1\nn_neurons = 16\noptimizer = "adam"\nlearning_rate = [1e-6, 0.05]'
    study = optuna_study(
        "california_housing", space, 'n_trials = 8\nsampler = "random"\npatience = 0', epochs=4
    )
    result, reported = run_optuna(study, synthetic("california_housing"), tmp_path / "state")
    assert len(reported) == 8 and [r.trial for r in reported] == [r.trial for r in result.records]
    pruned = [r for r in result.records if r.status == "pruned"]
    slow = [r for r in result.records if r.params["learning_rate"] == 1e-6]
    assert slow and all(r.status == "pruned" for r in slow), [
        (r.status, r.params, r.val_score) for r in result.records
    ]
    for r in pruned:
        assert r.epochs_run < 4 and r.error == f"pruned at epoch {int(r.epochs_run)}"
        assert not r.ok and math.isnan(r.val_score)
    assert result.best.status == "ok" and result.best.params["learning_rate"] == 0.05
    assert not (tmp_path / "state" / "weights" / f"{int(pruned[0].trial)}.weights.h5").exists()


def test_resume_reports_finished_trials_without_retraining_them(tmp_path, monkeypatch):
    data = synthetic("fashion_mnist")
    workdir = tmp_path / "state"
    seeded: list[str] = []
    seed = optuna_trainer.seed_keras
    monkeypatch.setattr(
        optuna_trainer, "seed_keras", lambda s, key: (seeded.append(key), seed(s, key))
    )
    first, _ = run_optuna(optuna_study("fashion_mnist", CLASSIFY, "n_trials = 2"), data, workdir)
    assert seeded == ["trial:0", "trial:1"]
    seeded.clear()
    result, reported = run_optuna(
        optuna_study("fashion_mnist", CLASSIFY, "n_trials = 4"), data, workdir
    )
    assert seeded == ["trial:2", "trial:3"]  # only the missing trials trained
    assert [r.trial for r in reported] == ["000", "001", "002", "003"]
    assert [r.trial for r in result.records] == ["000", "001", "002", "003"]
    assert result.records[:2] == first.records  # replayed as they were
    seeded.clear()
    again, reported = run_optuna(
        optuna_study("fashion_mnist", CLASSIFY, "n_trials = 4"), data, workdir
    )
    assert seeded == [] and len(reported) == 4 and again.best == result.best


def test_an_environment_failure_is_not_a_failed_trial_and_is_retrained(tmp_path, monkeypatch):
    """Out of memory in trial 1: the run stops with EnvironmentFailure, nothing is reported
    for that trial, and a resume trains it again and ends with n_trials finished trials, all ok."""
    data = synthetic("fashion_mnist")
    study = optuna_study("fashion_mnist", CLASSIFY, 'n_trials = 3\npruner = "none"')
    import keras

    fit = keras.Model.fit
    calls: list[int] = []

    def fit_or_run_out_of_memory(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise MemoryError("out of memory")
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", fit_or_run_out_of_memory)
    with pytest.raises(EnvironmentFailure):
        run_optuna(study, data, tmp_path / "state")
    import optuna

    cut = optuna.load_study(
        study_name="hpsearch", storage=local_storage(optuna, tmp_path / "state")
    )
    assert [t.state.name for t in cut.trials] == ["COMPLETE", "RUNNING"]  # not failed: resumable
    drawn = cut.trials[1].params
    result, reported = run_optuna(study, data, tmp_path / "state")
    assert len(result.records) == 3 and all(r.status == "ok" for r in result.records), (
        result.records
    )
    # the cut-off trial is trained again under its own number, with the parameters it drew
    assert [r.trial for r in result.records] == ["000", "001", "002"]
    assert {k: result.records[1].params[k] for k in drawn} == drawn


def test_nan_loss_is_a_failed_trial_and_the_study_goes_on(tmp_path, monkeypatch):
    """Trial 1's model starts with NaN weights (a stand-in for divergence): its loss is NaN,
    so that trial fails with the reason and the others go on."""
    import hpsearch.model.mlp

    build = hpsearch.model.mlp.build_model

    built: list[int] = []

    @functools.wraps(build)  # scikeras routes arguments by build_model's signature
    def build_poisoned(**kwargs: Any) -> Any:
        model = build(**kwargs)
        built.append(1)
        if len(built) == 2:
            kernel = model.layers[-1].kernel
            kernel.assign(np.full(kernel.shape, np.nan, dtype="float32"))
        return model

    monkeypatch.setattr(hpsearch.model.mlp, "build_model", build_poisoned)
    space = 'n_hidden = 1\nn_neurons = 8\noptimizer = "adam"\nlearning_rate = [0.002, 0.001]'
    study = optuna_study(
        "california_housing", space, 'n_trials = 4\npruner = "none"\nsampler = "random"'
    )
    result, reported = run_optuna(study, synthetic("california_housing"), tmp_path / "state")
    assert len(reported) == 4 and len(result.records) == 4
    assert [r.status for r in result.records] == ["ok", "failed", "ok", "ok"], result.records
    failed = result.records[1]
    assert failed.error.startswith("FloatingPointError: loss became nan"), failed.error
    assert math.isnan(failed.val_score) and result.best is not None and result.best.trial != "001"


def test_missing_optuna_is_one_line_with_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    study = optuna_study("fashion_mnist", CLASSIFY, "n_trials = 1")
    with pytest.raises(optuna_engine.OptunaMissing) as err:
        run_optuna(study, synthetic("fashion_mnist"), tmp_path / "state")
    assert err.value.exit_code == 2
    assert str(err.value) == 'the optuna engine needs Optuna: pip install "hpsearch[optuna]"'


def test_a_sampler_without_its_package_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "cmaes", None)
    study = optuna_study("fashion_mnist", CLASSIFY, 'n_trials = 1\nsampler = "cmaes"')
    with pytest.raises(optuna_engine.OptunaMissing) as err:
        run_optuna(study, synthetic("fashion_mnist"), tmp_path / "state")
    assert str(err.value) == 'the optuna sampler "cmaes" needs cmaes: pip install cmaes'
    assert not (tmp_path / "state").exists()  # refused before any study or training


def test_pruned_trials_are_not_counted_as_failed_in_status_json(tmp_path):
    import json

    from hpsearch.rundir.live import LiveRun

    live = LiveRun(tmp_path, {"study": "s"}, {"optuna": 3}, {"optuna": ("val_loss", "minimize")})
    common = dict(engine="optuna", params={}, metric="val_loss", direction="minimize")
    live.on_trial(TrialRecord(trial="000", status="ok", val_score=0.5, **common))
    live.on_trial(TrialRecord(trial="001", status="pruned", error="pruned at epoch 1", **common))
    live.on_trial(
        TrialRecord(trial="002", status="failed", error="FloatingPointError: x", **common)
    )
    engine = json.loads((tmp_path / "status.json").read_text())["engines"]["optuna"]
    assert (engine["trials_done"], engine["trials_failed"], engine["best_trial"]) == (3, 1, "000")


# --- one CLI run on real data ----------------------------------------------------------------


@pytest.mark.data
def test_cli_run_on_california_housing(tmp_path):
    study = write_study(
        tmp_path,
        "california_housing",
        ["optuna"],
        replace={
            "max_train_samples = 2000": "max_train_samples = 600",
            "[keras_tuner]": "[optuna]\nn_trials = 2\npatience = 1\n\n[keras_tuner]",
        },
    )
    proc = run_cli(
        "run", str(study), "--output-dir", str(tmp_path / "out"), "--quiet", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    trials = pd.read_csv(run_dir / "trials.csv", dtype={"trial": str})
    assert list(trials["trial"]) == ["000", "001"] and (trials["engine"] == "optuna").all()
    assert (trials["metric"] == "val_root_mean_squared_error").all()
    summary = pd.read_csv(run_dir / "summary.csv").set_index("engine")
    assert summary.loc["optuna", "test_rmse"] < 1.5 and summary.loc["optuna", "test_r2"] > 0, (
        summary
    )
    assert (run_dir / "best" / "optuna.pkl").stat().st_size > 0
    assert not (run_dir / "state").exists()


def test_a_trial_cut_off_between_its_draws_draws_as_the_uninterrupted_run(tmp_path):
    """The run's sampler is kept after each trial's draws. Killed after trial 2 drew its first
    parameter but before it was kept, the resumed process draws trial 2 again from the state
    before it: the value it had, then what the uninterrupted run drew; trial 3 follows suit."""
    import optuna

    from hpsearch.engines.optuna.draws import Draws

    names = ["a", "b", "c"]

    def suggest(trial: Any) -> dict[str, Any]:
        return {n: trial.suggest_float(n, 1e-4, 1.0, log=True) for n in names}

    def session(workdir: Path, storage: str) -> tuple[Draws, Any]:
        draws = Draws(workdir, keep=True, make=optuna.samplers.TPESampler, seed=7, fresh_seed=8)
        return draws, optuna.create_study(
            study_name="s", storage=storage, load_if_exists=True, sampler=draws.sampler
        )

    def trial_params(draws: Draws, ostudy: Any, trial: Any) -> dict[str, Any]:
        params = draws.draw(trial, ostudy, names, suggest)
        ostudy.tell(trial, params["a"])
        return params

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    draws, ostudy = session(tmp_path / "ref", "sqlite:///" + str(tmp_path / "ref.db"))
    reference = [trial_params(draws, ostudy, ostudy.ask()) for _ in range(4)]
    assert len({p["a"] for p in reference}) == 4

    storage = "sqlite:///" + str(tmp_path / "cut.db")
    draws, ostudy = session(tmp_path / "cut", storage)
    assert [trial_params(draws, ostudy, ostudy.ask()) for _ in range(2)] == reference[:2]
    cut = ostudy.ask()
    cut.suggest_float("a", 1e-4, 1.0, log=True)  # killed here: its draws not kept
    draws, ostudy = session(tmp_path / "cut", storage)  # the resumed process
    assert draws.last == 1
    again = trial_params(draws, ostudy, optuna.trial.Trial(ostudy, cut._trial_id))
    assert again == reference[2]
    assert trial_params(draws, ostudy, ostudy.ask()) == reference[3]


def test_a_runs_own_study_is_a_journal_that_a_kill_leaves_readable(tmp_path):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    state = tmp_path / "state"
    study = optuna.create_study(study_name="hpsearch", storage=local_storage(optuna, state))
    for value in (0.5, 0.25):
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        study.tell(trial, value)
    journal = state / "optuna.log"
    # what a kill -9 in mid-write leaves: half a record, and the writer's lock
    journal.write_bytes(journal.read_bytes() + b'{"op_code":5,"worker_id":"w","tri')
    (state / "optuna.log.lock").symlink_to(journal)
    again = optuna.load_study(study_name="hpsearch", storage=local_storage(optuna, state))
    trial = again.ask()  # a write: no wait for the lock, no "Invalid log format" after it
    again.tell(trial, 0.125)
    values = [t.value for t in optuna.load_study(
        study_name="hpsearch", storage=local_storage(optuna, state)).trials]  # fmt: skip
    assert values == [0.5, 0.25, 0.125]


def test_a_run_begun_in_sqlite_goes_on_in_it(tmp_path):
    import optuna

    (tmp_path / "optuna.db").touch()
    assert local_storage(optuna, tmp_path) == f"sqlite:///{tmp_path / 'optuna.db'}"
