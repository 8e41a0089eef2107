"""Optuna across processes: the run and two `worker`s share one SQLite storage.

Real processes: every trial is trained once and recorded once, the study has exactly its
n_trials, and a worker killed mid-trial has its trial failed by its stopped heartbeat and
trained again by another process.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from test_cluster_tuner import finish, kill_in_trial, start_all

from conftest import run_cli, write_study

pytestmark = pytest.mark.data

TINY = {
    "max_train_samples = 2000": "max_train_samples = 300",
    "max_eval_samples = 500": "max_eval_samples = 100",
    "epochs = 3": "epochs = 20",
    "[keras_tuner]": '[optuna]\nn_trials = 6\npruner = "none"\nworker_timeout = 4.0\n\n[keras_tuner]',
}


def running_by(db: Path) -> dict[str, int]:
    """Running trials of the storage by the worker training them (trial number)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            rows = con.execute(
                "SELECT a.value_json, t.number FROM trials t JOIN trial_user_attributes a "
                "ON a.trial_id = t.trial_id WHERE t.state = 'RUNNING' AND a.key = 'worker'"
            ).fetchall()
    except sqlite3.Error:
        return {}
    return {json.loads(worker): number for worker, number in rows}


def test_run_and_two_workers_share_sqlite_one_killed_mid_trial(tmp_path: Path) -> None:
    study = write_study(tmp_path, "california_housing", ["optuna"], replace=TINY)
    db = tmp_path / "optuna.db"
    run, workers = start_all(study, "--storage", f"sqlite:///{db}", tmp_path)
    killed = kill_in_trial(run, workers["w1"], lambda: running_by(db).get("w1"), tmp_path)
    run_dir = finish(run, workers, tmp_path)
    trials = pd.read_csv(run_dir / "trials.csv", dtype={"trial": str})
    # Exactly n_trials recorded, each once, all trained to the end; the killed one is not among
    # them: it was failed by its stopped heartbeat and queued again under a new number.
    assert len(trials) == 6 and trials["trial"].is_unique
    assert (trials["status"] == "ok").all(), trials[["trial", "status", "error"]]
    assert f"{killed:03d}" not in set(trials["trial"])
    with sqlite3.connect(db) as con:
        states = dict(con.execute("SELECT number, state FROM trials").fetchall())
        workers_of = {
            n: json.loads(v)
            for n, v in con.execute(
                "SELECT t.number, a.value_json FROM trials t JOIN trial_user_attributes a ON "
                "a.trial_id = t.trial_id WHERE a.key = 'worker'"
            ).fetchall()
        }
        retries = {
            n: json.loads(v)
            for n, v in con.execute(
                "SELECT t.number, a.value_json FROM trials t JOIN trial_system_attributes a ON "
                "a.trial_id = t.trial_id WHERE a.key = 'failed_trial'"
            ).fetchall()
        }
    assert states[killed] == "FAIL"
    # Optuna's retry of a stale trial: a new trial marked with the one it retries.
    retried = [n for n, original in retries.items() if original == killed]
    assert len(retried) == 1 and states[retried[0]] == "COMPLETE"
    assert workers_of[retried[0]] in {"", "w2"} and f"{retried[0]:03d}" in set(trials["trial"])
    # Each process trained some of them, and the run built the best model from them all.
    assert {"", "w2"} <= set(workers_of[int(t)] for t in trials["trial"])
    summary = pd.read_csv(run_dir / "summary.csv")
    assert summary["n_trials"].item() == 6 and summary["test_rmse"].item() > 0
    assert (run_dir / "best" / "optuna.keras").is_file()


def test_worker_with_an_unusable_storage_says_so(tmp_path: Path) -> None:
    study = write_study(tmp_path, "california_housing", ["optuna"], replace=TINY)
    done = run_cli(
        "run", str(study), "--storage", "nosuchdb://bob:s3cret@x/y", "--quiet", cwd=tmp_path
    )
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("hpsearch: error: optuna.storage: cannot open nosuchdb://bob:***@x/y: ")
    assert "s3cret" not in done.stderr
    assert "Traceback" not in done.stderr


