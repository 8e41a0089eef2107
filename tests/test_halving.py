"""Successive halving in the sklearn engine ([sklearn] search = "halving"): rungs, pruned
records and their rung history, each rung's fits at its epochs, live reports, the last-rung
model, trials.csv round trip; real CLI runs on both datasets and kill -9 then resume."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_durability import _kill_after, _last_dir, _sessions

from hpsearch import engines
from hpsearch.engines.sklearn.fitstore import FitStore
from hpsearch.engines.sklearn.halving import rung_epochs
from hpsearch.study.config import parse_study
from hpsearch.study.trials import COLUMNS, TrialRecord, read_trials, trials_dataframe

from conftest import run_cli, write_study
from test_engines import run_engine, study_text, synthetic

SK = engines.get("sklearn")
SPACE = (
    'n_hidden = 1\nn_neurons = [8, 16, 32]\noptimizer = "adam"\n'
    "learning_rate = { low = 1e-3, high = 3e-2, log = true }"
)
HALVING = 'search = "halving"\nn_candidates = {n}\nmin_resources = 1\nfactor = {factor}'


def halving_text(
    dataset: str, n: int = 6, factor: int = 3, epochs: int = 3, cv: str = '"validation"'
) -> str:
    text = study_text(dataset, ("sklearn",), SPACE, epochs=epochs)
    return text.replace("n_iter = 2", HALVING.format(n=n, factor=factor)).replace(
        'cv = "validation"', f"cv = {cv}"
    )


def scores(record: TrialRecord) -> list[float]:
    """The score at each rung, from the record's rung history."""
    return [float(part.split(":")[1]) for part in record.rungs.split()]


def same_rows(a: list[TrialRecord], b: list[TrialRecord]) -> bool:
    """The same trials.csv rows (NaN equal to NaN, unlike dataclass equality)."""
    return trials_dataframe(a).equals(trials_dataframe(b))


@pytest.fixture(scope="module")
def halving_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, ...]:
    """6 candidates, factor 3, rungs at 1 and 3 epochs (3 x 3 > 4 = [train] epochs, at
    which the best is refit), on the fixed validation split: run once."""
    study = parse_study(halving_text("fashion_mnist", epochs=4))
    data = synthetic("fashion_mnist")
    workdir = tmp_path_factory.mktemp("halving")
    return (study, data, workdir, *run_engine("sklearn", study, data, workdir))


def test_rungs_follow_n_candidates_and_factor(halving_run):
    study, _, _, result, reported = halving_run
    records = result.records
    assert [r.trial for r in records] == ["000", "001", "002", "003", "004", "005"]
    assert SK.planned(study) == 6
    # the random search's draws: the same seed gives the same candidates, in the same order
    random_study = parse_study(
        study_text("fashion_mnist", ("sklearn",), SPACE).replace("n_iter = 2", "n_iter = 6")
    )
    drawn = [{k.split("__")[-1]: v for k, v in c.items()} for c in SK.candidates(random_study)]
    assert [r.params for r in records] == drawn
    # 6 candidates at 1 epoch; ceil(6 / 3) = 2 go on to 3 epochs
    assert Counter(tuple(rung_epochs(r)) for r in records) == {(1,): 4, (1, 3): 2}
    pruned = [r for r in records if r.status == "pruned"]
    kept = [r for r in records if r.status == "ok"]
    assert len(pruned) == 4 and all(len(rung_epochs(r)) == 1 for r in pruned)
    assert {r.error for r in pruned} == {"pruned after rung 0 (1 epoch)"}
    assert {r.error for r in kept} == {""} and not any(r.ok for r in pruned)
    # sklearn kept the two best at rung 0 (accuracy: higher is better)
    assert min(scores(r)[0] for r in kept) >= max(scores(r)[0] for r in pruned)
    for r in records:  # the score is the last rung's, kept for pruned candidates too
        assert (
            math.isfinite(r.val_score) and f"{r.val_score:.4f}" == r.rungs.split()[-1].split(":")[1]
        )
    assert result.best in kept and result.best.val_score == max(r.val_score for r in kept)
    # live: the eliminated reported when rung 0 ends, the last rung's when it ends; once each
    assert [r.status for r in reported] == ["pruned"] * 4 + ["ok"] * 2
    assert same_rows(sorted(reported, key=lambda r: r.trial), records)


