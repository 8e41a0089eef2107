"""Keras Tuner's Hyperband end to end: every trial recorded once with the epochs it trained,
continuations (a trial that goes on from an earlier one's weights) included, and a kill -9
mid-study resumed to the same study. Real runs on small subsets (max_epochs 3, factor 3:
3 trials of 1 epoch, the best continued to 3, then 2 trials of 3 epochs)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from test_durability import _kill_after, _last_dir, _sessions

from conftest import run_cli, write_study

pytestmark = pytest.mark.data

HYPERBAND = {
    "fashion_mnist": {
        "max_trials = 2": 'algorithm = "hyperband"\nmax_epochs = 3\nfactor = 3',
        "patience = 1": "patience = 0",
    },  # no early stop: exact epoch counts
    "california_housing": {
        'algorithm = "bayesian"\nmax_trials = 2': 'algorithm = "hyperband"\nmax_epochs = 3\nfactor = 3'
    },
}


def _hyperband_run(tmp: Path, dataset: str) -> Path:
    study = write_study(tmp, dataset, ["keras_tuner"], replace=HYPERBAND[dataset])
    return _last_dir(
        run_cli(
            "run", str(study), "--output-dir", str(tmp / "out"), "--quiet", "--keep-state", cwd=tmp
        )
    )


@pytest.fixture(scope="module")
def fashion_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted Fashion study: checked here, and the reference of the resume test."""
    return _hyperband_run(tmp_path_factory.mktemp("hyperband"), "fashion_mnist")


def _oracle_trials(run_dir: Path) -> dict[str, dict]:
    """Keras Tuner's own trials (trial.json) by hpsearch's id: '0003' -> '003'."""
    project = run_dir / "state" / "keras_tuner" / "keras_tuner"
    trials = (json.loads(p.read_text()) for p in project.glob("trial_*/trial.json"))
    return {f"{int(t['trial_id']):03d}": t for t in trials}


def check_every_trial_once(run_dir: Path) -> pd.DataFrame:
    """trials.csv holds each of Keras Tuner's trials once, ok, with the epochs it trained
    itself (a continuation: its own, from tuner/initial_epoch on); histories.csv numbers them."""
    trials = pd.read_csv(run_dir / "trials.csv", dtype={"trial": str}).fillna({"error": ""})
    oracle = _oracle_trials(run_dir)
    assert trials["trial"].tolist() == sorted(oracle)  # each once, in the order they started
    assert (trials["status"] == "ok").all(), trials["error"].tolist()
    hist = pd.read_csv(run_dir / "histories.csv", dtype={"trial": str})
    continued = 0
    for row in trials.itertuples():
        values = oracle[row.trial]["hyperparameters"]["values"]
        assert oracle[row.trial]["status"] == "COMPLETED"
        first, last = values["tuner/initial_epoch"], values["tuner/epochs"]
        continued += "tuner/trial_id" in values
        assert row.epochs_run == last - first, row.trial
        epochs = hist.loc[(hist.trial == row.trial) & (hist.metric == "loss"), "epoch"]
        assert epochs.tolist() == list(range(first + 1, last + 1)), row.trial
    assert continued >= 1  # the 1-epoch bracket sent its best trial on
    summary = pd.read_csv(run_dir / "summary.csv")
    assert summary["epochs_run_total"].item() == trials["epochs_run"].sum()
    assert summary["n_trials"].item() == len(trials) and summary["n_failed"].item() == 0
    status = json.loads((run_dir / "status.json").read_text())
    engine = status["engines"]["keras_tuner"]
    assert status["state"] == "finished" and engine["trials_done"] == len(trials)
    assert engine["trials_planned"] is None  # Hyperband's count is not known ahead
    return trials


def test_fashion_hyperband_records_every_trial_once(fashion_run: Path) -> None:
    trials = check_every_trial_once(fashion_run)
    assert len(trials) == 6  # brackets of 3 + 1 continuation, and of 2
    assert (trials["val_score"].between(0.3, 1.0)).all()  # accuracy, 10 classes
    assert (fashion_run / "best" / "keras_tuner.keras").stat().st_size > 0


def test_california_hyperband_runs(tmp_path: Path) -> None:
    run_dir = _hyperband_run(tmp_path, "california_housing")
    trials = check_every_trial_once(run_dir)
    assert (trials["metric"] == "val_root_mean_squared_error").all()
    summary = pd.read_csv(run_dir / "summary.csv")
    assert summary["best_val_score"].item() == trials["val_score"].min()  # an RMSE: lowest
    assert 0.3 < summary["test_rmse"].item() < 1.3  # predicting the mean gives ~1.15


def test_kill_9_mid_hyperband_then_resume(tmp_path: Path, fashion_run: Path) -> None:
    """Killed once 3 trials are in the tables (the continuation of the best one is next) and
    resumed: nothing finished is trained again or lost, no trial twice, the same study."""
    study = write_study(
        tmp_path, "fashion_mnist", ["keras_tuner"], replace=HYPERBAND["fashion_mnist"]
    )
    out = tmp_path / "out"
    run_dir, _ = _kill_after(
        ["run", str(study), "--output-dir", str(out)], tmp_path, out, "keras_tuner", 3
    )
    before = _sessions(run_dir, "keras_tuner")
    assert len(before) >= 3 and len(set(before.values())) == 1
    assert not (run_dir / "summary.csv").exists()  # killed mid-engine
    assert _last_dir(run_cli("resume", str(run_dir), "--keep-state", cwd=tmp_path)) == run_dir
    after = _sessions(run_dir, "keras_tuner")
    for key, session in before.items():  # finished trials reused, not trained again
        assert after[key] == session, key
    assert len(after) == 6 and len(set(after.values())) == 2
    trials = check_every_trial_once(run_dir)
    # The same trials and scores as the run never interrupted (JAX on CPU: to the last digit).
    reference = pd.read_csv(fashion_run / "trials.csv", dtype={"trial": str})
    columns = [
        "trial",
        *[c for c in trials.columns if c.startswith("param_")],
        "val_score",
        "epochs_run",
    ]
    pd.testing.assert_frame_equal(trials[columns], reference[columns])
    assert len(json.loads((run_dir / "run.json").read_text())["resumed_at"]) == 1
