"""The study queue, kept on disk: one JSON record per job in RESULTS_DIR/.queue.

A job runs a submitted study (`run`) or finishes an interrupted run (`resume`). Records
are written atomically, so a server killed at any moment leaves every job as it was: a
restarted server finds queued jobs still queued and the running one still marked running
(the queue runner resumes it). The study text is written before the record that names it.
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import shutil
import threading
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hpsearch.files import atomic_write_text, now, write_json

QUEUE = ".queue"  # study names cannot start with a dot: no run folder can take this name
STATES = ("queued", "running", "finished", "failed", "interrupted", "cancelled")
ENDED = ("finished", "failed", "interrupted", "cancelled")
ID = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{8}")
FILENAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}\.toml\Z")
STOPPED_FROM_PAGE = "stopped from the web page"  # the run's own status.json says Ctrl-C
STOPPING = "stopping: finishing the epoch in progress"


def clean_filename(name: str) -> str:
    """An uploaded file's name made a FILENAME ("my study.toml" -> "my-study.toml"); a name
    with a path in it is left as it is, for FILENAME to refuse."""
    if "/" in name or "\\" in name:
        return name
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()  # é -> e
    stem = re.sub(r"\.toml\Z", "", plain, flags=re.IGNORECASE)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-.")[:95].rstrip("-.")
    return f"{stem}.toml" if stem else name


class JobConflict(Exception):
    """The job or run is not in a state that allows the action (HTTP 409)."""


@dataclass(frozen=True)
class Job:
    """One queued, running or ended study; `run` is "study/run_id" once its folder exists."""

    id: str
    study: str
    kind: str  # "run" (a submitted study file) or "resume" (an interrupted run)
    state: str = "queued"
    seq: int = 0  # submission order
    run: str | None = None
    study_file: str | None = None  # relative to the job's folder
    submitted_at: str = ""
    started_at: str | None = None
    ended_at: str | None = None
    message: str = ""
    pid: int | None = None
    pid_started: str | None = None  # the child's start time: a reused pid is not it
    stopped_by: str | None = None  # "page": its run page's Stop (not a server shutdown)

    def public(self, position: int | None = None) -> dict[str, Any]:
        """The API's Job shape."""
        return {
            "id": self.id,
            "study": self.study,
            "kind": self.kind,
            "state": self.state,
            "run": self.run,
            "submitted_at": self.submitted_at,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "message": self.message,
            "position": position,
        }


