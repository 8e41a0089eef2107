"""A run's live files: trials.csv and histories.csv as each trial finishes, and status.json.

A finished trial's rows are appended to the tables, one write each, so a trial costs the same
at the 10,000th as at the first (rewriting whole tables made a run quadratic). A table is
rewritten whole, atomically and sorted, only when a row changes (a resumed engine reporting
a trial again), when a new column appears (a parameter first seen), and when an engine
finishes. status.json is small and replaced atomically after every trial.

Another process (a shell running `hpsearch status`, a dashboard) may read the run directory
at any moment. Readers take a table's complete lines only (`files.complete_lines`), so a row
being appended is not seen until it is whole; a row that could not be read that way (a
newline inside a value) is written by a whole-table rewrite instead.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from hpsearch.errors import InputError
from hpsearch.files import append_text, now, write_csv, write_json
from hpsearch.rundir.folder import HISTORIES, STATUS, TRIALS
from hpsearch.study.trials import HISTORY_COLUMNS, PRUNED, TrialRecord, best_trial, trials_dataframe

STATES = ("running", "finished", "interrupted", "failed")


class LiveRun:
    """Collects trial records as engines report them and keeps the run's live files current.

    `on_trial` may be called from any thread; a record replaces an earlier one of the same
    engine and trial (a resumed engine reports its finished trials again).
    """

    def __init__(
        self,
        run_dir: Path,
        info: dict[str, Any],
        planned: dict[str, int | None],
        metrics: dict[str, tuple[str, str]],
        previous: Iterable[TrialRecord] = (),
        previous_history: Iterable[dict[str, Any]] = (),
        sessions: Iterable[float] = (),
    ) -> None:
        """`previous`, `previous_history`: the trials a resumed run had finished and their
        history rows, kept until reported again (the tables never go backwards while a resumed
        engine replays its finished trials). `sessions`: the earlier sessions' seconds."""
        self.run_dir, self.info = run_dir, info
        self._sessions, self._clock = list(sessions), time.monotonic()
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, TrialRecord]] = {name: {} for name in planned}
        for record in previous:
            if record.engine in self._records:
                self._records[record.engine][record.trial] = record
        # engine -> trial -> its fits' per-epoch rows (HISTORY_COLUMNS)
        self._history: dict[str, dict[str, list[dict[str, Any]]]] = {name: {} for name in planned}
        for row in previous_history:
            if row.get("engine") in self._history:
                self._history[row["engine"]].setdefault(str(row["trial"]), []).append(row)
        self._engines: dict[str, dict[str, Any]] = {
            name: {
                "state": "pending",
                "trials_planned": planned[name],
                "metric": metrics[name][0],
                "direction": metrics[name][1],
            }
            for name in planned
        }
        self.state, self.message = "running", ""
        # what each table holds on disk: its columns and its rows' keys (None: rewrite it whole)
        self._trials_file: tuple[list[str], set[tuple[str, str]]] | None = None
        self._history_file: set[tuple[str, str]] | None = None
        self._stats = {name: _Stats(self._records[name].values()) for name in planned}

    # --- what the runner and the engines call -----------------------------------------------

    def start_engine(self, name: str) -> None:
        """`name` is running now (status.json says so)."""
        with self._lock:
            self._engines[name]["state"] = "running"
            self._write_status()

    def on_history(self, record: TrialRecord, history: list[dict[str, Any]]) -> None:
        """A finished trial's per-epoch rows: into histories.csv now (before its record)."""
        with self._lock:
            self._history[record.engine][record.trial] = list(history)
            self._add_history(record.engine, record.trial)

    def on_trial(self, record: TrialRecord) -> None:
        """A finished trial: into trials.csv and status.json now (an engine's `ctx.on_trial`)."""
        with self._lock:
            again = record.trial in self._records[record.engine]
            self._records[record.engine][record.trial] = record
            if again:  # a resumed engine reporting a finished trial again: count afresh
                self._stats[record.engine] = _Stats(self._records[record.engine].values())
            else:
                self._stats[record.engine].add(record)
            self._add_trial(record)
            self._write_status()

    def finish_engine(
        self,
        name: str,
        records: list[TrialRecord],
        state: str,
        history: list[dict[str, Any]] | None = None,
    ) -> None:
        """The engine's final records (and history rows) replace what it reported live."""
        with self._lock:
            self._records[name] = {r.trial: r for r in records}
            self._stats[name] = _Stats(records)
            if history is not None:
                self._history[name] = {}
                for row in history:
                    self._history[name].setdefault(str(row["trial"]), []).append(row)
                self._write_histories()
            self._engines[name]["state"] = state
            self._write_trials()
            self._write_status()

    def finish(self, state: str, message: str = "") -> None:
        """The run's last word: finished, interrupted or failed, and why."""
        with self._lock:
            self.state, self.message = state, message
            for engine in self._engines.values():
                if engine["state"] == "running":
                    engine["state"] = state
            self._write_status()

    def session_seconds(self) -> list[float]:
        """Each session's seconds: the earlier ones' and this one's so far."""
        return [*self._sessions, round(time.monotonic() - self._clock, 1)]

    def wall_seconds(self) -> float:
        """The run's time so far: every session's."""
        return round(sum(self.session_seconds()), 1)

    def poll(self, name: str) -> tuple[int, float | None]:
        """(trials done, best score so far) of one engine, for the progress bar."""
        with self._lock:
            stats = self._stats[name]
            return stats.done, stats.best.val_score if stats.best else None

    # --- the files ---------------------------------------------------------------------------

    def _sorted(self, name: str) -> list[TrialRecord]:
        return sorted(self._records[name].values(), key=lambda r: int(r.trial))

    def _write_trials(self) -> None:
        frame = trials_dataframe(r for name in self._records for r in self._sorted(name))
        write_csv(self.run_dir / TRIALS, frame)
        keys = {(name, trial) for name in self._records for trial in self._records[name]}
        self._trials_file = ([str(c) for c in frame.columns], keys)

    def _add_trial(self, record: TrialRecord) -> None:
        """Append the trial's row, or rewrite the table where a row cannot just be added."""
        key, row = (record.engine, record.trial), record.row()
        if self._trials_file is None or key in self._trials_file[1]:
            return self._write_trials()
        columns, keys = self._trials_file
        if not set(row) <= set(columns) or not _appended(
            self.run_dir / TRIALS, pd.DataFrame([row], columns=columns)
        ):
            return self._write_trials()
        keys.add(key)
        return None

    def _write_histories(self) -> None:
        rows = [
            row
            for name in self._history
            for trial in sorted(self._history[name], key=int)
            for row in self._history[name][trial]
        ]
        write_csv(self.run_dir / HISTORIES, pd.DataFrame(rows, columns=HISTORY_COLUMNS))
        self._history_file = {
            (name, trial) for name in self._history for trial in self._history[name]
        }

    def _add_history(self, engine: str, trial: str) -> None:
        rows, key = self._history[engine][trial], (engine, trial)
        if self._history_file is None or key in self._history_file:
            return self._write_histories()
        if rows and not _appended(
            self.run_dir / HISTORIES, pd.DataFrame(rows, columns=HISTORY_COLUMNS)
        ):
            return self._write_histories()
        self._history_file.add(key)
        return None

    def _write_status(self) -> None:
        engines = {}
        for name, engine in self._engines.items():
            stats = self._stats[name]
            engines[name] = {
                **engine,
                "trials_done": stats.done,
                "trials_failed": stats.failed,
                "trials_pruned": stats.pruned,
                "best_trial": stats.best.trial if stats.best else None,
                "best_score": stats.best.val_score if stats.best else None,
            }
        write_json(
            self.run_dir / STATUS,
            {
                "state": self.state,
                "message": self.message,
                "study": self.info.get("study"),
                "dataset": self.info.get("dataset"),
                "run_dir": str(self.run_dir),
                "started_at": self.info.get("started_at"),
                "updated_at": now(),
                # every session's time up to this update: a killed session counts up to its last
                "wall_seconds": self.wall_seconds(),
                "pid": os.getpid(),
                "pid_started": _started(os.getpid()),
                "host": socket.gethostname(),
                "resume": f"python -m hpsearch resume {self.run_dir}",
                "engines": engines,
                "engine_order": list(engines),
            },
        )  # JSON objects have no order (ours are sorted)