def test_a_trial_past_the_studys_places_steps_aside() -> None:
    """Places are counted in trial-number order: finished (with hpsearch's outcome), running
    and queued trials hold one; failed ones without an outcome (a lost worker's) do not."""
    import optuna

    from hpsearch.engines.optuna.engine import OUTCOME
    from hpsearch.engines.optuna.shared import surplus

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    ostudy = optuna.create_study()
    for outcome in ("ok", "pruned"):
        trial = ostudy.ask()
        trial.set_user_attr(OUTCOME, outcome)
        ostudy.tell(
            trial,
            1.0 if outcome == "ok" else None,
            state=None if outcome == "ok" else optuna.trial.TrialState.PRUNED,
        )
    lost = ostudy.ask()
    ostudy.tell(lost, state=optuna.trial.TrialState.FAIL)  # no outcome: frees its place
    running = ostudy.ask()  # number 3, holds a place
    ostudy.enqueue_trial({})  # number 4, queued: holds a place
    newest = ostudy.ask()  # takes the queued trial (number 4)
    assert not surplus(ostudy, running, 4)  # 2 places taken before it
    assert not surplus(ostudy, newest, 4)  # 3 before it: ok, pruned, running
    extra = ostudy.ask()
    assert surplus(ostudy, extra, 4)  # 4 before it
    assert not surplus(ostudy, extra, 5)


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_shared_storages_open_with_heartbeats_where_optuna_has_them(
    tmp_path: Path, kind: str
) -> None:
    """A database URL opens with heartbeats and the retry of stale trials; journal:FILE opens
    Optuna's journal file (no heartbeats there); both hold a study two handles share."""
    import optuna
    from optuna.storages._heartbeat import is_heartbeat_enabled

    from hpsearch.engines.optuna.shared import make_storage

    url = f"sqlite:///{tmp_path / 'o.db'}" if kind == "sqlite" else f"journal:{tmp_path / 'o.log'}"
    storage = make_storage(optuna, url, timeout=8.0)
    assert is_heartbeat_enabled(storage) == (kind == "sqlite")
    if kind == "sqlite":
        assert storage.get_heartbeat_interval() == 2 and storage.grace_period == 8
        assert storage.get_heartbeat_stale_trial_callback() is not None
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    optuna.create_study(study_name="s/r", storage=storage).optimize(lambda t: 1.0, n_trials=2)
    again = optuna.load_study(
        study_name="s/r", storage=make_storage(optuna, url, 8.0, create=False)
    )
    assert len(again.trials) == 2


def test_on_a_journal_a_dead_workers_trial_and_an_earlier_sessions_are_failed(
    tmp_path: Path,
) -> None:
    """No Optuna heartbeats there: a running trial of a worker judged dead, or of this very
    process in an earlier session (a killed run, now resumed), is failed; others run on."""
    from types import SimpleNamespace

    import optuna

    from hpsearch.engines.optuna.shared import fail_lost_trials, make_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    ostudy = optuna.create_study(storage=make_storage(optuna, f"journal:{tmp_path / 'j.log'}", 8.0))
    owners = [("w1", "s1"), ("w2", "s2"), ("", "old"), ("", "now")]
    for worker, session in owners:
        trial = ostudy.ask()
        trial.set_user_attr("worker", worker)
        trial.set_user_attr("session", session)
    run = SimpleNamespace(worker="", session="now")
    assert fail_lost_trials(ostudy, run, dead={"w1"}) == [0, 2]
    states = [t.state.name for t in ostudy.get_trials()]
    assert states == ["FAIL", "RUNNING", "FAIL", "RUNNING"]


def test_a_worker_opening_a_locked_database_waits_for_it(tmp_path: Path) -> None:
    """A shared SQLite file that another process holds locked (the run writing) refuses the
    worker's first look with Optuna's StorageInternalError over SQLite's OperationalError: a
    race, tried again, not the one-line refusal of an unusable storage."""
    import sqlite3
    import threading
    import types

    import optuna

    from hpsearch.engines.optuna import shared as optuna_shared

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    db = tmp_path / "optuna.db"
    workdir = tmp_path / "results" / "tiny" / "20260101-000000-aaaa" / "state" / "optuna"
    name = "tiny/20260101-000000-aaaa"
    optuna.create_study(study_name=name, storage=f"sqlite:///{db}")
    ctx = types.SimpleNamespace(
        settings=types.SimpleNamespace(storage=f"sqlite:///{db}", worker_timeout=4.0),
        study=types.SimpleNamespace(name="tiny"),
        workdir=workdir,
        worker="w1",
    )
    lock = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    lock.execute("BEGIN EXCLUSIVE")  # held past SQLite's 5 s busy timeout
    release = threading.Timer(7.0, lambda: lock.execute("ROLLBACK"))
    release.start()
    try:
        ostudy = optuna_shared.open_study(optuna, ctx, direction="minimize")
    finally:
        release.join()
        lock.close()
    assert ostudy.study_name == name
