"""The live tables grow by appends, at a cost that does not grow with the run, and keep their
guarantees: a reader never sees a torn row, a finished trial is on disk when `on_trial`
returns, nothing is lost to kill -9, and the tables are whole and sorted when an engine ends.
Nothing here trains a model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd

from hpsearch.rundir.live import LiveRun
from hpsearch.rundir.read import load_run
from hpsearch.study.trials import TrialRecord, read_histories, read_trials, trials_dataframe

from conftest import ROOT


def _record(trial: int, engine: str = "optuna", error: str = "", **params) -> TrialRecord:
    return TrialRecord(
        engine=engine,
        trial=f"{trial:03d}",
        status="failed" if error else "ok",
        params={"n_hidden": 2, "learning_rate": 0.001 * (trial + 1), **params},
        metric="val_loss",
        direction="minimize",
        val_score=float("nan") if error else 1.0 / (trial + 1),
        error=error,
    )


def _live(run_dir, engines=("optuna",), previous=(), previous_history=()) -> LiveRun:
    return LiveRun(
        run_dir,
        {"study": "s"},
        dict.fromkeys(engines, 100),
        dict.fromkeys(engines, ("val_loss", "minimize")),
        previous,
        previous_history,
    )


def _history(trial: int, epochs: int = 2) -> list[dict]:
    return [
        {"engine": "optuna", "trial": f"{trial:03d}", "fit": "0", "epoch": e, "metric": m,
         "value": trial + e / 10}
        for e in range(1, epochs + 1)
        for m in ("loss", "val_loss")
    ]  # fmt: skip


def test_a_trial_is_appended_not_the_table_rewritten(tmp_path):
    live = _live(tmp_path)
    live.on_history(_record(0), _history(0))
    live.on_trial(_record(0))
    inodes = {(tmp_path / "trials.csv").stat().st_ino, (tmp_path / "histories.csv").stat().st_ino}
    for trial in range(1, 30):
        live.on_history(_record(trial), _history(trial))
        live.on_trial(_record(trial))
        # on disk when on_trial returns: a reader sees it at once
        assert [r.trial for r in read_trials(tmp_path / "trials.csv")][-1] == f"{trial:03d}"
    # the same files, grown: an atomic rewrite would have put a new file (inode) in place
    assert {(tmp_path / "trials.csv").stat().st_ino,
            (tmp_path / "histories.csv").stat().st_ino} == inodes  # fmt: skip
    assert len(read_histories(tmp_path / "histories.csv")) == 30 * 4
    status = json.loads((tmp_path / "status.json").read_text())["engines"]["optuna"]
    assert status["trials_done"] == 30 and status["best_trial"] == "029"


def test_appended_rows_read_back_as_a_whole_table_write_would(tmp_path):
    live = _live(tmp_path, engines=("optuna", "sklearn"))
    records = [_record(t, engine=e) for t in range(5) for e in ("sklearn", "optuna")]
    for record in reversed(records):  # out of order, as parallel trials finish
        live.on_trial(record)
    appended = read_trials(tmp_path / "trials.csv")
    live.finish_engine("optuna", [r for r in records if r.engine == "optuna"], "finished")
    live.finish_engine("sklearn", [r for r in records if r.engine == "sklearn"], "finished")
    whole = read_trials(tmp_path / "trials.csv")
    key = lambda r: (r.engine, r.trial)  # noqa: E731
    pd.testing.assert_frame_equal(
        trials_dataframe(sorted(appended, key=key)), trials_dataframe(whole)
    )
    # the end: sorted by engine, then trial
    assert [(r.engine, r.trial) for r in whole] == [
        (e, f"{t:03d}") for e in ("optuna", "sklearn") for t in range(5)
    ]


def test_a_reported_again_trial_a_new_column_and_a_line_break_rewrite_the_table(tmp_path):
    live = _live(tmp_path)
    for trial in range(3):
        live.on_trial(_record(trial))
    live.on_trial(_record(1, error="cut off"))  # reported again (a resumed engine)
    live.on_trial(_record(3, units=32))  # a model factory's parameter first seen
    inode = (tmp_path / "trials.csv").stat().st_ino
    live.on_trial(_record(4, error="Traceback:\n  line 1\nValueError: bad"))
    # not appended: a reader of complete lines could stop inside that value
    assert (tmp_path / "trials.csv").stat().st_ino != inode
    inode = (tmp_path / "trials.csv").stat().st_ino
    live.on_trial(_record(5))
    assert (tmp_path / "trials.csv").stat().st_ino == inode
    back = read_trials(tmp_path / "trials.csv")
    assert [r.trial for r in back] == ["000", "001", "002", "003", "004", "005"]
    assert back[1].status == "failed" and back[1].error == "cut off"
    assert back[3].params["units"] == 32 and "units" not in back[5].params
    assert back[4].error == "Traceback:\n  line 1\nValueError: bad"
    status = json.loads((tmp_path / "status.json").read_text())["engines"]["optuna"]
    assert (status["trials_done"], status["trials_failed"]) == (6, 2)


def test_a_row_cut_in_mid_write_is_not_read(tmp_path):
    live = _live(tmp_path)
    for trial in range(3):
        live.on_history(_record(trial), _history(trial))
        live.on_trial(_record(trial))
    for name in ("trials.csv", "histories.csv"):  # what a kill in mid-append leaves
        path = tmp_path / name
        path.write_bytes(path.read_bytes() + path.read_bytes().splitlines(True)[-1][:9])
    assert [r.trial for r in read_trials(tmp_path / "trials.csv")] == ["000", "001", "002"]
    assert len(read_histories(tmp_path / "histories.csv")) == 12
    run = load_run(tmp_path)
    assert list(run.trials["trial"]) == ["000", "001", "002"] and len(run.histories) == 12
    # the next run of it (a resume) writes the table whole again
    live = _live(tmp_path, previous=read_trials(tmp_path / "trials.csv"))
    live.on_trial(_record(3))
    assert (tmp_path / "trials.csv").read_bytes().count(b"\n") == 5


WRITER = """
import sys
from pathlib import Path
from test_live_store import _history, _live, _record
live = _live(Path(sys.argv[1]))
trial = 0
while True:
    live.on_history(_record(trial), _history(trial, epochs=3))
    live.on_trial(_record(trial, error="x" * (trial % 7) * 300))  # rows of many sizes
    print(trial, flush=True)
    trial += 1
