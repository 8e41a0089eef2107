"""Real `python -m hpsearch run` on small subsets of both datasets, both engines."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from hpsearch.study.trials import COLUMNS

from conftest import run_cli, write_study

pytestmark = pytest.mark.data


def _run_dir(proc) -> Path:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Path(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One real run per dataset, each with both engines (2 trials each)."""
    found = {}
    for dataset in ("fashion_mnist", "california_housing"):
        tmp = tmp_path_factory.mktemp(dataset)
        study = write_study(tmp, dataset, ["sklearn", "keras_tuner"], n=2, name=dataset)
        found[dataset] = (
            study,
            _run_dir(run_cli("run", str(study), "--output-dir", str(tmp / "out"), cwd=tmp)),
        )
    return found


@pytest.mark.parametrize("dataset", ["fashion_mnist", "california_housing"])
def test_run_writes_every_report(runs, dataset):
    study, run_dir = runs[dataset]
    assert run_dir.parent.name == dataset and run_dir.parent.parent.name == "out"
    for name in (
        "trials.csv",
        "summary.csv",
        "histories.csv",
        "study.toml",
        "run.json",
        "report.html",
        "status.json",
        "best/sklearn.pkl",
        "best/keras_tuner.keras",
    ):
        assert (run_dir / name).is_file(), name
    assert not (run_dir / "state").exists()  # a finished run drops its fit store
    assert (run_dir / "study.toml").read_text() == study.read_text()
    info = json.loads((run_dir / "run.json").read_text())
    assert info["seed"] == 7 and info["dataset"] == dataset
    assert info["versions"]["keras_backend"] == "jax" and "scikeras" in info["versions"]
    expected = {"fashion_mnist": (1500, 400), "california_housing": (2000, 500)}[dataset]
    assert (info["sizes"]["train"], info["sizes"]["val"], info["sizes"]["test"]) == (
        expected[0],
        expected[1],
        expected[1],
    )


@pytest.mark.parametrize("dataset", ["fashion_mnist", "california_housing"])
def test_trials_table(runs, dataset):
    _, run_dir = runs[dataset]
    trials = pd.read_csv(run_dir / "trials.csv", dtype={"trial": str})
    assert list(trials.columns[: len(COLUMNS)]) == COLUMNS
    assert trials.groupby("engine").size().to_dict() == {"keras_tuner": 2, "sklearn": 2}
    assert (trials["status"] == "ok").all(), trials["error"].tolist()
    epochs = 2 if dataset == "fashion_mnist" else 3
    assert trials["epochs_run"].between(1, epochs).all()
    assert (trials["fit_seconds"] > 0).all()
    assert trials["started_at"].notna().all()
    assert trials["param_n_neurons"].between(16, 64).all()
    sk = trials[trials.engine == "sklearn"]
    if dataset == "fashion_mnist":  # cv = 2 folds: a CV mean and spread
        assert sk["cv_std"].notna().all() and (sk["n_fits"] == 2).all()
    else:  # the fixed validation split: no CV spread
        assert sk["cv_std"].isna().all() and (sk["n_fits"] == 1).all()


def test_classification_scores_are_sane(runs):
    _, run_dir = runs["fashion_mnist"]
    summary = pd.read_csv(run_dir / "summary.csv")
    assert summary["engine"].tolist() == ["sklearn", "keras_tuner"]
    # 1,500 images, 2 epochs: far above chance (0.1), below perfect
    assert summary["test_accuracy"].between(0.5, 0.99).all(), summary["test_accuracy"]
    assert summary.loc[summary.engine == "sklearn", "metric"].item() == "accuracy"
    assert (summary["direction"] == "maximize").all()
    trials = pd.read_csv(run_dir / "trials.csv", dtype={"trial": str})
    assert set(trials["trial"]) == {"000", "001"}  # one id form across engines
    kt = trials.loc[trials.engine == "keras_tuner", "val_score"]
    assert all(len(repr(v)) <= 9 for v in kt), kt.tolist()  # Keras's float32: no 0.8880000114440918
    for engine, row in summary.set_index("engine").iterrows():
        assert row["best_val_score"] == trials[trials.engine == engine]["val_score"].max()


def test_regression_scores_are_sane(runs):
    _, run_dir = runs["california_housing"]
    summary = pd.read_csv(run_dir / "summary.csv").set_index("engine")
    # predicting the mean gives RMSE ~1.15 and R² 0; a 3-epoch MLP does clearly better
    assert (summary["test_rmse"] < 1.0).all() and (summary["test_rmse"] > 0.3).all()
    assert (summary["test_r2"] > 0.2).all()
    # Both engines report RMSE as a positive error, lower is better, in one column.
    assert summary.loc["sklearn", "metric"] == "root_mean_squared_error"
    assert summary.loc["keras_tuner", "metric"] == "val_root_mean_squared_error"
    assert (summary["direction"] == "minimize").all()
    assert summary["best_val_score"].between(0.3, 1.2).all()
    trials = pd.read_csv(run_dir / "trials.csv")
    assert (trials["direction"] == "minimize").all() and (trials["val_score"] > 0).all()
    for engine in ("sklearn", "keras_tuner"):  # lower is better here
        assert (
            summary.loc[engine, "best_val_score"]
            == trials[trials.engine == engine]["val_score"].min()
        )


def test_histories_have_every_trial_and_epoch(runs):
    _, run_dir = runs["california_housing"]
    hist = pd.read_csv(run_dir / "histories.csv", dtype={"trial": str, "fit": str})
    trials = pd.read_csv(run_dir / "trials.csv", dtype={"trial": str})
    for _, t in trials.iterrows():
        mine = hist[(hist.engine == t.engine) & (hist.trial == t.trial) & (hist.fit != "refit")]
        assert mine[mine.metric == "loss"]["epoch"].max() == t.epochs_run
    assert {"loss", "val_loss"} <= set(hist.metric)
    assert (hist.fit == "refit").any()  # the sklearn engine's final refit is recorded too


def test_compare_puts_runs_side_by_side(runs, tmp_path):
    dirs = [str(runs[d][1]) for d in ("fashion_mnist", "california_housing")]
    out = tmp_path / "cmp.csv"
    proc = run_cli("compare", *dirs, "--output", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out)
    assert len(table) == 4 and table["run"].nunique() == 2
    assert {"test_accuracy", "test_rmse", "engine", "best_val_score"} <= set(table.columns)
    assert "keras_tuner" in proc.stdout
    html = out.with_suffix(".html").read_text()
    assert html.count("data:image/png;base64,") >= 3 and all(d.split("/")[-1] in html for d in dirs)


def test_report_is_regenerated_from_the_csvs_alone(runs, tmp_path):
    import shutil

    _, run_dir = runs["california_housing"]
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("state", "report.html"))
    proc = run_cli("report", str(copy), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = (copy / "report.html").read_text()
    for section in ("best", "progress", "parameters", "curves", "trials"):
        assert f'id="{section}"' in text