class _Stats:
    """An engine's counts and best trial, kept as trials arrive (not recounted each time)."""

    def __init__(self, records: Iterable[TrialRecord] = ()) -> None:
        self.done = self.failed = self.pruned = 0
        self.best: TrialRecord | None = None
        for record in records:
            self.add(record)

    def add(self, record: TrialRecord) -> None:
        self.done += 1
        self.failed += record.failed
        self.pruned += record.status == PRUNED
        self.best = best_trial([self.best, record] if self.best else [record])


def _appended(path: Path, frame: pd.DataFrame) -> bool:
    """Append `frame`'s rows to the CSV at `path` (its header already written), formatted as a
    whole-table write would format them; False, writing nothing, where a value holds a line
    break (a reader taking complete lines could then see half a row)."""
    text = frame.to_csv(index=False, header=False)
    if text.count("\n") != len(frame) or "\r" in text:
        return False
    append_text(path, text)
    return True


def closed_sessions(run_dir: Path, info: dict[str, Any]) -> list[float]:
    """Each earlier session's seconds, the last one up to its last live update (a killed
    session never wrote its end): status.json's `wall_seconds` is every session's time at
    that update. A status.json from before it kept them gives its session's span instead,
    from that session's start to the last update."""
    try:
        status = json.loads((Path(run_dir) / STATUS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        status = {}
    starts = [info.get("started_at"), *(info.get("resumed_at") or [])]
    kept = [float(s) for s in (info.get("session_seconds") or [])][: len(starts) - 1]
    if isinstance(status.get("wall_seconds"), (int, float)):
        last = float(status["wall_seconds"]) - sum(kept)
    else:
        try:
            span = datetime.fromisoformat(status["updated_at"]) - datetime.fromisoformat(starts[-1])
            last = span.total_seconds()
        except (KeyError, TypeError, ValueError):
            last = 0.0
    recorded = float(info.get("wall_seconds") or 0.0) - sum(kept)  # run.json's, if it is later
    return [*kept, round(max(last, recorded, 0.0), 1)]


def read_status(run_dir: Path) -> dict[str, Any]:
    """status.json of a run; a 'running' run whose process is gone reads as interrupted."""

    path = Path(run_dir) / STATUS
    try:
        status = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(status, dict) or status.get("state") not in STATES:
            raise ValueError(
                f"state {status.get('state') if isinstance(status, dict) else status!r}"
            )
    except FileNotFoundError:
        raise InputError(
            f"{run_dir}: expected a run directory with status.json, found none"
        ) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: expected hpsearch's status JSON, got {exc}") from None
    if status["state"] == "running" and not _alive(status):
        status["state"] = "interrupted"
        status["message"] = "the process running it ended without stopping cleanly (killed?)"
        for engine in status.get("engines", {}).values():
            if engine.get("state") == "running":
                engine["state"] = "interrupted"
    return status


def _alive(status: dict[str, Any]) -> bool:
    """Is the recorded process still running? Only knowable on the same host."""
    if status.get("host") != socket.gethostname():
        return True  # another machine's run: trust what it wrote
    try:
        pid = int(status.get("pid", 0))
        if pid <= 0:
            return False
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError):
        return True
    # The pid may since have been given to another process: its start time tells them apart.
    recorded = status.get("pid_started")
    if _stat(pid, 0) in (
        "Z",
        "X",
    ):  # exited, not yet reaped by its parent (an orphan's may never be)
        return False
    return recorded is None or recorded == _started(pid)


def _started(pid: int) -> str | None:
    """When process `pid` started, in clock ticks since boot (Linux), else None."""
    return _stat(pid, 19)  # field 22


def _stat(pid: int, index: int) -> str | None:
    """Field `index` after the command name in /proc/PID/stat (0: the state), else None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[index]
    except (OSError, IndexError):
        return None
