"""Fast, in-process checks of the run's bookkeeping: resumed tables never go backwards, a
run still running is not resumed twice, failed writes are the machine's failure, temporary
files are never mistaken for results. Nothing here trains a model."""

from __future__ import annotations

import json
import os
import pickle
import socket

import pandas as pd
import pytest

from hpsearch.errors import ResumeMismatch
from hpsearch.rundir.live import LiveRun
from hpsearch.study.trials import TrialRecord, read_trials, trials_dataframe


def _record(engine: str, trial: str, score: float, status: str = "ok") -> TrialRecord:
    return TrialRecord(
        engine=engine,
        trial=trial,
        status=status,
        params={"n_hidden": 2, "learning_rate": 0.001, "activation": "relu"},
        metric="val_loss",
        direction="minimize",
        val_score=score,
        n_fits=3,
        epochs_run=4.0,
        started_at="2026-01-01T00:00:00+00:00",
        error="",
    )


def test_trials_csv_round_trips_to_records(tmp_path):
    records = [
        _record("sklearn", "000", 0.5),
        _record("keras_tuner", "001", float("nan"), "failed"),
    ]
    path = tmp_path / "trials.csv"
    trials_dataframe(records).to_csv(path, index=False)
    back = read_trials(path)
    assert [r.trial for r in back] == ["000", "001"]  # ids stay text
    pd.testing.assert_frame_equal(trials_dataframe(back), trials_dataframe(records))
    assert back[1].status == "failed" and back[1].val_score != back[1].val_score
    assert read_trials(tmp_path / "missing.csv") == []


def test_a_resumed_run_keeps_its_earlier_rows_until_they_are_reported_again(tmp_path):
    previous = [_record("sklearn", f"00{i}", 0.5 + i) for i in range(3)] + [
        _record("keras_tuner", "000", 0.7)
    ]
    live = LiveRun(
        tmp_path,
        {"study": "s"},
        {"sklearn": 3, "keras_tuner": 2},
        {"sklearn": ("loss", "minimize"), "keras_tuner": ("val_loss", "minimize")},
        previous,
    )
    live.start_engine("sklearn")
    live.on_trial(_record("sklearn", "000", 0.5))  # the first trial replayed by the resume
    table = pd.read_csv(tmp_path / "trials.csv", dtype={"trial": str})
    assert list(zip(table["engine"], table["trial"], strict=True)) == [
        ("sklearn", "000"),
        ("sklearn", "001"),
        ("sklearn", "002"),
        ("keras_tuner", "000"),
    ]
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["engines"]["sklearn"]["trials_done"] == 3
    assert status["engines"]["keras_tuner"]["trials_done"] == 1
    assert status["engines"]["sklearn"]["best_score"] == 0.5  # minimize
    from hpsearch.run.status import format_status

    rows = [line.split()[0] for line in format_status(status).splitlines()[3:]]
    assert rows == ["sklearn", "keras_tuner"]  # the study's order, not JSON's sorted keys


def test_a_run_still_running_is_not_resumed(tmp_path):
    from hpsearch.rundir.resume import read_run

    (tmp_path / "run.json").write_text(
        json.dumps({"seed": 1, "engines": ["sklearn"], "data_fingerprint": "x"})
    )
    (tmp_path / "study.toml").write_text("")
    status = {"state": "running", "pid": os.getpid(), "host": socket.gethostname()}
    (tmp_path / "status.json").write_text(json.dumps(status))
    with pytest.raises(ResumeMismatch, match="it is still running"):
        read_run(tmp_path)
    status["pid_started"] = "1"  # this pid, but a process started at another time: reused
    (tmp_path / "status.json").write_text(json.dumps(status))
    assert read_run(tmp_path)["seed"] == 1  # the run's own process is gone: resumable
    status["pid"] = 2**22 + 12345  # above Linux's pid_max: no such process
    (tmp_path / "status.json").write_text(json.dumps(status))
    assert read_run(tmp_path)["seed"] == 1  # killed: resumable
    # a process that exited but was never reaped (a zombie: an orphan whose new parent does
    # not wait for it) still answers kill(pid, 0): it is gone all the same
    import subprocess
    import sys
    import time

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        from hpsearch.rundir.live import _started, _stat

        while _stat(child.pid, 0) != "Z":
            time.sleep(0.01)
        status.update(pid=child.pid, pid_started=_started(child.pid))
        (tmp_path / "status.json").write_text(json.dumps(status))
        assert read_run(tmp_path)["seed"] == 1
    finally:
        child.wait()


