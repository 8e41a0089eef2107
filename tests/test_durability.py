"""Kill -9 and resume, failed (NaN) trials, and resume refusals: real runs on small data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT, run_cli, write_study

pytestmark = pytest.mark.data


def _sessions(run_dir: Path, engine: str) -> dict[str, str]:
    """Finished fits (sklearn) or trials (Keras Tuner, Optuna) on disk -> the session that
    trained them."""
    state = run_dir / "state" / engine
    if engine == "sklearn":
        return {
            p.parent.name: json.loads(p.read_text())["session"]
            for p in state.glob("fits/*/record.json")
        }
    if engine == "optuna":
        import optuna

        from hpsearch.engines.optuna.engine import OUTCOME
        from hpsearch.engines.optuna.shared import local_storage

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        trials = optuna.load_study(
            study_name="hpsearch", storage=local_storage(optuna, state)
        ).trials
        return {
            f"{t.number:03d}": t.user_attrs["session"] for t in trials if OUTCOME in t.user_attrs
        }
    return {p.stem: json.loads(p.read_text())["session"] for p in state.glob("records/*.json")}


def _distinct_draws(trials: pd.DataFrame, continuous: str = "param_learning_rate") -> None:
    """No two trials of an engine drew the same value of a continuous parameter: a repeat
    means a sampler started its draws over (a resume re-seeding it)."""
    for engine, mine in trials.groupby("engine"):
        repeated = mine[mine.duplicated(continuous, keep=False)]
        assert repeated.empty, f"{engine} drew the same {continuous} twice:\n{repeated}"


# Optuna with as many trials as the others (the small studies have no [optuna] section)
OPTUNA_N = {"[keras_tuner]": "[optuna]\nn_trials = 4\n\n[keras_tuner]"}


def _rows(run_dir: Path, engine: str) -> int:
    """Trials of `engine` in the live trials.csv (written atomically: never torn)."""
    path = run_dir / "trials.csv"
    return int((pd.read_csv(path)["engine"] == engine).sum()) if path.is_file() else 0


def _kill_after(
    cmd: list[str],
    cwd: Path,
    out: Path,
    engine: str,
    enough: int,
    sig: int = signal.SIGKILL,
    pythonpath: str = str(ROOT),
) -> tuple[Path, subprocess.Popen]:
    """Start a run, signal it once trials.csv lists `enough` finished trials of `engine`.

    A row is written only after the engine has stored the trial as finished (Keras Tuner's
    oracle has saved it; every sklearn fold fit is in the fit store), so this is not racy.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "hpsearch", *cmd],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": pythonpath},
    )
    deadline = time.time() + 300
    try:
        while time.time() < deadline:
            dirs = list(out.glob("*/*/run.json"))
            if dirs and _rows(dirs[0].parent, engine) >= enough:
                proc.send_signal(sig)
                proc.wait(timeout=120)
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail(f"no {enough} finished trials within 300 s")
    finally:
        proc.kill()
        proc.wait()
    return dirs[0].parent, proc