def test_each_rung_trains_at_its_epochs_and_the_histories_say_the_rung(halving_run):
    study, data, workdir, result, _ = halving_run
    fits = FitStore(workdir / "fits").records()
    n_train, n_all = len(data.x_train), len(data.x_train) + len(data.x_val)
    assert all(len(f["history"]["loss"]) == f["params"]["epochs"] for f in fits)  # no early stop
    assert Counter((f["params"]["epochs"], f["n_samples"]) for f in fits) == {
        (1, n_train): 6,
        (3, n_train): 2,
        (4, n_all): 1,
    }  # rung 0, rung 1, the refit (full epochs)
    names = pd.DataFrame(result.histories).groupby(["trial", "fit"])["epoch"].max().to_dict()
    expected = {}
    for r in result.records:
        expected.update({(r.trial, f"r{rung}"): e for rung, e in enumerate(rung_epochs(r))})
    expected[result.best.trial, "refit"] = 4
    assert names == expected
    for r in result.records:  # n_fits: every rung's fit; epochs_run: their mean
        assert (r.n_fits, r.epochs_run) == ((2, 2.0) if r.status == "ok" else (1, 1.0))
        assert r.fit_seconds > 0 and r.started_at <= r.finished_at
    assert result.model.steps[-1][1].epochs == study.epochs == 4


def test_trial_model_is_the_candidates_last_rung_fit(halving_run):
    study, data, workdir, result, _ = halving_run
    stored = len(FitStore(workdir / "fits").records())
    for record in (r for r in result.records if r.ok):
        model = SK.trial_model(study, workdir, record, data)
        assert model.steps[-1][1].epochs == 3  # not [train] epochs (4): its own fit
        accuracy = float(np.mean(model.predict(data.x_val) == data.y_val))
        assert accuracy == pytest.approx(record.val_score, abs=1e-6)
    assert len(FitStore(workdir / "fits").records()) == stored  # restored, nothing trained


def test_integer_cv_regression_keeps_the_lowest_error(tmp_path):
    """4 candidates, factor 2, 2 folds: 4 at 1 epoch, the 2 lowest RMSE at 2 epochs."""
    study = parse_study(halving_text("california_housing", n=4, factor=2, epochs=2, cv="2"))
    result, _ = run_engine("sklearn", study, synthetic("california_housing"), tmp_path)
    records = result.records
    assert Counter(tuple(rung_epochs(r)) for r in records) == {(1,): 2, (1, 2): 2}
    pruned = [r for r in records if r.status == "pruned"]
    kept = [r for r in records if r.status == "ok"]
    assert max(scores(r)[0] for r in kept) <= min(scores(r)[0] for r in pruned)
    assert all(r.direction == "minimize" and r.val_score > 0 for r in records)
    assert all(r.cv_mean == r.val_score and r.cv_std >= 0 for r in records)
    assert [r.n_fits for r in records] == [4 if r.ok else 2 for r in records]
    fits = {(h["trial"], h["fit"]) for h in result.histories}
    for r in records:
        rungs = ["r0f0", "r0f1"] + (["r1f0", "r1f1"] if r.ok else [])
        assert {f for t, f in fits if t == r.trial} - {"refit"} == set(rungs)


def test_the_search_reaches_workers_without_its_reporting_callback():
    """n_jobs > 1: sklearn pickles the search for its workers; the callback (the run's live
    files and locks) stays in this process."""
    import pickle

    from hpsearch.engines.sklearn.fitcache import UniqueHalvingRandomSearchCV

    search = UniqueHalvingRandomSearchCV(
        SK.pipeline(parse_study(halving_text("fashion_mnist"))),
        {},
        resource="model__epochs",
        max_resources=3,
    )
    search.on_rung = lambda *args: None  # a closure: not picklable
    assert pickle.loads(pickle.dumps(search)).on_rung is None and search.on_rung is not None


def test_rungs_round_trip_through_trials_csv(tmp_path):
    assert COLUMNS[-1] == "rungs"  # appended: every earlier column keeps its position
    records = [
        TrialRecord(
            "sklearn",
            "000",
            "pruned",
            {"n_hidden": 1},
            "accuracy",
            val_score=0.5,
            error="pruned after rung 0 (1 epoch)",
            rungs="1:0.5000",
        ),
        TrialRecord(
            "sklearn",
            "001",
            "ok",
            {"n_hidden": 2},
            "accuracy",
            val_score=0.75,
            n_fits=2,
            rungs="1:0.6000 3:0.7500",
        ),
        TrialRecord("keras_tuner", "000", "ok", {"n_hidden": 2}, "val_accuracy", val_score=0.7),
    ]
    path = tmp_path / "trials.csv"
    trials_dataframe(records).to_csv(path, index=False)
    assert same_rows(read_trials(path), records)
    assert [r.rungs for r in read_trials(path)] == ["1:0.5000", "1:0.6000 3:0.7500", ""]
    trials_dataframe(records).drop(columns="rungs").to_csv(path, index=False)  # an older table
    assert [r.rungs for r in read_trials(path)] == ["", "", ""]


# --- real CLI runs on small subsets of both datasets -----------------------------------------

