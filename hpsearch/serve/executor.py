"""Runs the queue's jobs one at a time, each in a child `python -m hpsearch run|resume`.

The server stays responsive (training is another process), and a study stops the way it
stops from a terminal: SIGINT, the run's clean interrupt, resumable. The child is told to
stop the same way when the server dies, even by kill -9 (Linux's parent-death signal);
a restarted server resumes the job that was running, so no finished trial is lost.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hpsearch.files import now
from hpsearch.rundir.live import _started, read_status
from hpsearch.serve.jobs import ENDED, STOPPED_FROM_PAGE, STOPPING, Job, JobConflict, JobStore

POLL_SECONDS = 0.5
PRUNE_SECONDS = 3600.0  # ended jobs past --keep-jobs are looked for hourly
KEEP_JOBS_DAYS = 30.0
STOP_WAIT_SECONDS = 120.0  # a clean stop finishes the epoch in progress first


def _die_with_parent() -> Callable[[], None] | None:
    """A pre-exec step for the child: SIGINT when the thread that started it ends, that is
    when the server dies (Linux's PR_SET_PDEATHSIG). prctl is looked up here, in the parent:
    the forked child of a threaded server should only call it."""
    if sys.platform != "linux":
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def step() -> None:
        prctl(1, signal.SIGINT)
        if os.getppid() != parent:  # the server died before the signal was set
            os._exit(1)

    return step


class Executor:
    """A thread that starts the next queued job when none runs, and watches the one running."""

    def __init__(
        self,
        store: JobStore,
        results_dir: Path,
        *,
        python: str = sys.executable,
        extra_args: tuple[str, ...] = (),
        log: Callable[[str], None] | None = None,
        keep_jobs_days: float = KEEP_JOBS_DAYS,
    ) -> None:
        self.store, self.results_dir = store, Path(results_dir)
        self.keep_jobs_days = keep_jobs_days
        self.python, self.extra_args = python, extra_args
        self.log = log or (lambda msg: print(f"hpsearch serve: {msg}", file=sys.stderr))
        self._proc: subprocess.Popen | None = None
        self._job: Job | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop_sent = False  # one SIGINT per study: a second would cut its clean stop short
        self._stop_timeout = STOP_WAIT_SECONDS

    # --- the server's calls ------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:  # once: `serve` starts it before the web server's threads
            self._thread = threading.Thread(target=self._loop, name="hpsearch-queue", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """A job was queued: look now rather than at the next poll."""
        self._wake.set()

    def current(self) -> Job | None:
        with self._lock:
            return self._job

    def stop_run(self, run: str) -> Job:
        """Ask the child running `run` to stop cleanly (SIGINT, as Ctrl-C in a terminal)."""
        with self._lock:
            job, proc = self._job, self._proc
            if job is None or proc is None or job.run != run:
                raise JobConflict(f"{run}: expected a run this server is running, found none")
            if not self._stop_sent:
                self._stop_sent = True
                proc.send_signal(signal.SIGINT)
                job = self._job = self.store.update(job, stopped_by="page", message=STOPPING)
            return job

    def prune(self) -> None:
        """Drop the records of jobs that ended more than keep_jobs_days ago."""
        removed = self.store.prune(self.keep_jobs_days)
        if removed:
            self.log(
                f"removed {len(removed)} job record(s) older than {self.keep_jobs_days:g} days"
            )

    def shutdown(self, timeout: float = STOP_WAIT_SECONDS) -> None:
        """Stop the loop; a running study is stopped cleanly and stays marked running, so
        that the next `serve` resumes it. The loop's own thread stops the child: its ending
        would send the child a second SIGINT (the parent-death signal) mid-stop."""
        self._stop_timeout = timeout
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout + 10)

    def _stop_child(self) -> None:
        with self._lock:
            proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        self.log(
            "stopping the running study cleanly (it finishes its epoch); it resumes "
            "when serve starts again"
        )
        if not self._stop_sent:
            self._stop_sent = True
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=self._stop_timeout)
        except subprocess.TimeoutExpired:
            self.log(f"the study (pid {proc.pid}) is still stopping; it will be resumed later")

    # --- the loop ----------------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            for job in self.store.all():  # a previous server's running job comes first
                if job.state == "running" and not self._stopping.is_set():
                    self._guarded(self._recover, job)
            pruned = time.monotonic()  # `serve` pruned once at start (app.py)
            while not self._stopping.is_set():
                if time.monotonic() - pruned > PRUNE_SECONDS:
                    pruned = time.monotonic()
                    self._guarded(self.prune)
                self._guarded(self._step)
                self._wake.wait(POLL_SECONDS)
                self._wake.clear()
        finally:
            self._stop_child()

    def _guarded(self, step: Callable[..., None], *args: Any) -> None:
        try:
            step(*args)
        except Exception as exc:  # the queue must outlive any one job's trouble
            self.log(f"queue: {type(exc).__name__}: {exc}")

    def _step(self) -> None:
        with self._lock:
            job, proc = self._job, self._proc
        if job is not None and proc is not None:
            if job.run is None:
                self._find_run(job)
            code = proc.poll()
            if code is not None:
                self._ended(job, code)
            return
        queued = self.store.queued()
        if queued and not self._stopping.is_set():
            self._launch(queued[0])

    def _recover(self, job: Job) -> None:
        """A job left running by a server that died: wait for its child to end, then resume
        it (or start it again when it had not made its run folder yet)."""
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        while job.pid and _pid_alive(job.pid, job.pid_started) and time.monotonic() < deadline:
            if self._stopping.is_set():
                return
            time.sleep(POLL_SECONDS)  # its child is still stopping (parent-death SIGINT)
        if job.run is None:
            job = self._find_run(job) or job
        if job.run is not None:
            try:
                state = read_status(self.results_dir / job.run)["state"]
            except Exception:
                state = "interrupted"  # no status.json yet: resume says what is missing
            if state in ("finished", "failed"):  # it ended before the server died
                self._settle(job, state, "")
                return
            if state == "interrupted" and job.stopped_by == "page":  # stopped as asked: no resume
                self._settle(job, state, STOPPED_FROM_PAGE)
                return
        self.log(
            f"job {job.id} was running when the server stopped: "
            + ("resuming it" if job.run else "starting it again")
        )
        self._launch(job, resume=job.run is not None)

    def _command(self, job: Job, resume: bool) -> list[str]:
        base = [self.python, "-m", "hpsearch"]
        if resume and job.run is not None:
            return [*base, "resume", str(self.results_dir / job.run), "--quiet", *self.extra_args]
        return [
            *base,
            "run",
            str(self.store.study_path(job)),
            "--output-dir",
            str(self.results_dir),
            "--quiet",
            *self.extra_args,
        ]

    def _launch(self, job: Job, resume: bool | None = None) -> None:
        """Start `job` (a queued one only if it is still queued: a cancel may have won)."""
        resume = job.kind == "resume" if resume is None else resume
        folder = self.store.folder(job)
        folder.mkdir(parents=True, exist_ok=True)
        with self.store.lock, self._lock, open(folder / "log.txt", "ab") as log:
            current = self.store.get(job.id)
            if current is None or current.state != job.state:
                return
            self._proc = subprocess.Popen(
                self._command(current, resume),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # the server's Ctrl-C reaches the child through us
                preexec_fn=_die_with_parent(),
            )
            self._stop_sent = False
            self._job = self.store.update(
                current,
                state="running",
                started_at=current.started_at or now(),
                pid=self._proc.pid,
                pid_started=_started(self._proc.pid),
                message="",
                stopped_by=None,
            )

    def _find_run(self, job: Job) -> Job | None:
        """The run folder a `run` job's child made: its run.json names the job's study file."""
        path = self.store.study_path(job)
        if path is None:
            return None
        wanted = str(path.resolve())
        for info in (self.results_dir / job.study).glob("*/run.json"):
            try:
                if json.loads(info.read_text(encoding="utf-8")).get("source_path") == wanted:
                    found = self.store.update(job, run=f"{job.study}/{info.parent.name}")
                    with self._lock:
                        if self._job is not None and self._job.id == job.id:
                            self._job = found
                    return found
            except (OSError, ValueError):
                continue
        return None

    def _ended(self, job: Job, code: int) -> None:
        job = self.store.get(job.id) or job  # a Stop may have marked it since our snapshot
        if job.run is None:
            job = self._find_run(job) or job
        state, message = ("finished" if code == 0 else "failed"), ""
        if job.run is not None:
            try:
                status = read_status(self.results_dir / job.run)
                state, message = status["state"], status.get("message", "")
            except Exception:  # no status.json: the child failed before its run began
                pass
        if code != 0:  # the child's own line (a refused resume) over the run's older status
            message = (
                _last_error(self.store.folder(job) / "log.txt") or message or f"exit code {code}"
            )
        state = state if state in ENDED else "failed"
        if state == "interrupted" and job.stopped_by == "page":
            message = STOPPED_FROM_PAGE  # the run itself can only say Ctrl-C or SIGTERM
        with self._lock:
            self._job = self._proc = None
        self._settle(job, state, message)
        self.log(
            f"job {job.id} ({job.study}) ended: {state}" + (f" ({message})" if message else "")
        )

    def _settle(self, job: Job, state: str, message: str) -> None:
        """Record how `job` ended; the earlier jobs of its run that it resumed say so too,
        rather than keep their "interrupted ... Resume with" line."""
        self.store.update(job, state=state, ended_at=now(), message=message[:500], pid=None)
        if job.run is None:
            return
        for old in self.store.all():
            if old.run == job.run and old.seq < job.seq and old.state in ("interrupted", "failed"):
                # its run finished; a resume that failed leaves the run as it was (resumable)
                self.store.update(
                    old,
                    state="finished" if state == "finished" else old.state,
                    message=f"resumed as job {job.id}: {state}",
                )


def _pid_alive(pid: int, started: str | None = None) -> bool:
    """Is process `pid` alive, and (when `started` is known) the same process that started
    then? A zombie (our own dead child) is not alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return True
    return fields[0] != "Z" and (started is None or fields[19] == started)


def _last_error(log: Path) -> str:
    """The child's one-line error (`hpsearch: error: ...`), if it printed one."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines[-200:]):
        if line.startswith("hpsearch: error: "):
            return line.removeprefix("hpsearch: error: ")
    return ""
