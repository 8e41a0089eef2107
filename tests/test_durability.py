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


def _finished(run_dir: Path, engine: str) -> dict[str, str]:
    """Finished fits/trials on disk: file name -> contents (timestamps included)."""
    state = run_dir / "state" / engine
    pattern = "fits/*/record.json" if engine == "sklearn" else "records/*.json"
    return {str(p.relative_to(state)): p.read_text() for p in state.glob(pattern)}


def _kill_after(cmd: list[str], cwd: Path, out: Path, engine: str, enough: int,
                sig: int = signal.SIGKILL) -> tuple[Path, subprocess.Popen]:
    """Start a run, signal it once `enough` fits/trials are on disk; return its run dir, process."""
    proc = subprocess.Popen([sys.executable, "-m", "hpsearch", *cmd], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.time() + 300
    try:
        while time.time() < deadline:
            dirs = list(out.glob("*/*/run.json"))
            if dirs and len(_finished(dirs[0].parent, engine)) >= enough:
                proc.send_signal(sig)
                proc.wait(timeout=120)
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("no finished fit within 300 s")
    finally:
        proc.kill()
        proc.wait()
    return dirs[0].parent, proc


@pytest.mark.parametrize("engine", ["sklearn", "keras_tuner"])
def test_kill_9_then_resume_keeps_finished_work(tmp_path, engine):
    n = 4
    study = write_study(tmp_path, "fashion_mnist", [engine], n=n)
    out = tmp_path / "out"
    enough = 3 if engine == "sklearn" else 2  # sklearn: 3 fold fits = candidates 0 and part of 1
    run_dir, _ = _kill_after(["run", str(study), "--output-dir", str(out)], tmp_path, out, engine,
                             enough)
    before = _finished(run_dir, engine)
    assert len(before) >= enough
    assert not (run_dir / "summary.csv").exists()  # killed mid-engine
    assert not list(run_dir.rglob("*.tmp"))  # no torn temporary files left as results

    proc = run_cli("run", str(study), "--resume", str(run_dir), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = _finished(run_dir, engine)
    for name, text in before.items():  # finished work reused, not re-trained
        assert after[name] == text
    trials = pd.read_csv(run_dir / "trials.csv", dtype={"trial": str})
    assert len(trials) == n and trials["trial"].is_unique
    assert trials["trial"].tolist() == sorted(trials["trial"], key=int)  # in the order they ran
    assert (trials["status"] == "ok").all()
    expected_fits = n * 2 + 1 if engine == "sklearn" else n  # 2 folds each + the refit
    assert len(after) == expected_fits
    summary = pd.read_csv(run_dir / "summary.csv")
    assert len(summary) == 1 and summary["test_accuracy"].item() > 0.5
    info = json.loads((run_dir / "run.json").read_text())
    assert len(info["resumed_at"]) == 1 and "finished_at" in info
    for path in run_dir.glob("*.csv"):
        pd.read_csv(path)


@pytest.mark.parametrize("engine", ["sklearn", "keras_tuner"])
def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path, engine):
    study = write_study(tmp_path, "fashion_mnist", [engine], n=4)
    out = tmp_path / "out"
    run_dir, proc = _kill_after(["run", str(study), "--output-dir", str(out)], tmp_path, out,
                                engine, 1, sig=signal.SIGINT)
    stderr = proc.stderr.read().decode()
    assert proc.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("hpsearch: error: interrupted")
    assert f"--resume {run_dir}" in last
    assert _finished(run_dir, engine)  # what finished is on disk
    assert not list(run_dir.rglob("*.tmp")) and not list(run_dir.rglob(".*.*"))


def test_resume_refuses_a_changed_study(tmp_path):
    study = write_study(tmp_path, "california_housing", ["sklearn"], n=1)
    proc = run_cli("run", str(study), "--output-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    changed = study.read_text().replace("high = 64", "high = 128")
    study.write_text(changed)
    proc = run_cli("run", str(study), "--resume", str(run_dir), cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("hpsearch: error:") and "space changed" in lines[-1]
    assert "Traceback" not in proc.stderr
    proc = run_cli("run", str(study), "--resume", str(run_dir), "--seed", "8", cwd=tmp_path)
    assert proc.returncode == 2 and "seed" in proc.stderr


def _sgd_study(tmp_path: Path, learning_rate: str) -> Path:
    """California with SGD where only the learning rate varies (so each value is tried)."""
    return write_study(tmp_path, "california_housing", ["sklearn", "keras_tuner"], n=2, replace={
        'optimizer = "adam"': 'optimizer = "sgd"',
        "learning_rate = { low = 2e-3, high = 1e-2, log = true }": f"learning_rate = {learning_rate}",
        "n_hidden = { low = 1, high = 2 }": "n_hidden = 1",
        "n_neurons = { low = 16, high = 64, log = true }": "n_neurons = 32",
    })


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
    assert last.startswith("hpsearch: error: every trial of sklearn, keras_tuner failed")
    trials = pd.read_csv(next((tmp_path / "out").glob("*/*/trials.csv")))
    # one distinct candidate: sklearn samples it once, Keras Tuner stops when the space is exhausted
    assert trials["engine"].tolist() == ["sklearn", "keras_tuner"]
    assert (trials["status"] == "failed").all()
    assert trials["error"].str.contains("loss became").all()


def test_a_failed_refit_keeps_the_trials_and_reports_the_failure(tmp_path, monkeypatch):
    """Only the final refit (on train + validation) diverges: trials stand, no test score."""
    from hpsearch import wrappers
    from hpsearch.config import parse_study
    from hpsearch.data import load_dataset
    from hpsearch.engines.sklearn_engine import run_sklearn

    study = parse_study(write_study(tmp_path, "california_housing", ["sklearn"], n=2).read_text())
    data = load_dataset(study)
    n_all = len(data.x_train) + len(data.x_val)
    fit = wrappers.KerasRegressor.fit

    def diverging_refit(self, X, y, **kwargs):
        if len(X) == n_all:
            raise FloatingPointError("loss became nan at epoch 1")
        return fit(self, X, y, **kwargs)

    monkeypatch.setattr(wrappers.KerasRegressor, "fit", diverging_refit)
    for attempt in range(2):  # the second time is a resume: the failure is cached, not re-run
        result = run_sklearn(study, data, tmp_path / "state")
        assert [r.status for r in result.records] == ["ok", "ok"]
        assert result.best is not None and result.test == {}
        assert "refit of the best candidate failed: " in result.error
        assert "loss became nan" in result.error
