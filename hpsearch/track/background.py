"""Live tracking: a tracker's `sync` in a thread of its own, woken as trials finish.

The run never waits for it: `wake` only sets an event, and wakes that come while a sync is
under way are folded into the next one. A tracker that fails or is slow gives one warning
line for the whole run; what it missed is in the run folder, and the next sync (or
`hpsearch export`) sends it. At the end `close` waits a few seconds for a last sync and
leaves the rest to the export command.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

# MLflow retries a failed request up to 7 times with growing pauses (minutes in all); a live
# sync gives up sooner: the next trial's sync, or an export, sends what it missed.
QUICK = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


# `hpsearch export TRACKER RUN_DIR OPTION WHERE`: the option naming where, per tracker
EXPORT_TO = {"mlflow": "--tracking-uri", "tensorboard": "--logdir"}


class Tracker:
    """Calls `sync(run_dir, where)` in the background whenever woken; never raises."""

    def __init__(
        self,
        name: str,
        sync: Callable[[Path, str], object],
        run_dir: Path,
        where: str,
        warn: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr),
        pause: float = 1.0,
    ) -> None:
        """`pause`: the least time between syncs (many short trials make one sync each)."""
        for key, value in QUICK.items():
            os.environ.setdefault(key, value)
        self.name, self._sync, self.run_dir, self.where = name, sync, run_dir, where
        self._warn, self._pause = warn, pause
        self._wanted, self._closing = threading.Event(), threading.Event()
        self.warned, self.complete = False, False
        self._warned_lock = threading.Lock()  # the thread and `close` may warn at once
        self._thread = threading.Thread(target=self._loop, name=f"hpsearch-{name}", daemon=True)
        self._thread.start()
        self.wake()  # the parent run shows up as the run starts

    def wake(self) -> None:
        """Something new is in the run folder: sync soon (returns at once)."""
        self._wanted.set()

    def close(self, wait: float = 5.0) -> None:
        """One last sync of the finished run folder, waited for `wait` seconds at most."""
        self._closing.set()
        self._wanted.set()
        self._thread.join(wait)
        if not self.complete:
            self._warning("was still sending when the run ended")

    def _loop(self) -> None:
        # Linux niceness is per thread: the trials' threads come first for the CPU (elsewhere
        # the thread runs at the run's own priority)
        with suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        while True:
            self._wanted.wait()
            closing = self._closing.is_set()  # read first: a close after it needs one more sync
            self._wanted.clear()
            try:
                self._sync(self.run_dir, self.where)
                self.complete = closing
            except Exception as exc:  # any failure of the tracker: the study goes on
                reason = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
                self._warning(f"failed ({reason})")
            if closing:
                return
            self._closing.wait(self._pause)  # a close cuts the pause short

    def _warning(self, what: str) -> None:
        """The run's one warning line about this tracker; later ones are not shown."""
        with self._warned_lock:
            if self.warned:
                return
            self.warned = True
        self._warn(
            f"hpsearch: warning: {self.name} tracking at {self.where} {what}; the study "
            f"goes on, and what was not sent is sent by a later sync or by: python -m hpsearch "
            f"export {self.name} {self.run_dir} {EXPORT_TO[self.name]} {self.where}"
        )


@contextmanager
def tracking(
    run_dir: Path, targets: dict[str, str], warn: Callable[[str], None]
) -> Iterator[Callable[[], None]]:
    """Live trackers of `run_dir` (name -> where, e.g. {"mlflow": URI}; {}: none) for the
    length of the block; yields `wake`, to call when the run folder has something new."""
    trackers = [
        Tracker(name, syncer(name), run_dir, where, warn) for name, where in targets.items()
    ]

    def wake() -> None:
        for tracker in trackers:
            tracker.wake()

    try:
        yield wake
    finally:
        for tracker in trackers:
            tracker.close()


def syncer(name: str) -> Callable[[Path, str], object]:
    """A tracker's `sync(run_dir, where)` (its module is imported only when it is used)."""
    if name == "mlflow":
        from hpsearch.track import mlflow

        return mlflow.sync
    if name == "tensorboard":
        from hpsearch.track import tensorboard

        return tensorboard.sync_folder
    raise ValueError(f"unknown tracker {name!r}")
