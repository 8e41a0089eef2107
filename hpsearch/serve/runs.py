"""The runs under a results folder, as the API's JSON shapes (see hpsearch/serve/schema.py).

Everything is read from the run folders' own files (status.json, run.json, the CSVs), as
`hpsearch status` and `report` do; answers are cached until one of those files changes, so
many readers polling a running study cost a stat() each.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from hpsearch.analysis import engine_summary, load_run, read_summary, scored_trials, top_trials
from hpsearch.errors import InputError
from hpsearch.live import read_status
from hpsearch.serve.jobs import STOPPED_FROM_PAGE, STOPPING

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}\Z")  # a study name or run id; no "..", "/"
DOWNLOADS = (
    "trials.csv",
    "summary.csv",
    "histories.csv",
    "report.html",
    "run.json",
    "status.json",
    "study.toml",
)
BEST_FILE = re.compile(r"[A-Za-z0-9_]+\.(pkl|keras)\Z")
RUN_FILES = ("status.json", "run.json", "trials.csv", "summary.csv", "histories.csv")


class NotFound(Exception):
    """No such run or file under the results folder (HTTP 404)."""


def run_path(results_dir: Path, study: str, run_id: str) -> Path:
    """The folder of run `study/run_id`, which must be a run inside `results_dir`."""
    if not (NAME.match(study) and NAME.match(run_id)):
        raise NotFound(f"{study}/{run_id}")
    root = results_dir.resolve()
    path = (root / study / run_id).resolve()
    if path.parent.parent != root or not any((path / f).is_file() for f in RUN_FILES[:3]):
        raise NotFound(f"{study}/{run_id}")  # also a symlink pointing out of the folder
    return path


def download_path(run_dir: Path, name: str) -> Path:
    """A downloadable file of a run: one of DOWNLOADS, or best/<engine>.pkl|.keras."""
    if (
        name in DOWNLOADS
        or name.startswith("best/")
        and BEST_FILE.match(name.removeprefix("best/"))
    ):
        path = run_dir / name
    else:
        raise NotFound(name)
    if not path.is_file() or path.resolve().parent not in (run_dir, run_dir / "best"):
        raise NotFound(name)
    return path


def download_name(run_dir: Path, name: str) -> str:
    """The name a download is saved as: STUDY-RUN_ID-FILE (best/optuna.keras ->
    fashion-20260101-100000-ab12-optuna.keras), so files of several runs never collide."""
    return f"{run_dir.parent.name}-{run_dir.name}-{name.rsplit('/', 1)[-1]}"


def list_runs(results_dir: Path) -> list[Path]:
    """Every run folder (results/<study>/<run_id>), newest first."""
    if not results_dir.is_dir():
        return []
    root = results_dir.resolve()
    runs = [
        p
        for p in results_dir.glob("*/*")
        if p.is_dir()
        and NAME.match(p.parent.name)
        and NAME.match(p.name)
        and p.resolve().parent.parent == root  # no symlink out
        and any((p / f).is_file() for f in RUN_FILES[:3])
    ]
    return sorted(runs, key=lambda p: p.name, reverse=True)


# --- caching -----------------------------------------------------------------------------


class Cache:
    """Answers keyed by the (mtime, size) of the files they were read from. When a file
    changes, one thread reads it again while the others asking for it wait for that answer."""

    def __init__(self, size: int = 256) -> None:
        self._items: OrderedDict[tuple, tuple[tuple, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._making: dict[tuple, threading.Lock] = {}
        self.size = size

    def _hit(self, key: tuple, stamp: tuple) -> tuple[bool, Any]:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and hit[0] == stamp:
                self._items.move_to_end(key)
                return True, hit[1]
            return False, None

    def get(self, key: tuple, files: Iterable[Path], make: Callable[[], Any]) -> Any:
        stamp = tuple(_stamp(f) for f in files)
        found, value = self._hit(key, stamp)
        if found:
            return value
        with self._lock:
            making = self._making.setdefault(key, threading.Lock())
        with making:
            found, value = self._hit(key, stamp)  # made by the thread we waited for
            if found:
                return value
            value = make()
            with self._lock:
                self._items[key] = (stamp, value)
                self._items.move_to_end(key)
                while len(self._items) > self.size:
                    self._making.pop(self._items.popitem(last=False)[0], None)
        return value


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()  # an atomic replace makes a new inode, whatever the clock's grain
        return st.st_mtime_ns, st.st_size, st.st_ino
    except OSError:
        return None


CACHE = Cache(size=4096)  # a few entries per run: enough for thousands of runs


# --- the shapes --------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """JSON-safe: NaN and NA become None, numpy scalars Python ones."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)):
        return value
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _records(frame: Any) -> list[dict[str, Any]]:
    return [{str(k): plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _status(run_dir: Path) -> dict[str, Any] | None:
    try:
        return read_status(run_dir)
    except InputError:
        return None


def _test_column(row: dict[str, Any]) -> str | None:
    metric = str(row.get("metric") or "").removeprefix("val_")
    tests = [k for k in row if k.startswith("test_") and row[k] is not None]
    return f"test_{metric}" if f"test_{metric}" in tests else (tests[0] if tests else None)


def run_summary(
    results_dir: Path, run_dir: Path, job: dict[str, Any] | None = None
) -> dict[str, Any]:
    """RunSummary: what the runs table shows of one run."""
    files = [run_dir / f for f in ("status.json", "run.json", "summary.csv")]
    # A run whose process died reads as interrupted: the pid check is not cached
    base = CACHE.get(("summary", str(run_dir)), files, lambda: _summary(results_dir, run_dir))
    out = dict(base, best=[dict(b) for b in base["best"]])
    status = _status(run_dir)
    if status is not None:
        out["state"], out["message"] = status["state"], status.get("message", "")
        for best in out["best"]:  # engines of a killed run read as interrupted too
            best["state"] = (
                status.get("engines", {}).get(best["engine"], {}).get("state", best["state"])
            )
    if job is not None:
        out["job"] = job["id"]
        if job["state"] == "queued":
            out["state"], out["message"] = "queued", f"queued to {job['kind']} (job {job['id']})"
        elif job.get("message") == STOPPING and out["state"] == "interrupted":
            out["message"] = STOPPED_FROM_PAGE  # it stopped; the queue has yet to notice
        elif job["state"] == "running" and out["state"] != "running":
            # its process is loading the data: status.json still says how the last one ended
            out["state"], out["message"] = "running", f"starting (job {job['id']})"
        elif job["state"] == out["state"] and job.get("message") in (STOPPED_FROM_PAGE, STOPPING):
            out["message"] = job["message"]  # the run's status.json can only say Ctrl-C
    return out


def _summary(results_dir: Path, run_dir: Path) -> dict[str, Any]:
    info, status = read_json(run_dir / "run.json"), _status(run_dir) or {}
    run_id = f"{run_dir.parent.name}/{run_dir.name}"
    engines = status.get("engines", {})
    summary = {str(r["engine"]): r for r in _records(read_summary(run_dir))}
    best = []
    for name in status.get("engine_order") or info.get("engines") or list(engines):
        e, row = engines.get(name, {}), summary.get(name, {})
        test = _test_column(row)
        best.append(
            {
                "engine": name,
                "state": e.get("state"),
                "metric": e.get("metric") or row.get("metric"),
                "direction": e.get("direction") or row.get("direction"),
                "best_trial": row.get("best_trial") or e.get("best_trial"),
                "best_val_score": plain(row.get("best_val_score", e.get("best_score"))),
                "test_metric": test,
                "test_score": row.get(test) if test else None,
            }
        )
    planned = [e.get("trials_planned") for e in engines.values()]
    started = info.get("started_at") or status.get("started_at")
    return {
        "id": run_id,
        "study": run_dir.parent.name,
        "run_id": run_dir.name,
        "dataset": info.get("dataset") or status.get("dataset"),
        "engines": list(info.get("engines") or engines),
        # no status.json: a run from before it existed, finished or not
        "state": status.get("state", "finished" if info.get("finished_at") else "interrupted"),
        "message": status.get("message", ""),
        "started_at": started,
        "finished_at": info.get("finished_at"),
        "duration_seconds": _duration(info, status),
        "trials_done": sum(int(e.get("trials_done") or 0) for e in engines.values()),
        "trials_planned": sum(planned) if planned and None not in planned else None,
        "best": best,
        "job": None,
        "url": f"/runs/{run_id}",
        "api": f"/api/runs/{run_id}",
    }


def _duration(info: dict[str, Any], status: dict[str, Any]) -> float | None:
    """Wall seconds of every session: status.json's, current to its last live update (a killed
    session's too), else run.json's (runs from before status.json kept it)."""
    for source in (status, info):
        if isinstance(source.get("wall_seconds"), (int, float)):
            return float(source["wall_seconds"])
    from datetime import datetime

    try:  # a status.json from before it kept wall_seconds: the last session's span
        sessions = [info.get("started_at") or status["started_at"], *(info.get("resumed_at") or [])]
        start = datetime.fromisoformat(sessions[-1])
        return round((datetime.fromisoformat(status["updated_at"]) - start).total_seconds(), 1)
    except (KeyError, TypeError, ValueError):
        return None


def run_detail(
    results_dir: Path, run_dir: Path, job: dict[str, Any] | None, can_stop: bool
) -> dict[str, Any]:
    """RunDetail: the run page's header, summary table and downloads."""
    out = run_summary(results_dir, run_dir, job)
    info = read_json(run_dir / "run.json")
    status = _status(run_dir)
    summary = CACHE.get(
        ("summary.csv", str(run_dir)),
        [run_dir / "summary.csv"],
        lambda: _records(read_summary(run_dir)),
    )
    files = [
        {
            "name": name,
            "url": f"/runs/{out['id']}/files/{name}",
            "bytes": path.stat().st_size,
            "download": download_name(run_dir, name),
        }
        for name, path in _files(run_dir)
    ]
    out.update(
        status=(
            {k: status.get(k) for k in ("updated_at", "engine_order", "engines")}
            if status
            else None
        ),
        summary=summary,
        info={
            "seed": info.get("seed"),
            "sizes": info.get("sizes"),
            "source": info.get("source"),
            "resumed_at": info.get("resumed_at") or [],
            "wall_seconds": info.get("wall_seconds"),
        },
        files=files,
        can_stop=can_stop and out["state"] == "running",
        can_resume=resumable(out["state"], info)
        and (job is None or job["state"] not in ("queued", "running")),
    )
    return out


def resumable(state: str, info: dict[str, Any]) -> bool:
    """Interrupted, or failed before it finished (a crash): `resume` takes both."""
    return state == "interrupted" or (state == "failed" and not info.get("finished_at"))


def _files(run_dir: Path) -> list[tuple[str, Path]]:
    found = [(n, run_dir / n) for n in DOWNLOADS if (run_dir / n).is_file()]
    best = run_dir / "best"
    if best.is_dir():
        found += [
            (f"best/{p.name}", p)
            for p in sorted(best.iterdir())
            if BEST_FILE.match(p.name) and p.is_file()
        ]
    return found


def encode(data: Any) -> bytes:
    """JSON as FastAPI's JSONResponse writes it."""
    return json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def trials(run_dir: Path) -> bytes:
    """Trials, encoded: every trial with the plotting fields the report uses."""

    def make() -> bytes:
        try:
            scored = scored_trials(load_run(run_dir).trials)
        except InputError:
            return encode({"run": _id(run_dir), "columns": [], "trials": [], "top": {}})
        top = top_trials(scored) if not scored.empty else {}
        return encode(
            {
                "run": _id(run_dir),
                "columns": [str(c) for c in scored.columns],
                "trials": _records(scored),
                "top": top,
            }
        )

    return CACHE.get(("trials", str(run_dir)), [run_dir / "trials.csv"], make)


def histories(run_dir: Path) -> bytes:
    """Histories, encoded: the per-epoch values of every fit, columnar."""

    def make() -> bytes:
        try:
            frame = load_run(run_dir).histories
        except InputError:
            frame = None
        columns = ("engine", "trial", "fit", "epoch", "metric", "value")
        rows = (
            {c: [] for c in columns}
            if frame is None or frame.empty
            else {c: [plain(v) for v in frame[c]] for c in columns}
        )
        return encode({"run": _id(run_dir), "rows": rows})

    return CACHE.get(("histories", str(run_dir)), [run_dir / "histories.csv"], make)


def compare(results_dir: Path, run_dirs: list[Path]) -> dict[str, Any]:
    """Compare: the `compare` command's table, and each run and engine's best so far."""
    table, progress = [], []
    for run_dir in run_dirs:
        run = load_run(run_dir)
        scored = scored_trials(run.trials)
        summary = engine_summary(run, scored)
        for row in _records(summary):
            table.append(
                {"run": _id(run_dir), **row, "wall_seconds": plain(run.info.get("wall_seconds"))}
            )
        if not scored.empty:
            for engine, sub in scored.groupby("engine", sort=False):
                ok = sub[sub["best"].notna()]
                progress.append(
                    {
                        "run": _id(run_dir),
                        "engine": str(engine),
                        "series": f"{_id(run_dir)} · {engine}",
                        "cum_fit": [plain(v) for v in ok["cum_fit"]],
                        "best": [plain(v) for v in ok["best"]],
                    }
                )
    return {
        "runs": [run_summary(results_dir, d) for d in run_dirs],
        "table": table,
        "progress": progress,
    }


def _id(run_dir: Path) -> str:
    return f"{run_dir.parent.name}/{run_dir.name}"