def test_a_failed_write_of_a_finished_fit_is_the_machines_failure(tmp_path, monkeypatch):
    from hpsearch.engines.common import EnvironmentFailure
    from hpsearch.engines.sklearn.fitcache import _store
    from hpsearch.engines.sklearn.fitstore import FitStore

    def full_disk(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(FitStore, "put", full_disk)
    with pytest.raises(EnvironmentFailure, match="No space left"):
        _store(FitStore(tmp_path), "key", {"status": "ok"})


def test_the_search_keeps_its_live_callback_when_sent_to_workers():
    """sklearn pickles the search for its workers (n_jobs > 1): the parent keeps reporting."""
    from hpsearch.engines.sklearn.fitcache import UniqueRandomizedSearchCV

    search = UniqueRandomizedSearchCV(None, {"a": [1, 2]})
    search.on_batch = report = print
    copy = pickle.loads(pickle.dumps(search))
    assert search.on_batch is report  # still here
    assert copy.on_batch is None  # the workers get none


def test_temporary_model_files_are_not_engines(tmp_path):
    from hpsearch.report.best import saved_engines

    (tmp_path / "best").mkdir()
    for name in ("sklearn.pkl", ".sklearn.x1y2.pkl", "keras_tuner.keras"):
        (tmp_path / "best" / name).write_bytes(b"")
    assert saved_engines(tmp_path) == ["sklearn"]


def test_pruned_trials_are_counted_apart_from_failed_ones(tmp_path):
    """status.json, `hpsearch status` and summary.csv's row: pruned is not failed."""
    from hpsearch.engines.base import EngineResult
    from hpsearch.run.runner import summary_row
    from hpsearch.run.status import format_status
    from hpsearch.study.config import parse_study

    records = [
        _record("optuna", "000", 0.5),
        _record("optuna", "001", float("nan"), "pruned"),
        _record("optuna", "002", 0.4, "pruned"),
        _record("optuna", "003", float("nan"), "failed"),
    ]
    live = LiveRun(tmp_path, {"study": "s"}, {"optuna": 5}, {"optuna": ("val_loss", "minimize")})
    for record in records:
        live.on_trial(record)
    status = json.loads((tmp_path / "status.json").read_text())
    engine = status["engines"]["optuna"]
    assert (engine["trials_done"], engine["trials_failed"], engine["trials_pruned"]) == (4, 1, 2)
    assert (
        engine["best_trial"] == "000"
    )  # a pruned trial's (lower) score at its stop is not the best
    header, row = format_status(status).splitlines()[2:4]
    assert header.split()[2:5] == ["trials", "failed", "pruned"]
    assert row.split()[2:5] == ["4/5", "1", "2"]
    assert [r.failed for r in records] == [False, False, False, True]

    study = parse_study(
        "[study]\nname = 's'\ndataset = 'california_housing'\n"
        "engines = ['optuna']\n[optuna]\nobjective = 'val_loss'\n"
    )
    row = summary_row(study, EngineResult("optuna", records, records[0]))
    assert (row["n_trials"], row["n_failed"], row["n_pruned"]) == (4, 1, 2)


def test_a_resumed_run_counts_every_session_a_killed_one_up_to_its_last_update(tmp_path):
    """Session 1 ran 20 s; session 2 was killed 13 s in (status.json's last update says 33 s
    in all, run.json still 20): the resume counts [20, 13]. A status.json from before it
    kept wall_seconds gives its session's span from start to last update."""
    from hpsearch.rundir.live import closed_sessions

    info = {
        "started_at": "2026-01-01T00:00:00+00:00",
        "resumed_at": ["2026-01-01T01:00:00+00:00"],
        "session_seconds": [20.0, 2.5],
        "wall_seconds": 22.5,
    }
    (tmp_path / "status.json").write_text(
        json.dumps(
            {"state": "running", "updated_at": "2026-01-01T01:00:13+00:00", "wall_seconds": 33.0}
        )
    )
    assert closed_sessions(tmp_path, info) == [20.0, 13.0]
    (tmp_path / "status.json").write_text(
        json.dumps({"state": "interrupted", "updated_at": "2026-01-01T00:00:44+00:00"})
    )
    assert closed_sessions(tmp_path, {"started_at": "2026-01-01T00:00:00+00:00"}) == [44.0]
    # the live side: each session's seconds, the earlier ones kept as they were
    live = LiveRun(
        tmp_path, {}, {"sklearn": 1}, {"sklearn": ("val_loss", "minimize")}, sessions=[20.0, 13.0]
    )
    assert live.session_seconds()[:2] == [20.0, 13.0] and live.wall_seconds() >= 33.0
    live.finish("interrupted")
    assert json.loads((tmp_path / "status.json").read_text())["wall_seconds"] >= 33.0
