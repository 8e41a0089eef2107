"""The queue runner (hpsearch/serve/executor.py) with a stand-in for `python -m hpsearch`: a
script that logs its arguments and the signals it gets, so order, one-at-a-time, stop,
shutdown and recovery are checked in seconds (test_serve_browser.py trains for real)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from hpsearch.serve.executor import Executor
from hpsearch.serve.jobs import STOPPED_FROM_PAGE, STOPPING, JobStore

FAKE = f"""#!{sys.executable}
import os, signal, sys, time
log = os.environ["FAKE_LOG"]
def say(what):
    with open(log, "a") as f:
        f.write(f"{{os.getpid()}} {{what}}\\n")
def stop(*_):
    say("sigint")
    if os.environ.get("FAKE_SLOW_STOP"):  # a clean stop takes a while (the epoch ends)
        time.sleep(1.0)
    sys.exit(130)
signal.signal(signal.SIGINT, stop)
say("start " + " ".join(sys.argv[3:5]))
time.sleep(float(os.environ.get("FAKE_SECONDS", "0.6")))
say("end")
"""


def _executor(tmp_path: Path, monkeypatch, seconds: float = 0.6) -> tuple[JobStore, Executor, Path]:
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE)
    fake.chmod(0o755)
    log = tmp_path / "log.txt"
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("FAKE_SECONDS", str(seconds))
    results = tmp_path / "results"
    store = JobStore(results)
    return store, Executor(store, results, python=str(fake), log=lambda m: None), log


def _lines(log: Path) -> list[str]:
    return [line.split(" ", 1)[1] for line in log.read_text().splitlines()] if log.exists() else []


def _wait(condition, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_jobs_run_one_at_a_time_in_order(tmp_path: Path, monkeypatch) -> None:
    store, executor, log = _executor(tmp_path, monkeypatch)
    first = store.submit("x", "a.toml", "a")
    second = store.submit("x", "b.toml", "b")
    executor.start()
    try:
        _wait(lambda: all(store.get(j.id).state == "finished" for j in (first, second)))
    finally:
        executor.shutdown()
    lines = _lines(log)
    assert lines[0].startswith("start run ") and lines[0].endswith("a.toml")
    assert lines[1] == "end"  # the second starts only after the first ended
    assert lines[2].endswith("b.toml") and lines[3] == "end"


def test_stop_sends_sigint_to_the_running_study(tmp_path: Path, monkeypatch) -> None:
    store, executor, log = _executor(tmp_path, monkeypatch, seconds=30)
    job = store.submit("x", "a.toml", "a")
    store.update(job, run="a/r1")  # as if its run folder had been found
    executor.start()
    try:
        _wait(lambda: "start" in " ".join(_lines(log)))
        executor.stop_run("a/r1")
        _wait(lambda: store.get(job.id).state != "running")
    finally:
        executor.shutdown()
    assert _lines(log)[-1] == "sigint"


def test_shutdown_stops_the_study_and_leaves_it_to_resume(tmp_path: Path, monkeypatch) -> None:
    store, executor, log = _executor(tmp_path, monkeypatch, seconds=30)
    job = store.submit("x", "a.toml", "a")
    executor.start()
    _wait(lambda: "start" in " ".join(_lines(log)))
    executor.shutdown(timeout=10)
    assert _lines(log)[-1] == "sigint"
    assert store.get(job.id).state == "running"  # the next server resumes it

    store.update(store.get(job.id), run="a/r1")
    (tmp_path / "results" / "a" / "r1").mkdir(parents=True)
    store2, executor2, _ = _executor(tmp_path, monkeypatch, seconds=0.2)
    executor2.start()
    try:
        _wait(lambda: store2.get(job.id).state != "running")
    finally:
        executor2.shutdown()
    assert _lines(log)[-2].startswith("start resume ") and _lines(log)[-2].endswith("a/r1")


def test_a_dead_servers_child_is_waited_for_before_the_resume(tmp_path: Path, monkeypatch) -> None:
    store, executor, log = _executor(tmp_path, monkeypatch, seconds=0.2)
    sleeper = os.fork()
    if sleeper == 0:  # the old server's child, still stopping
        time.sleep(1.0)
        os._exit(0)
    job = store.update(store.submit("x", "a.toml", "a"), state="running", pid=sleeper, run="a/r1")
    (tmp_path / "results" / "a" / "r1").mkdir(parents=True)
    started = time.monotonic()
    executor.start()
    try:
        _wait(lambda: "start" in " ".join(_lines(log)))
        assert time.monotonic() - started >= 0.9
    finally:
        executor.shutdown()
        os.waitpid(sleeper, 0)
    assert store.get(job.id).kind == "run" and _lines(log)[0].startswith("start resume")


def test_a_second_stop_sends_no_second_sigint(tmp_path: Path, monkeypatch) -> None:
    """A second SIGINT would land inside the study's clean stop and cut it short."""
    store, executor, log = _executor(tmp_path, monkeypatch, seconds=30)
    monkeypatch.setenv("FAKE_SLOW_STOP", "1")
    job = store.update(store.submit("x", "a.toml", "a"), run="a/r1")
    executor.start()
    try:
        _wait(lambda: "start" in " ".join(_lines(log)))
        executor.stop_run("a/r1")
        executor.stop_run("a/r1")  # a second click
        _wait(lambda: store.get(job.id).state != "running")
        executor.shutdown()
    finally:
        executor.shutdown()
    assert _lines(log).count("sigint") == 1