def _last_dir(proc: subprocess.CompletedProcess) -> Path:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Path(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("engine", ["sklearn", "keras_tuner", "optuna"])
def test_kill_9_then_resume_is_the_same_study(tmp_path, engine):
    """Killed after 2 of 4 trials and resumed from the run directory alone: nothing that
    finished is trained again, every trial is in the tables once, and trials, scores and the
    best model are those of a run that was never interrupted (Optuna: its sampler continues
    its draws, and the trial the kill cut off is trained again under its own number)."""
    n = 4
    study = write_study(tmp_path, "fashion_mnist", [engine], n=n, replace=OPTUNA_N)
    reference = _last_dir(
        run_cli("run", str(study), "--output-dir", str(tmp_path / "ref"), cwd=tmp_path)
    )
    out = tmp_path / "out"
    run_dir, _ = _kill_after(
        ["run", str(study), "--output-dir", str(out)], tmp_path, out, engine, 2
    )
    killed_at = json.loads((run_dir / "status.json").read_text())["wall_seconds"]  # last update
    before = _sessions(run_dir, engine)
    assert len(before) >= (4 if engine == "sklearn" else 2)  # 2 folds per sklearn trial
    assert len(set(before.values())) == 1
    assert not (run_dir / "summary.csv").exists()  # killed mid-engine
    for path in run_dir.glob("*.csv"):  # whole files (a kill may leave a hidden .tmp beside)
        pd.read_csv(path)

    clock = time.monotonic()
    proc = run_cli("resume", str(run_dir), "--keep-state", cwd=tmp_path)
    resumed_for = time.monotonic() - clock
    assert _last_dir(proc) == run_dir
    assert not list(run_dir.glob(".*.tmp"))  # the resume cleared them
    after = _sessions(run_dir, engine)
    for key, session in before.items():  # finished work reused, not trained again
        assert after[key] == session, key
    assert len(set(after.values())) == 2  # ... and the resumed session trained the rest
    assert len(after) == (n * 2 + 1 if engine == "sklearn" else n)  # 2 folds each + the refit
    trials = pd.read_csv(run_dir / "trials.csv", dtype={"trial": str})
    assert trials["trial"].tolist() == [f"{i:03d}" for i in range(n)]  # each once, in run order
    assert (trials["status"] == "ok").all()
    _distinct_draws(trials)
    info = json.loads((run_dir / "run.json").read_text())
    assert len(info["resumed_at"]) == 1 and "finished_at" in info
    # The run's time is both sessions': the killed one up to its last live update.
    first, second = info["session_seconds"]
    assert first == killed_at > 0 and 0 < second < resumed_for
    assert info["wall_seconds"] == pytest.approx(first + second, abs=0.1)

    # The same study: the same candidates, the same scores, the same best model and test score.
    # (Measured on JAX/CPU: identical to the last digit; a GPU backend may differ slightly.)
    ref_trials = pd.read_csv(reference / "trials.csv", dtype={"trial": str})
    params = [c for c in trials.columns if c.startswith("param_")]
    pd.testing.assert_frame_equal(
        trials[["trial", *params, "val_score"]], ref_trials[["trial", *params, "val_score"]]
    )
    summary, ref_summary = (
        pd.read_csv(d / "summary.csv", dtype={"best_trial": str}) for d in (run_dir, reference)
    )
    assert summary["best_trial"].item() == ref_summary["best_trial"].item()
    assert summary["test_accuracy"].item() == ref_summary["test_accuracy"].item()


@pytest.mark.parametrize("engine", ["sklearn", "keras_tuner", "optuna"])
def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path, engine):
    study = write_study(tmp_path, "fashion_mnist", [engine], n=4, replace=OPTUNA_N)
    out = tmp_path / "out"
    run_dir, proc = _kill_after(
        ["run", str(study), "--output-dir", str(out)], tmp_path, out, engine, 1, sig=signal.SIGINT
    )
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "interrupted" and status["engines"][engine]["state"] == "interrupted"
    stderr = proc.stderr.read().decode()
    assert proc.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("hpsearch: error: interrupted")
    assert f"python -m hpsearch resume {run_dir}" in last
    assert _sessions(run_dir, engine)  # what finished is on disk
    assert not list(run_dir.rglob("*.tmp")) and not list(run_dir.rglob(".*.*"))
    if engine == "optuna":  # a stop (the web page's Stop too) then resume: no trial repeated
        assert _last_dir(run_cli("resume", str(run_dir), cwd=tmp_path)) == run_dir
        trials = pd.read_csv(run_dir / "trials.csv", dtype={"trial": str})
        assert trials["trial"].tolist() == ["000", "001", "002", "003"]
        _distinct_draws(trials)


def test_resume_refuses_a_changed_study(tmp_path, capsys):
    """An interrupted run resumes only the same study (seed, space, engine settings), and a
    finished run not at all: one line each, exit 2. (The refusals run in-process: each is
    decided before any training, and a new process per refusal would cost seconds each.)"""
    from hpsearch.cli import dispatch

    study = write_study(tmp_path, "california_housing", ["sklearn"], n=3)
    out = tmp_path / "out"
    run_dir, _ = _kill_after(
        ["run", str(study), "--output-dir", str(out)],
        tmp_path,
        out,
        "sklearn",
        1,
        sig=signal.SIGINT,
    )
    original = study.read_text()

    def refused(*argv: str) -> str:
        capsys.readouterr()
        assert dispatch(list(argv)) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        return err.strip().splitlines()[-1]

    for change, expected in (
        (("high = 64", "high = 128"), "space changed"),
        (("n_iter = 3", "n_iter = 4"), "sklearn changed"),
    ):
        study.write_text(original.replace(*change))
        line = refused("run", str(study), "--resume", str(run_dir))
        assert line.startswith("hpsearch: error:") and expected in line, line
    study.write_text(original)
    assert "seed" in refused("run", str(study), "--resume", str(run_dir), "--seed", "8")
    assert _last_dir(run_cli("resume", str(run_dir), cwd=tmp_path)) == run_dir
    assert "cannot resume: the run finished at" in refused("resume", str(run_dir))


