"""Trial processes on this machine: `[optuna] n_jobs` / `[keras_tuner] n_jobs` > 1.

The run starts `n_jobs` worker processes of its own (`python -m hpsearch.run.local`, which
joins this run as `hpsearch worker` would) and only coordinates: Optuna's run waits on its
storage, Keras Tuner's serves its oracle on 127.0.0.1. Every worker keeps to one thread for
every framework (runtime/threads.py): two one-thread trials beat one two-thread trial, and
the run itself trains nothing, so it needs no pinning after Keras has loaded.

A worker that dies (killed, out of memory) is started again under its own name, which gives
its unfinished trial back to the engine's retry logic at once (Keras Tuner hands it back to
the same name; Optuna fails an earlier session's running trial); after `RESTARTS` such deaths
the run stops with one line. The run stops its workers when it ends, however it ends, and a
worker whose run is killed gets SIGTERM from the kernel (Linux: run/local.py asks for it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from hpsearch.errors import HPSearchError
from hpsearch.runtime.threads import one_thread_env, usable_cores

if TYPE_CHECKING:
    from hpsearch.study.schema import Checker

LOGS = "logs"  # in the run folder: one log per local worker, `<engine>-<worker>.log`
RESTARTS = 3  # deaths of local workers a run outlives (each one's worker started again)
GRACE = 30.0  # seconds workers get to finish on their own once the run has no trial left
TERM = 10.0  # seconds between SIGTERM and SIGKILL when the run stops them


class LocalWorkersFailed(HPSearchError):
    """The local workers keep dying: the study cannot go on."""


def check_n_jobs(c: Checker, key: str, value: Any) -> None:
    """`n_jobs`: a positive integer or "auto" (one line naming `key` otherwise)."""
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return
    raise c.fail(key, 'a positive integer or "auto" (the usable cores)', value)


def resolve(n_jobs: int | str) -> int:
    """The number of trial processes: "auto" is the cores this process may use."""
    return usable_cores() if n_jobs == "auto" else int(n_jobs)


def free_port() -> int:
    """A port free on 127.0.0.1 now (the chief binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalWorkers:
    """`n` worker processes of one engine of the run in `run_dir`, joining at `address`
    (Keras Tuner's chief; Optuna's storage URL, "" for the run's own journal file)."""

    def __init__(
        self, run_dir: Path, engine: str, n: int, address: str = "", verbose: int = 0
    ) -> None:
        self.run_dir, self.engine, self.address, self.verbose = run_dir, engine, address, verbose
        self.names = [f"local-{i + 1}" for i in range(n)]
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, IO[bytes]] = {}
        self.deaths: list[str] = []  # "local-1 (exit -9)", for the message if they keep dying

    def log(self, name: str) -> Path:
        return self.run_dir / LOGS / f"{self.engine}-{name}.log"

    def _start(self, name: str) -> None:
        path = self.log(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        if name in self._logs:
            self._logs[name].close()
        self._logs[name] = log = path.open("ab")  # a restarted worker's lines follow its last
        command = [sys.executable, "-m", "hpsearch.run.local", str(self.run_dir), self.engine]
        command += [name, self.address, str(self.verbose), str(os.getpid())]
        self.procs[name] = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=one_thread_env(),  # one thread each, set before the child loads any framework
            start_new_session=True,  # Ctrl-C reaches the run, which stops them itself
        )

    def __enter__(self) -> LocalWorkers:
        for name in self.names:
            self._start(name)
        print(
            f"{self.engine}: {len(self.names)} local trial processes, one thread each; their "
            f"logs in {self.run_dir / LOGS}",
            file=sys.stderr,
            flush=True,
        )
        return self

    def tend(self, work_left: bool) -> None:
        """Called as the run waits: start a dead worker again (while there is work), and stop
        the run with one line when they keep dying."""
        for name, proc in list(self.procs.items()):
            code = proc.poll()
            if code is None or code == 0:
                continue
            del self.procs[name]
            self.deaths.append(f"{name} (exit {code})")
            if len(self.deaths) > RESTARTS:
                raise LocalWorkersFailed(
                    f"{self.engine}: local workers died {len(self.deaths)} times "
                    f"({', '.join(self.deaths)}); see {self.log(name)}"
                )
            print(
                f"{self.engine}: local worker {name} died (exit {code}); starting it again",
                file=sys.stderr,
                flush=True,
            )
            if work_left:
                self._start(name)
        if work_left and not self.alive():
            # every worker stopped cleanly, yet a lost trial's place opened after they left
            self._start(self.names[0])

    def alive(self) -> list[str]:
        return [name for name, proc in self.procs.items() if proc.poll() is None]

    def stop(self, grace: float) -> None:
        """Wait `grace` seconds for the workers to end, then SIGTERM, then SIGKILL."""
        deadline = time.monotonic() + grace
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        for sig, wait in ((signal.SIGTERM, TERM), (signal.SIGKILL, 5.0)):
            for name in self.alive():
                with contextlib.suppress(ProcessLookupError):  # it just ended
                    self.procs[name].send_signal(sig)
            deadline = time.monotonic() + wait
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.1)
        for proc in self.procs.values():
            proc.poll()  # reaped: no zombie left behind
        for log in self._logs.values():
            log.close()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Ended: they have no trial left and end on their own. Stopped or failed: stop now.
        self.stop(GRACE if kind is None else 0.0)
