"""Worker heartbeats on the shared run directory: a worker proves it is alive, the run
notices one that stopped (killed, machine lost) and retries its trial.

A heartbeat is a small JSON file whose counter a thread of the worker bumps every few
seconds. The run judges a worker by when it last *saw the counter change* on its own clock,
so the clocks of different machines never need to agree.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from hpsearch.files import now, write_json


def interval_for(timeout: float) -> float:
    """Beats often enough that a timeout sees several: a quarter of it, 5 s at most."""
    return max(0.2, min(5.0, timeout / 4))


class Heartbeat:
    """A thread rewriting `path` every `interval` seconds, from `start()` to `stop()`; after a
    clean stop the file says `done`, so the run does not wait for this worker any more."""

    def __init__(self, path: Path, worker: str, interval: float) -> None:
        self.path, self.worker, self.interval = Path(path), worker, interval
        self.beats, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._run, name="hpsearch-heartbeat", daemon=True)

    def beat(self, done: bool = False) -> None:
        self.beats += 1
        write_json(
            self.path,
            {
                "worker": self.worker,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "beat": self.beats,
                "at": now(),
                "done": done,
            },
        )

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            # the run decides what a missed beat means; training goes on
            with contextlib.suppress(OSError):
                self.beat()

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.beat()  # first, in the caller: an unwritable folder fails here, before training
        self._thread.start()

    def stop(self, done: bool) -> None:
        """Stop beating; `done`: the worker finished cleanly (the run stops waiting for it)."""
        self._stop.set()
        self._thread.join()
        if done:
            self.beat(done=True)


class Liveness:
    """The run's view of its workers' heartbeats in `folder`."""

    def __init__(self, folder: Path, timeout: float) -> None:
        self.folder, self.timeout = Path(folder), timeout
        self._seen: dict[str, tuple[Any, float]] = {}  # worker -> (last beat, when it changed)
        self._reported: dict[str, Any] = {}  # worker -> the beat it was reported lost at

    def _read(self) -> dict[str, dict[str, Any]]:
        beats = {}
        for path in self.folder.glob("*.json"):
            try:
                beat = json.loads(path.read_text(encoding="utf-8"))
                beats[str(beat["worker"])] = beat
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a file being replaced; read it next time
        return beats

    def lost(self) -> list[str]:
        """Workers newly lost: not done, and their beat unchanged for `timeout` seconds.
        Each is reported once (again only if it beats and then stops again)."""
        clock, lost = time.monotonic(), []
        for worker, beat in self._read().items():
            seen, mark = self._seen.get(worker), _mark(beat)
            if seen is None or seen[0] != mark:
                self._seen[worker] = (mark, clock)
            elif (
                not beat.get("done")
                and clock - seen[1] > self.timeout
                and self._reported.get(worker) != mark
            ):
                self._reported[worker] = mark
                lost.append(worker)
        return lost

    def alive(self) -> list[str]:
        """Workers not done and not reported lost."""
        return [
            w
            for w, b in self._read().items()
            if not b.get("done") and self._reported.get(w) != _mark(b)
        ]


def _mark(beat: dict[str, Any]) -> tuple[Any, ...]:
    """A beat's identity: a worker restarted under the same name counts from 1 again."""
    return beat.get("host"), beat.get("pid"), beat["beat"]