def _sgd_study(tmp_path: Path, learning_rate: str) -> Path:
    """California with SGD where only the learning rate varies (so each value is tried)."""
    return write_study(
        tmp_path,
        "california_housing",
        ["sklearn", "keras_tuner"],
        n=2,
        replace={
            'optimizer = "adam"': 'optimizer = "sgd"',
            "learning_rate = { low = 2e-3, high = 1e-2, log = true }": f"learning_rate = {learning_rate}",
            "n_hidden = { low = 1, high = 2 }": "n_hidden = 1",
            "n_neurons = { low = 16, high = 64, log = true }": "n_neurons = 32",
        },
    )


def test_nan_trials_are_recorded_as_failed_and_the_study_goes_on(tmp_path):
    study = _sgd_study(tmp_path, "[0.001, 9.0]")
    proc = run_cli("run", str(study), "--output-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    trials = pd.read_csv(run_dir / "trials.csv").fillna({"error": ""})
    for engine in ("sklearn", "keras_tuner"):
        mine = trials[trials.engine == engine].set_index("param_learning_rate")
        assert mine.loc[9.0, "status"] == "failed"
        assert "loss became" in mine.loc[9.0, "error"]
        assert mine.loc[0.001, "status"] == "ok" and mine.loc[0.001, "error"] == ""
    summary = pd.read_csv(run_dir / "summary.csv")
    assert (summary["param_learning_rate"] == 0.001).all()
    assert (summary["n_failed"] == 1).all()


def test_all_trials_failing_ends_with_a_clear_error_and_the_table(tmp_path):
    study = _sgd_study(tmp_path, "9.0")
    proc = run_cli("run", str(study), "--output-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "hpsearch: error: no usable model from sklearn (every trial failed), "
        "keras_tuner (every trial failed)"
    )
    trials = pd.read_csv(next((tmp_path / "out").glob("*/*/trials.csv")))
    # one distinct candidate: sklearn samples it once, Keras Tuner stops when the space is exhausted
    assert trials["engine"].tolist() == ["sklearn", "keras_tuner"]
    assert (trials["status"] == "failed").all()
    assert trials["error"].str.contains("loss became").all()


def test_a_failed_refit_keeps_the_trials_and_reports_the_failure(tmp_path, monkeypatch):
    """Only the final refit (on train + validation) diverges: trials stand, no test score."""
    from hpsearch import engines
    from hpsearch.data import load_dataset
    from hpsearch.engines.base import EngineContext
    from hpsearch.model import wrappers
    from hpsearch.study.config import parse_study

    study = parse_study(write_study(tmp_path, "california_housing", ["sklearn"], n=2).read_text())
    data = load_dataset(study)
    n_all = len(data.x_train) + len(data.x_val)
    fit = wrappers.KerasRegressor.fit

    def diverging_refit(self, X, y, **kwargs):
        if len(X) == n_all:
            raise FloatingPointError("loss became nan at epoch 1")
        return fit(self, X, y, **kwargs)

    monkeypatch.setattr(wrappers.KerasRegressor, "fit", diverging_refit)
    for _attempt in range(2):  # the second time is a resume: the failure is cached, not re-run
        ctx = EngineContext(
            "sklearn", study, data.without_test(), tmp_path / "state", lambda record: None
        )
        result = engines.get("sklearn").run(ctx)
        assert [r.status for r in result.records] == ["ok", "ok"]
        assert result.best is not None and result.model is None
        assert "refit of the best candidate failed: " in result.error
        assert "loss became nan" in result.error
    # A run whose engine has no usable model is not a success: exit 1, one line, status failed.
    from hpsearch.errors import AllTrialsFailed
    from hpsearch.run.runner import run_study

    with pytest.raises(AllTrialsFailed, match="no usable model from sklearn \\(refit of the best"):
        run_study(study, output_dir=str(tmp_path / "out"), log=lambda message: None)
    status = json.loads(next((tmp_path / "out").glob("*/*/status.json")).read_text())
    assert status["state"] == "failed" and status["engines"]["sklearn"]["state"] == "failed"
