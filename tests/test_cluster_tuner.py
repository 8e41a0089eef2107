"""Keras Tuner across processes: `run --chief` serves the oracle, `worker --chief` trains.

Real processes on loopback: a chief and two workers finish a study with every trial once,
and a worker killed mid-trial has its trial retried by the other worker.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT, run_cli, write_study

pytestmark = pytest.mark.data

TINY = {"max_train_samples = 2000": "max_train_samples = 300",
        "max_eval_samples = 500": "max_eval_samples = 100",
        "epochs = 3": "epochs = 20",
        'algorithm = "bayesian"': 'algorithm = "random"\nworker_timeout = 3.0'}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(*args: str, cwd: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hpsearch", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=log.open("w"), text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def ongoing(run_dir: Path) -> dict[str, str]:
    """The chief oracle's running trials by worker (tuner id), from its state file."""
    try:
        oracle = json.loads((run_dir / "state/keras_tuner/keras_tuner/oracle.json").read_text())
    except (OSError, ValueError):
        return {}
    return oracle.get("ongoing_trials", {})


def test_chief_and_two_workers_with_one_killed_mid_trial(tmp_path: Path) -> None:
    study = write_study(tmp_path, "california_housing", ["keras_tuner"], n=4, replace=TINY)
    chief = f"127.0.0.1:{free_port()}"
    run = start("run", str(study), "--chief", chief, "--keep-state", cwd=tmp_path,
                log=tmp_path / "chief.log")
    workers = {name: start("worker", str(study), "--chief", chief, "--id", name, cwd=tmp_path,
                           log=tmp_path / f"{name}.log") for name in ("w1", "w2")}
    deadline, run_dir, killed = time.monotonic() + 180, None, None
    while killed is None and time.monotonic() < deadline:  # kill w1 as soon as it trains a trial
        runs = list((tmp_path / "results" / "small").glob("*/"))
        run_dir = runs[0] if runs else None
        if run_dir is not None and "w1" in ongoing(run_dir):
            killed = ongoing(run_dir)["w1"]
            workers["w1"].send_signal(signal.SIGKILL)
        time.sleep(0.05)
    assert killed is not None, (tmp_path / "chief.log").read_text()
    out, _ = run.communicate(timeout=180)
    logs = {name: (tmp_path / f"{name}.log").read_text() for name in ("chief", "w1", "w2")}
    assert run.returncode == 0, logs
    assert workers["w2"].wait(timeout=60) == 0, logs["w2"]
    assert Path(out.strip().splitlines()[-1]) == run_dir.relative_to(tmp_path)
    # The killed worker's trial was retried by the other one, and recorded once, not failed.
    assert f"worker w1 stopped beating; its trial {killed} goes to another worker" in logs["chief"]
    record = json.loads((run_dir / "state/keras_tuner/records" / f"{killed}.json").read_text())
    assert record["worker"] == "w2"
    trials = pd.read_csv(run_dir / "trials.csv", dtype={"trial": str})
    assert list(trials["trial"]) == ["000", "001", "002", "003"]
    assert (trials["status"] == "ok").all(), trials[["trial", "status", "error"]]
    # The same run directory as a local run: summary, report, status and the best model.
    summary = pd.read_csv(run_dir / "summary.csv")
    assert summary["n_trials"].item() == 4 and summary["test_rmse"].item() > 0
    assert (run_dir / "best" / "keras_tuner.keras").is_file()
    assert json.loads((run_dir / "status.json").read_text())["state"] == "finished"
    assert (run_dir / "report.html").is_file()


def test_worker_without_a_running_run_says_so(tmp_path: Path) -> None:
    study = write_study(tmp_path, "california_housing", ["keras_tuner"], replace=TINY)
    done = run_cli("worker", str(study), "--chief", "127.0.0.1:9", "--wait", "0", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "no running run of study 'small' with --chief 127.0.0.1:9" in done.stderr


def test_chief_on_a_port_in_use_says_so(tmp_path: Path) -> None:
    study = write_study(tmp_path, "california_housing", ["keras_tuner"], replace=TINY)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli("run", str(study), "--chief", f"127.0.0.1:{port}", "--quiet", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last == (f"hpsearch: error: keras_tuner.chief: cannot listen on 127.0.0.1:{port}: "
                    f"expected a free port on an address of this machine")
    assert "Traceback" not in done.stderr
