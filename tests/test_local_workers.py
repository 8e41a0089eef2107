"""`n_jobs` > 1: the run starts its own trial processes on this machine (engines/local_workers.py).

Real runs on penguins (4 trials, 2 epochs): every trial recorded once, each worker pinned to
one thread, no worker process left once the run has ended, a killed worker's study still
finishes, and a trial scores as it does one at a time.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import DATA_DIR, ROOT, run_cli

PENGUINS = DATA_DIR / "penguins" / "penguins.csv"
pytestmark = pytest.mark.skipif(not PENGUINS.is_file(), reason=f"no {PENGUINS}")

STUDY = """
[study]
name = "pg"
engines = ["{engine}"]
seed = 42

[data]
train = "{data}"
target = "species"
drop = ["year"]

[train]
epochs = {epochs}
batch_size = 16

[space]
n_hidden = {n_hidden}
n_neurons = {n_neurons}
optimizer = "adam"
learning_rate = {learning_rate}

[optuna]
n_trials = {n}
sampler = "random"
pruner = "none"
worker_timeout = 4.0
n_jobs = {n_jobs}

[keras_tuner]
algorithm = "random"
max_trials = {n}
worker_timeout = 4.0
n_jobs = {n_jobs}
"""
SPACE = {
    "n_hidden": "{ low = 1, high = 2 }",
    "n_neurons": "{ low = 8, high = 32, log = true }",
    "learning_rate": "{ low = 1e-3, high = 1e-2, log = true }",
}


def write(tmp_path: Path, engine: str, n_jobs: object = 2, name: str = "pg", **kw: object) -> Path:
    values = {"engine": engine, "data": PENGUINS, "epochs": 2, "n": 4, "n_jobs": n_jobs}
    values.update(SPACE)
    values.update(kw)
    path = tmp_path / f"{name}.toml"
    path.write_text(STUDY.format(**values))
    return path


def run(study: Path, cwd: Path) -> Path:
    done = run_cli("run", str(study), "--keep-state", "--quiet", cwd=cwd, timeout=400)
    assert done.returncode == 0, done.stderr
    return cwd / done.stdout.strip().splitlines()[-1]


def worker_pids(run_dir: Path) -> dict[int, str]:
    """Every local worker process the run started (restarts too), by pid: its log's first
    line, which it writes before any framework loads."""
    pids = {}
    for log in (run_dir / "logs").glob("*.log"):
        for match in re.finditer(r"^local worker (\S+) pid (\d+): (.*)$", log.read_text(), re.M):
            pids[int(match[2])] = match[3]
    return pids


def gone(pid: int) -> bool:
    """Ended: no such process, or a zombie (an orphan's, which this container's init may
    never reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


def check_run(run_dir: Path, engine: str) -> pd.DataFrame:
    """Every trial once and ok, the best model kept, each worker pinned and none left."""
    trials = pd.read_csv(run_dir / "trials.csv", dtype={"trial": str})
    # (Optuna numbers a lost trial's replacement anew: four trials, not always 000-003)
    assert len(trials) == 4 and trials["trial"].is_unique, trials
    assert (trials["status"] == "ok").all(), trials[["trial", "status", "error"]]
    histories = pd.read_csv(run_dir / "histories.csv", dtype={"trial": str})
    assert not histories.duplicated(["trial", "fit", "epoch", "metric"]).any()
    assert set(histories["trial"]) == set(trials["trial"])
    assert (run_dir / "best" / f"{engine}.keras").is_file()
    assert json.loads((run_dir / "status.json").read_text())["state"] == "finished"
    pids = worker_pids(run_dir)
    assert len(pids) >= 2, pids
    for settings in pids.values():
        assert settings.startswith("pinned") and "--xla_cpu_multi_thread_eigen=false" in settings
        assert "OMP_NUM_THREADS=1" in settings and "TF_NUM_INTRAOP_THREADS=1" in settings
    assert all(gone(pid) for pid in pids), "a local worker outlived its run"
    return trials


def test_optuna_two_local_workers_and_a_trial_scored_as_alone(tmp_path: Path) -> None:
    run_dir = run(write(tmp_path, "optuna"), tmp_path)
    trials = check_run(run_dir, "optuna")
    # Both workers trained; the run itself only waited.
    workers = {json.loads(p.read_text())["worker"] for p in run_dir.glob("state/optuna/workers/*")}
    assert workers == {"local-1", "local-2"}
    # Each worker draws its own parameters (its own seed), so n_jobs = 1 draws others: trial
    # 000's parameters, fixed, are trained again one at a time under the same trial number.
    first = trials.iloc[0]
    fixed = {k: json.dumps(first[f"param_{k}"].item()) for k in SPACE}
    again = run(write(tmp_path, "optuna", n_jobs=1, name="again", n=1, **fixed), tmp_path)
    alone = pd.read_csv(again / "trials.csv", dtype={"trial": str}).iloc[0]
    assert alone["val_score"] == first["val_score"]  # bit-identical (float32 scores)
    curves = [
        pd.read_csv(d / "histories.csv", dtype={"trial": str}).query("trial == '000'")
        for d in (run_dir, again)
    ]
    assert list(curves[0]["value"]) == list(curves[1]["value"])


def test_keras_tuner_two_local_workers_give_the_trials_of_one(tmp_path: Path) -> None:
    side_by_side = check_run(run(write(tmp_path, "keras_tuner"), tmp_path), "keras_tuner")
    one = run(write(tmp_path, "keras_tuner", n_jobs=1, name="one"), tmp_path)
    assert not (one / "logs").exists()  # n_jobs = 1: the run trains, as before
    alone = pd.read_csv(one / "trials.csv", dtype={"trial": str})
    # The chief's oracle draws trial by trial as a local search does, and each trial is
    # seeded by its number: the same trials, bit for bit, on one thread or many.
    columns = ["trial", "param_n_hidden", "param_n_neurons", "param_learning_rate", "val_score"]
    pd.testing.assert_frame_equal(side_by_side[columns], alone[columns])


def start(study: Path, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "hpsearch", "run", str(study), "--keep-state", "--quiet"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def finish(proc: subprocess.Popen, timeout: float = 400) -> tuple[str, str]:
    """The run's output once it has ended; a run that does not end is stopped (SIGTERM: it
    stops its workers) and the test fails."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.communicate(timeout=60)
        raise


def training_pid(cwd: Path, engine: str, worker: str, proc: subprocess.Popen) -> int:
    """The pid of local `worker` once it trains a trial (its heartbeat written, a trial
    of its own running in the engine's state)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        for run_dir in (cwd / "results" / "pg").glob("*/"):
            state = run_dir / "state" / engine
            beat = state / "workers" / f"{worker}.json"
            # its name in the storage (a trial's attribute) or the oracle's ongoing trials
            where, mark = {
                "optuna": (state / "optuna.log", f'"{worker}"'),
                "keras_tuner": (state / "keras_tuner" / "oracle.json", f'"{worker}": '),
            }[engine]
            try:
                if mark in where.read_text() and beat.is_file():
                    return int(json.loads(beat.read_text())["pid"])
            except (OSError, ValueError):
                pass
        time.sleep(0.05)
    raise AssertionError(proc.stderr.read() if proc.poll() is not None else "no trial began")


@pytest.mark.parametrize("engine", ["optuna", "keras_tuner"])
def test_a_killed_local_worker_is_started_again_and_the_study_finishes(
    tmp_path: Path, engine: str
) -> None:
    proc = start(write(tmp_path, engine, epochs=15), tmp_path)
    pid = training_pid(tmp_path, engine, "local-1", proc)
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert b"XLA_FLAGS=--xla_cpu_multi_thread_eigen=false" in environ  # the live process's own
    # Killed while it trains, not while it writes the storage: a kill holding Optuna's journal
    # lock stalls the others for the lock's 30 s grace period (the lock is then found stale).
    time.sleep(1.0)
    os.kill(pid, signal.SIGKILL)
    out, err = finish(proc)
    assert proc.returncode == 0, err
    assert f"{engine}: local worker local-1 died (exit -9); starting it again" in err
    run_dir = tmp_path / out.strip().splitlines()[-1]
    trials = check_run(run_dir, engine)
    assert pid in worker_pids(run_dir) and len(worker_pids(run_dir)) == 3
    if engine == "keras_tuner":  # the restarted worker took its trial back, under its number
        assert list(trials["trial"]) == ["000", "001", "002", "003"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_a_stopped_or_killed_run_leaves_no_local_worker(tmp_path: Path, sig: int) -> None:
    """Ctrl-C: the run stops its workers and says how to resume. SIGKILL: the kernel sends
    each worker SIGTERM (PR_SET_PDEATHSIG), and it stops as on Ctrl-C."""
    # more work than the 10 s below: a worker left running would not end by itself in time
    proc = start(write(tmp_path, "optuna", epochs=15, n=10), tmp_path)
    training_pid(tmp_path, "optuna", "local-1", proc)
    proc.send_signal(sig)
    _, err = finish(proc, timeout=120)
    (run_dir,) = (tmp_path / "results" / "pg").glob("*/")
    pids = worker_pids(run_dir)
    deadline = time.monotonic() + 10  # orphans of a killed run stop on their SIGTERM
    while not all(gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(pids) == 2 and [pid for pid in pids if not gone(pid)] == []
    if sig == signal.SIGINT:
        assert proc.returncode != 0 and "Resume with" in err, err
        assert json.loads((run_dir / "status.json").read_text())["state"] == "interrupted"


@pytest.mark.parametrize("engine", ["optuna", "keras_tuner"])
@pytest.mark.parametrize("value", ["0", '"two"', "-1"])
def test_a_bad_n_jobs_is_one_line(tmp_path: Path, engine: str, value: str) -> None:
    from hpsearch.errors import StudyError
    from hpsearch.study.config import load_study

    path = write(tmp_path, engine)
    head, tail = path.read_text().split("[keras_tuner]")  # only this engine's section
    if engine == "optuna":
        head = head.replace("n_jobs = 2", f"n_jobs = {value}")
    else:
        tail = tail.replace("n_jobs = 2", f"n_jobs = {value}")
    path.write_text(f"{head}[keras_tuner]{tail}")
    with pytest.raises(StudyError) as caught:
        load_study(str(path))
    message = str(caught.value)
    assert "\n" not in message
    assert f'{engine}.n_jobs: expected a positive integer or "auto"' in message
    assert f"got {value.replace(chr(34), chr(39))}" in message


def test_auto_is_the_usable_cores(tmp_path: Path) -> None:
    from hpsearch.engines.local_workers import resolve
    from hpsearch.study.config import load_study

    path = write(tmp_path, "optuna", n_jobs='"auto"')
    assert load_study(str(path)).settings["optuna"].n_jobs == "auto"
    assert resolve("auto") == len(os.sched_getaffinity(0)) and resolve(3) == 3