def test_a_job_cancelled_before_its_launch_is_not_started(tmp_path: Path, monkeypatch) -> None:
    store, executor, log = _executor(tmp_path, monkeypatch)
    stale = store.submit("x", "a.toml", "a")  # the queue runner's snapshot
    store.cancel(stale.id)  # the API wins the race
    executor._launch(stale)
    assert executor.current() is None and store.get(stale.id).state == "cancelled"
    assert not log.exists()


def test_damaged_or_foreign_job_records_are_not_jobs(tmp_path: Path, monkeypatch) -> None:
    store, _, _ = _executor(tmp_path, monkeypatch)
    good = store.submit("x", "a.toml", "a")
    (store.root / "20260101-000000-00000000.json").write_text("[]")
    (store.root / "20260101-000000-00000001.json").write_text(
        '{"id": "../../x", "study": "a", "kind": "run", "seq": 1}'
    )
    (store.root / "20260101-000000-00000002.json").write_text(
        '{"id": "20260101-000000-00000002", "study": "a", "kind": "run", "seq": "x"}'
    )
    assert [j.id for j in store.all()] == [good.id]


def test_a_reused_pid_is_not_the_dead_servers_child(tmp_path: Path, monkeypatch) -> None:
    """After a reboot the old child's pid may belong to anything: its start time tells."""
    store, executor, log = _executor(tmp_path, monkeypatch, seconds=0.2)
    job = store.update(
        store.submit("x", "a.toml", "a"),
        state="running",
        pid=os.getpid(),
        pid_started="1",
        run="a/r1",
    )  # alive, but started at another time
    (tmp_path / "results" / "a" / "r1").mkdir(parents=True)
    executor.start()
    try:
        _wait(lambda: "start" in " ".join(_lines(log)), seconds=10)
    finally:
        executor.shutdown()
    assert _lines(log)[0].startswith("start resume") and store.get(job.id).state != "queued"


def test_a_run_stopped_from_the_page_is_not_resumed_by_the_next_server(
    tmp_path: Path, monkeypatch
) -> None:
    """The server died while the study stopped as asked: the next one records the stop (and
    the page's reason) rather than resume what the user stopped."""
    store, executor, log = _executor(tmp_path, monkeypatch, seconds=0.2)
    job = store.update(
        store.submit("x", "a.toml", "a"),
        state="running",
        run="a/r1",
        stopped_by="page",
        message=STOPPING,
    )
    run = tmp_path / "results" / "a" / "r1"
    run.mkdir(parents=True)
    (run / "status.json").write_text(
        '{"state": "interrupted", "message": "stopped by Ctrl-C or SIGTERM"}'
    )
    executor.start()
    try:
        _wait(lambda: store.get(job.id).state != "running")
    finally:
        executor.shutdown()
    assert (
        store.get(job.id).state == "interrupted" and store.get(job.id).message == STOPPED_FROM_PAGE
    )
    assert not log.exists()  # no resume started


def test_a_finished_resume_settles_the_jobs_it_resumed(tmp_path: Path, monkeypatch) -> None:
    store, executor, log = _executor(tmp_path, monkeypatch, seconds=0.2)
    run = tmp_path / "results" / "a" / "r1"
    run.mkdir(parents=True)
    (run / "status.json").write_text('{"state": "finished", "message": ""}')
    stopped = store.update(
        store.submit("x", "a.toml", "a"),
        state="interrupted",
        run="a/r1",
        message="interrupted; ... Resume with: python -m hpsearch resume a/r1",
    )
    other = store.update(store.submit("x", "b.toml", "b"), state="interrupted", run="b/r2")
    resume = store.resume("a/r1")
    executor.start()
    try:
        _wait(
            lambda: (
                store.get(resume.id).state != "queued" and store.get(resume.id).state != "running"
            )
        )
    finally:
        executor.shutdown()
    assert store.get(resume.id).state == "finished"
    assert store.get(stopped.id).state == "finished"
    assert store.get(stopped.id).message == f"resumed as job {resume.id}: finished"
    assert store.get(other.id) == other  # another run's job is left alone
