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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from conftest import ROOT, run_cli, write_study

pytestmark = pytest.mark.data

TINY = {
    "max_train_samples = 2000": "max_train_samples = 300",
    "max_eval_samples = 500": "max_eval_samples = 100",
    "epochs = 3": "epochs = 20",
    'algorithm = "bayesian"': 'algorithm = "random"\nworker_timeout = 3.0',
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(*args: str, cwd: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "hpsearch", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def start_all(
    study: Path, flag: str, address: str, tmp_path: Path
) -> tuple[subprocess.Popen, dict]:
    """The run (coordinating at `address`) and workers w1 and w2, logging to tmp_path."""
    run = start(
        "run", str(study), flag, address, "--keep-state", cwd=tmp_path, log=tmp_path / "run.log"
    )
    workers = {
        name: start(
            "worker",
            str(study),
            flag,
            address,
            "--id",
            name,
            cwd=tmp_path,
            log=tmp_path / f"{name}.log",
        )
        for name in ("w1", "w2")
    }
    return run, workers


def kill_in_trial(
    run: subprocess.Popen, worker: subprocess.Popen, training: Callable[[], Any], tmp_path: Path
) -> Any:
    """SIGKILL `worker` as soon as `training()` names the trial it trains; that trial."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and run.poll() is None:  # the run may end first
        trial = training()
        if trial is not None:
            worker.send_signal(signal.SIGKILL)
            return trial
        time.sleep(0.05)
    raise AssertionError((tmp_path / "run.log").read_text())


def finish(run: subprocess.Popen, workers: dict, tmp_path: Path) -> Path:
    """Wait for the run and the surviving worker w2 to succeed; the run directory."""
    out, _ = run.communicate(timeout=180)
    logs = {name: (tmp_path / f"{name}.log").read_text() for name in ("run", "w1", "w2")}
    assert run.returncode == 0, logs
    assert workers["w2"].wait(timeout=60) == 0, logs["w2"]
    return tmp_path / out.strip().splitlines()[-1]


def ongoing(run_dir: Path) -> dict[str, str]:
    """The chief oracle's running trials by worker (tuner id), from its state file."""
    try:
        oracle = json.loads((run_dir / "state/keras_tuner/keras_tuner/oracle.json").read_text())
    except (OSError, ValueError):
        return {}
    return oracle.get("ongoing_trials", {})


def test_chief_and_two_workers_with_one_killed_mid_trial(tmp_path: Path) -> None:
    study = write_study(tmp_path, "california_housing", ["keras_tuner"], n=4, replace=TINY)
    run, workers = start_all(study, "--chief", f"127.0.0.1:{free_port()}", tmp_path)

    def training() -> str | None:
        runs = list((tmp_path / "results" / "small").glob("*/"))
        return ongoing(runs[0]).get("w1") if runs else None

    killed = kill_in_trial(run, workers["w1"], training, tmp_path)
    run_dir = finish(run, workers, tmp_path)
    # The killed worker's trial was retried by the other one, and recorded once, not failed.
    log = (tmp_path / "run.log").read_text()
    assert f"worker w1 stopped beating; its trial {killed} goes to another worker" in log
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
    assert last == (
        f"hpsearch: error: keras_tuner.chief: cannot listen on 127.0.0.1:{port}: "
        f"expected a free port on an address of this machine"
    )
    assert "Traceback" not in done.stderr


def test_a_failed_call_to_the_chief_leaves_its_oracle_unlocked() -> None:
    """Keras Tuner's `synchronized` keeps the oracle locked when a call raises (here: a
    trial id the chief does not have, as from a worker of an earlier run): the chief's
    servicer answers with a gRPC error and frees the lock, so the chief goes on serving."""
    import keras_tuner as kt
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer
    from keras_tuner.src.engine import oracle as oracle_module

    from hpsearch.engines.keras_tuner.chief import _safe_servicer

    class Aborted(Exception):
        pass

    class Context:
        def abort(self, code: Any, details: str) -> None:
            raise Aborted(f"{code.name}: {details}")

    from keras_tuner.src.engine.trial import Trial

    oracle = kt.oracles.RandomSearchOracle(objective="val_loss", max_trials=2)
    servicer = _safe_servicer(OracleServicer)(oracle)
    stranger = Trial(oracle.get_space(), trial_id="99", status="COMPLETED").to_proto()
    with pytest.raises(Aborted, match=r"FAILED_PRECONDITION: EndTrial: KeyError: '99'"):
        servicer.EndTrial(protos.get_service().EndTrialRequest(trial=stranger), Context())
    assert oracle_module.LOCKS[oracle].acquire(timeout=1)  # free
    oracle_module.LOCKS[oracle].release()


def test_a_trial_ends_once_though_its_lost_worker_comes_back(tmp_path: Path) -> None:
    """A worker judged lost (a long stall) whose trial was queued for a retry ends it after
    all: that end counts, the retry is dropped, and a second end is ignored."""
    import keras_tuner as kt
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer

    from hpsearch.engines.keras_tuner.chief import _safe_servicer, requeue

    oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("score", "max"), max_trials=3)
    oracle._set_project_dir(str(tmp_path), "p")
    oracle.hyperparameters.Int("units", 1, 10)
    servicer = _safe_servicer(OracleServicer)(oracle)
    trial = oracle.create_trial("w1")
    assert requeue(oracle, "w1") == trial.trial_id and oracle._retry_queue == [trial.trial_id]
    oracle.update_trial(trial.trial_id, {"score": 1.0})
    trial.status = "COMPLETED"
    request = protos.get_service().EndTrialRequest(trial=trial.to_proto())
    servicer.EndTrial(request, None)  # the lost worker's end, late
    assert oracle.end_order == [trial.trial_id] and oracle._retry_queue == []
    servicer.EndTrial(request, None)  # again (as a retry's end would be): ignored
    assert oracle.end_order == [trial.trial_id]