CLI_HALVING = {"n_iter = 6": HALVING.format(n=6, factor=3), "epochs = 2": "epochs = 3"}


def check_cli_run(run_dir: Path, folds: int) -> pd.DataFrame:
    """6 candidates, factor 3, 1 -> 3 epochs: 4 pruned after rung 0, 2 scored at rung 1."""
    trials = pd.read_csv(run_dir / "trials.csv", dtype={"trial": str, "rungs": str}).fillna(
        {"error": ""}
    )
    assert trials["trial"].tolist() == [f"{i:03d}" for i in range(6)]
    assert Counter(trials["status"]) == {"pruned": 4, "ok": 2}
    pruned, kept = trials[trials.status == "pruned"], trials[trials.status == "ok"]
    assert (pruned["error"] == "pruned after rung 0 (1 epoch)").all()
    assert pruned["rungs"].str.fullmatch(r"1:\d\.\d{4}").all()
    assert kept["rungs"].str.fullmatch(r"1:\d\.\d{4} 3:\d\.\d{4}").all()
    summary = pd.read_csv(run_dir / "summary.csv", dtype={"best_trial": str})
    assert summary["best_trial"].item() in kept["trial"].tolist()
    assert summary["n_trials"].item() == 6 and (run_dir / "best" / "sklearn.pkl").is_file()
    histories = pd.read_csv(run_dir / "histories.csv", dtype={"trial": str})
    names = set(zip(histories["trial"], histories["fit"], strict=True))
    rung = (lambda r: [f"r{r}"]) if folds == 1 else (lambda r: [f"r{r}f{k}" for k in range(folds)])
    expected = {(t, n) for t in trials["trial"] for n in rung(0)}
    expected |= {(t, n) for t in kept["trial"] for n in rung(1)}
    assert names == expected | {(summary["best_trial"].item(), "refit")}
    status = json.loads((run_dir / "status.json").read_text())
    assert status["engines"]["sklearn"]["trials_planned"] == 6
    return trials


@pytest.mark.data
def test_california_halving_from_the_cli(tmp_path):
    study = write_study(
        tmp_path,
        "california_housing",
        ["sklearn"],
        n=6,  # epochs = 3 there
        replace={"n_iter = 6": CLI_HALVING["n_iter = 6"]},
    )
    run_dir = _last_dir(
        run_cli("run", str(study), "--output-dir", str(tmp_path / "out"), cwd=tmp_path)
    )
    check_cli_run(run_dir, folds=1)
    assert pd.read_csv(run_dir / "summary.csv")["test_rmse"].item() > 0


@pytest.mark.data
def test_fashion_halving_from_the_cli_killed_and_resumed(tmp_path):
    """A real run, then the same study killed (-9) once rung 0 has ended and resumed: nothing
    that finished is trained again, each trial is in the tables once, and the records and the
    best model's test score are those of the uninterrupted run."""
    study = write_study(
        tmp_path,
        "fashion_mnist",
        ["sklearn"],
        n=6,
        replace={
            **CLI_HALVING,
            "max_train_samples = 1500": "max_train_samples = 600",
            "max_eval_samples = 400": "max_eval_samples = 200",
        },
    )
    reference = _last_dir(
        run_cli("run", str(study), "--output-dir", str(tmp_path / "ref"), cwd=tmp_path)
    )
    ref_trials = check_cli_run(reference, folds=2)

    out = tmp_path / "out"
    run_dir, _ = _kill_after(
        ["run", str(study), "--output-dir", str(out)], tmp_path, out, "sklearn", 1
    )
    before = _sessions(run_dir, "sklearn")
    assert len(before) >= 12 and len(set(before.values())) == 1  # rung 0: 6 candidates x 2 folds
    assert not (run_dir / "summary.csv").exists()  # killed mid-engine
    assert _last_dir(run_cli("resume", str(run_dir), "--keep-state", cwd=tmp_path)) == run_dir
    after = _sessions(run_dir, "sklearn")
    for key, session in before.items():  # finished fits reused, not trained again
        assert after[key] == session, key
    assert len(set(after.values())) == 2 and len(after) == 12 + 4 + 1  # rung 0, rung 1, refit
    trials = check_cli_run(run_dir, folds=2)
    same = [
        "trial",
        "status",
        "val_score",
        "rungs",
        "error",
        "n_fits",
        "epochs_run",
        *[c for c in trials.columns if c.startswith("param_")],
    ]
    pd.testing.assert_frame_equal(trials[same], ref_trials[same])
    summary, ref_summary = (
        pd.read_csv(d / "summary.csv", dtype={"best_trial": str}) for d in (run_dir, reference)
    )
    assert summary["best_trial"].item() == ref_summary["best_trial"].item()
    assert summary["test_accuracy"].item() == ref_summary["test_accuracy"].item()