"""

READER = """
import sys, time
from pathlib import Path
from hpsearch.rundir.read import load_run
from hpsearch.study.trials import read_trials
run_dir, deadline, reads = Path(sys.argv[1]), time.monotonic() + float(sys.argv[2]), 0
while time.monotonic() < deadline:
    if not (run_dir / "trials.csv").exists():
        continue
    records = read_trials(run_dir / "trials.csv")
    ids = [r.trial for r in records]
    assert ids == [f"{t:03d}" for t in range(len(ids))], ids[-3:]
    for r in records:
        t = int(r.trial)
        assert r.error == "x" * (t % 7) * 300, (r.trial, len(r.error))
        assert r.params["learning_rate"] == 0.001 * (t + 1) and r.params["n_hidden"] == 2
    run = load_run(run_dir)
    assert run.trials["trial"].is_unique and run.histories["value"].notna().all()
    reads += 1
print(reads)
"""


def test_kill_9_while_trials_are_written_and_read_loses_nothing(tmp_path):
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}"}
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(tmp_path), "6"], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    reported = []
    deadline = time.monotonic() + 60
    while len(reported) < 300 and time.monotonic() < deadline:  # mid-stream, whatever the speed
        line = writer.stdout.readline()
        if not line:
            break
        reported.append(int(line))
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err[-800:]
    assert int(out) > 10, out  # it did read while the trials were written
    assert len(reported) >= 300, writer.stderr.read()[-800:]
    records = read_trials(tmp_path / "trials.csv")
    # every trial it reported is there (it may have finished one more before the kill)
    assert len(records) - len(reported) in (0, 1)
    assert [r.trial for r in records] == [f"{t:03d}" for t in range(len(records))]
    histories = pd.DataFrame(read_histories(tmp_path / "histories.csv"))
    assert set(histories["trial"]) >= {r.trial for r in records}
    # a resume carries on from there and ends with whole tables
    live = _live(tmp_path, previous=records, previous_history=histories.to_dict("records"))
    n = len(records)
    live.on_history(_record(n), _history(n, epochs=3))
    live.on_trial(_record(n))
    live.finish_engine("optuna", [*records, _record(n)], "finished", [
        *histories.to_dict("records"), *_history(n, epochs=3)])  # fmt: skip
    assert [r.trial for r in read_trials(tmp_path / "trials.csv")] == [
        f"{t:03d}" for t in range(n + 1)
    ]