class JobStore:
    """The queue folder: `<id>.json` records and `<id>/` folders holding submitted studies."""

    def __init__(self, results_dir: Path) -> None:
        self.root = Path(results_dir) / QUEUE
        self.lock = threading.RLock()  # held by the queue runner while it claims a job
        # every request reads the queue: kept until this process writes a record or the
        # folder changes (another process's write: a rename changes its mtime)
        self._cache: tuple[Any, list[Job]] | None = None

    def _record(self, job_id: str) -> Path:
        return self.root / f"{job_id}.json"

    def folder(self, job: Job) -> Path:
        return self.root / job.id

    def study_path(self, job: Job) -> Path | None:
        return self.folder(job) / job.study_file if job.study_file else None

    def save(self, job: Job) -> Job:
        with self.lock:
            write_json(self._record(job.id), dataclasses.asdict(job))
            self._cache = None
        return job

    def update(self, job: Job, **changes: Any) -> Job:
        return self.save(dataclasses.replace(job, **changes))

    def _new_id(self) -> str:
        return f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"

    def submit(self, text: str, filename: str, study: str) -> Job:
        """Queue a study file's text; the file is on disk before the record names it."""
        filename = clean_filename(filename)
        with self.lock:
            job = Job(
                id=self._new_id(),
                study=study,
                kind="run",
                seq=time.time_ns(),
                study_file=filename,
                submitted_at=now(),
            )
            atomic_write_text(self.folder(job) / filename, text)
            return self.save(job)

    def resume(self, run: str) -> Job:
        """Queue the resumption of run "study/run_id" (one live job per run)."""
        with self.lock:
            if any(j.run == run and j.state in ("queued", "running") for j in self.all()):
                raise JobConflict(f"{run}: already queued or running")
            job = Job(
                id=self._new_id(),
                study=run.split("/")[0],
                kind="resume",
                run=run,
                seq=time.time_ns(),
                submitted_at=now(),
            )
            return self.save(job)

    def get(self, job_id: str) -> Job | None:
        if not ID.fullmatch(job_id):
            return None
        return self._load(self._record(job_id))

    def _load(self, path: Path) -> Job | None:
        """The job in `path`; None for a foreign or damaged file (it is not a job)."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            names = {f.name for f in dataclasses.fields(Job)}
            job = Job(**{k: v for k, v in raw.items() if k in names})
        except (OSError, ValueError, TypeError, AttributeError):
            return None
        fine = (
            job.id == path.stem
            and ID.fullmatch(job.id)
            and isinstance(job.seq, int)
            and job.state in STATES
            and job.kind in ("run", "resume")
            and job.stopped_by in (None, "page")
            and (job.study_file is None or FILENAME.match(str(job.study_file)))
            and (
                job.run is None
                or re.fullmatch(
                    r"[A-Za-z0-9_][A-Za-z0-9_.-]*/[A-Za-z0-9_][A-Za-z0-9_.-]*", str(job.run)
                )
            )
        )
        return job if fine else None

    def all(self) -> list[Job]:
        """Every job, in submission order."""
        with self.lock:
            try:
                stamp = self.root.stat().st_mtime_ns
            except FileNotFoundError:
                return []
            if self._cache is not None and self._cache[0] == stamp:
                return list(self._cache[1])
            jobs = [self._load(p) for p in self.root.glob("[0-9]*.json")]
            ordered = sorted((j for j in jobs if j is not None), key=lambda j: (j.seq, j.id))
            self._cache = (stamp, ordered)
            return list(ordered)

    def queued(self) -> list[Job]:
        return [j for j in self.all() if j.state == "queued"]

    def positions(self) -> dict[str, int]:
        return {j.id: i + 1 for i, j in enumerate(self.queued())}

    def cancel(self, job_id: str) -> Job:
        with self.lock:
            job = self.get(job_id)
            if job is None:
                raise KeyError(job_id)
            if job.state != "queued":
                raise JobConflict(f"job {job_id}: expected a queued job, found one {job.state}")
            return self.update(job, state="cancelled", ended_at=now(), message="cancelled")

    def prune(self, days: float) -> list[str]:
        """Remove the records (and study files, logs) of jobs that ended over `days` ago;
        queued and running jobs stay whatever their age. The ids removed."""
        if days <= 0:
            return []  # 0: kept for ever
        cutoff = datetime.now(UTC) - timedelta(days=days)
        removed = []
        with self.lock:
            for job in self.all():
                ended = _when(job.ended_at or job.submitted_at)
                if job.state in ENDED and ended is not None and ended < cutoff:
                    # the record first: a crash then leaves a folder no record names, which the
                    # next prune removes (below), never a record without its study file
                    self._record(job.id).unlink(missing_ok=True)
                    shutil.rmtree(self.folder(job), ignore_errors=True)
                    removed.append(job.id)
            self._cache = None
            named = {j.id for j in self.all()}
            for folder in self.root.glob("[0-9]*") if self.root.is_dir() else ():
                # a folder without a record: a prune cut short, or a submission being written
                # (its record follows within moments): only old ones go
                old = datetime.fromtimestamp(folder.stat().st_mtime, UTC) < cutoff
                if (
                    folder.is_dir()
                    and ID.fullmatch(folder.name)
                    and folder.name not in named
                    and old
                ):
                    shutil.rmtree(folder, ignore_errors=True)
        return removed


def _when(stamp: str | None) -> datetime | None:
    """A record's ISO time, aware (old records' naive times read as UTC); None if unreadable."""
    try:
        when = datetime.fromisoformat(str(stamp))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
