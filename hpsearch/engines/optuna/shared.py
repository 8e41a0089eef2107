"""Optuna across processes: the run and its `worker`s share one storage.

Every process draws trials from the same Optuna study (Optuna's own way to scale out) until
the study has `n_trials` of them: finished (with hpsearch's outcome), running or waiting.
A trial numbered past that count finds its place taken and steps aside, so a study never
overshoots however many workers race for its last trial. On a database storage each running
trial beats a heartbeat; one that stops (a killed worker) is failed by the next process that
looks and queued again for another worker (Optuna's RetryHeartbeatStaleTrialCallback). On a
journal file, which has no heartbeats, hpsearch's own worker heartbeats decide: a dead
worker's trial is failed, and a new trial takes its place.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hpsearch.compat import optuna as optuna_compat
from hpsearch.errors import InputError
from hpsearch.runtime import interrupt
from hpsearch.runtime.heartbeat import Liveness

if TYPE_CHECKING:
    from hpsearch.engines.base import EngineContext

# Our outcome of a trial, stored with it: a trial without one was interrupted, not finished.
OUTCOME = "hpsearch_status"
POLL = 1.0  # seconds between the run's looks at its workers' trials while it waits for them
DEFAULT_NAME = "hpsearch"  # the study's name in a run's own storage
JOURNAL = "optuna.log"  # a run's own storage, in the engine's folder
RETRIES = 3  # times a trial whose worker was lost is queued again
RACES = ("KeyError", "OperationalError", "IntegrityError")  # opening a storage: try again
JOIN = 30.0  # seconds a process retries opening the storage (a worker: until the run made it)


class Trains(Protocol):
    """One process's side of the study (trainer.Trainer), as `optimize` drives it."""

    optuna: Any
    ostudy: Any
    ctx: EngineContext
    poll: Any
    trained: int

    def optimize(self, n_trials: int) -> None: ...


class Surplus(Exception):
    """A trial created after the study had all its trials: it steps aside, unrecorded."""


def open_study(optuna: Any, ctx: EngineContext, **options: Any) -> Any:
    """The run's Optuna study: in its own SQLite file, or in the shared storage under a name
    of its own (a storage may hold many runs' studies)."""
    url = ctx.settings.storage
    if not url:
        return optuna.create_study(
            study_name=DEFAULT_NAME,
            load_if_exists=True,
            storage=local_storage(optuna, ctx.workdir, clean=not ctx.worker),
            **options,
        )
    name = f"{ctx.study.name}/{ctx.workdir.parent.parent.name}"  # study/run-id
    # The run creates the tables and the study while its workers start: a worker retries
    # until they exist, and every process retries a lost race to create the tables.
    deadline = time.monotonic() + JOIN
    while True:
        try:
            storage = make_storage(optuna, url, ctx.settings.worker_timeout, create=not ctx.worker)
            if ctx.worker:  # the run creates the study; a worker only joins it
                return optuna.load_study(
                    study_name=name,
                    storage=storage,
                    **{k: v for k, v in options.items() if k != "direction"},
                )
            return optuna.create_study(
                study_name=name, storage=storage, load_if_exists=True, **options
            )
        except Exception as exc:  # SQLAlchemy's errors too: an unreachable server, a race
            # Races look like these (Optuna wraps a locked SQLite database's OperationalError
            # in its StorageInternalError); a bad URL or a missing driver does not get better.
            causes = (exc, exc.__cause__, exc.__context__)
            transient = any(type(e).__name__ in RACES for e in causes if e is not None)
            if time.monotonic() > deadline or not transient:
                first = str(exc).splitlines()[0] if str(exc) else ""
                raise InputError(
                    masked(f"optuna.storage: cannot open {url}: {type(exc).__name__}: {first}")[
                        :300
                    ]
                ) from None
            time.sleep(0.5)


def local_storage(optuna: Any, workdir: Path, clean: bool = True) -> Any:
    """The storage of a run's own study: Optuna's journal file, `optuna.log` (its local
    workers, `n_jobs`, open it with `clean` false: the run cleaned it before they started).

    A trial writes a dozen records (its creation, each parameter, its attributes, each epoch's
    value, its end). SQLite commits each in a transaction: ~39 ms a trial here, against ~5 ms
    appended to a journal (benchmarks/optuna_storage.py). A run begun before kept `optuna.db`
    and goes on in it. Nothing else writes the file (a resume checks that the run's process
    is gone), so what a kill -9 may leave is cleared first: a half-written last line (Optuna
    reads past it, but not once a line follows it) and the lock of a write in progress.
    """
    if (workdir / "optuna.db").is_file():
        return f"sqlite:///{workdir / 'optuna.db'}"
    from optuna.storages.journal import JournalFileBackend

    workdir.mkdir(parents=True, exist_ok=True)
    # Absolute: Optuna's lock is a symlink to this path, and a relative one dangles, so a lock
    # left by a killed process is never found stale and every other process spins on it.
    path = (workdir / JOURNAL).absolute()
    if clean and path.is_file():
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(path, "r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)
    if clean:
        Path(f"{path}.lock").unlink(missing_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def masked(text: str) -> str:
    """`text` with the passwords of database URLs in it hidden."""
    import re

    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)


def make_storage(optuna: Any, url: str, timeout: float, create: bool = True) -> Any:
    """A database URL with heartbeats (a stale trial is retried), or a journal file."""
    if url.startswith("journal:"):  # no heartbeats in Optuna's journal storage
        from optuna.storages.journal import JournalFileBackend

        path = os.path.abspath(url.removeprefix("journal:"))  # a relative lock link dangles
        return optuna.storages.JournalStorage(JournalFileBackend(path))
    interval = max(1, int(timeout // 4))
    return optuna.storages.RDBStorage(
        url,
        heartbeat_interval=interval,
        grace_period=max(int(timeout), 2 * interval),
        heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(RETRIES),
        skip_table_creation=not create,
    )


def fail_lost_trials(ostudy: Any, ctx: EngineContext, dead: set[str]) -> list[int]:
    """On a storage without Optuna's heartbeats, fail the running trials nobody trains any
    more: a dead worker's (by hpsearch's heartbeat files), and this process's own from an
    earlier session (killed, now resumed). Their places open for new trials."""
    from optuna.trial import TrialState

    lost = []
    for trial in ostudy.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker, session = trial.user_attrs.get("worker"), trial.user_attrs.get("session")
        if worker in dead or (worker == ctx.worker and session not in (None, ctx.session)):
            optuna_compat.fail_trial(ostudy, trial)
            lost.append(trial.number)
    return lost


def counts(trial: Any) -> bool:
    """Does `trial` hold one of the study's places? Finished ones, running and queued ones do;
    a trial failed without hpsearch's outcome (a lost worker's, a surplus one) does not."""
    return OUTCOME in trial.user_attrs or trial.state.name in ("RUNNING", "WAITING")


def surplus(ostudy: Any, trial: Any, n_trials: int) -> bool:
    """Are the study's places taken by trials numbered before `trial`? (Numbers are given in
    order by the storage, so of two racing processes exactly one wins the last place.)"""
    earlier = [
        t for t in ostudy.get_trials(deepcopy=False) if t.number < trial.number and counts(t)
    ]
    return len(earlier) >= n_trials


def optimize(
    trainer: Trains,
    report: Callable[[Any], None] | None,
    wait_for_others: bool,
    tend: Callable[[bool], None] | None = None,
) -> int:
    """Train trials until the study has its `n_trials`; `report` each finished trial (the run
    does, workers do not); with `wait_for_others`, return only when no trial runs anywhere.
    With `tend` (the run's local workers, engines/local_workers.py) train nothing: call it at
    each look with whether places are open, and wait. Returns how many trials this process
    trained."""
    optuna, ostudy = trainer.optuna, trainer.ostudy
    n_trials = trainer.ctx.settings.n_trials

    heartbeats = optuna_compat.heartbeat_enabled(ostudy)

    liveness, dead = (
        Liveness(trainer.ctx.workdir / "workers", trainer.ctx.settings.worker_timeout),
        set(),
    )

    def look() -> list[Any]:
        if heartbeats:
            with warnings.catch_warnings():  # experimental in Optuna
                warnings.simplefilter("ignore")
                optuna.storages.fail_stale_trials(ostudy)
        else:  # a journal: hpsearch's own heartbeats tell a lost worker's trials
            dead.update(liveness.lost())
            dead.difference_update(liveness.alive())
            fail_lost_trials(ostudy, trainer.ctx, dead)
        trials = ostudy.get_trials(deepcopy=False)
        if report is not None:
            for trial in trials:
                report(trial)
        return trials

    if report is not None:  # workers' trials reach the tables while this process trains
        last = [0.0]

        def poll() -> None:
            if time.monotonic() - last[0] > POLL:
                last[0] = time.monotonic()
                look()

        trainer.poll = poll
    while True:
        interrupt.check()
        trials = look()
        queued = any(t.state.name == "WAITING" for t in trials)
        open_places = queued or sum(counts(t) for t in trials) < n_trials
        if tend is not None:
            tend(open_places)
            if open_places:
                time.sleep(POLL)
                continue
        elif open_places:
            trainer.optimize(1)
            continue
        if wait_for_others and any(t.state.name == "RUNNING" for t in trials):
            time.sleep(POLL)
            continue
        return trainer.trained
