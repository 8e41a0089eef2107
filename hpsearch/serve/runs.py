"""The runs under a results folder, as the API's JSON shapes (hpsearch/serve/models.py).

Everything is read from the run folders' own files (status.json, run.json, the CSVs), as
`hpsearch status` and `report` do, through hpsearch/serve/runfiles.py and its cache.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from hpsearch.errors import InputError
from hpsearch.report.analysis import (
    engine_summary,
    scored_trials,
    top_trials,
)
from hpsearch.report.importance import MIN_TRIALS, NoOptuna, importances
from hpsearch.report.importance import table as importance_table
from hpsearch.rundir.folder import HISTORIES, META, RUN, STATUS, SUMMARY, TRIALS
from hpsearch.rundir.meta import read_meta
from hpsearch.rundir.read import load_run, read_summary
from hpsearch.serve.jobs import STOPPED_FROM_PAGE, STOPPING
from hpsearch.serve.runfiles import CACHE, download_name, read_json, read_run_status, run_files


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
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _records(frame: Any) -> list[dict[str, Any]]:
    return [{str(k): plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _test_column(row: dict[str, Any]) -> str | None:
    metric = str(row.get("metric") or "").removeprefix("val_")
    tests = [k for k in row if k.startswith("test_") and row[k] is not None]
    return f"test_{metric}" if f"test_{metric}" in tests else (tests[0] if tests else None)


def run_summary(
    results_dir: Path, run_dir: Path, job: dict[str, Any] | None = None
) -> dict[str, Any]:
    """RunSummary: what the runs table shows of one run."""
    files = [run_dir / f for f in (STATUS, RUN, SUMMARY, META)]
    # A run whose process died reads as interrupted: the pid check is not cached
    base = CACHE.get(("summary", str(run_dir)), files, lambda: _summary(results_dir, run_dir))
    out = dict(base, best=[dict(b) for b in base["best"]])
    status = read_run_status(run_dir)
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
    info, status = read_json(run_dir / RUN), read_run_status(run_dir) or {}
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
    meta = read_meta(run_dir)
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
        "tags": meta["tags"],
        "note": meta["note"],
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
    info = read_json(run_dir / RUN)
    status = read_run_status(run_dir)
    summary = CACHE.get(
        (SUMMARY, str(run_dir)),
        [run_dir / SUMMARY],
        lambda: _records(read_summary(run_dir)),
    )
    files = [
        {
            "name": name,
            "url": f"/runs/{out['id']}/files/{name}",
            "bytes": path.stat().st_size,
            "download": download_name(run_dir, name),
        }
        for name, path in run_files(run_dir)
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


def encode(data: Any) -> bytes:
    """JSON as FastAPI's JSONResponse writes it."""
    return json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Encoded:
    """An answer's bytes and their ETag (a hash of them), made once per change of its files:
    a page that has it already is answered 304, without the bytes."""

    body: bytes
    etag: str


def encoded(data: Any) -> Encoded:
    body = encode(data)
    return Encoded(body, f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"')


def trials(run_dir: Path) -> Encoded:
    """Trials, encoded: every trial with the plotting fields the report uses."""

    def make() -> Encoded:
        try:
            scored = scored_trials(load_run(run_dir).trials)
        except InputError:
            return encoded({"run": _id(run_dir), "columns": [], "trials": [], "top": {}})
        top = top_trials(scored) if not scored.empty else {}
        return encoded(
            {
                "run": _id(run_dir),
                "columns": [str(c) for c in scored.columns],
                "trials": _records(scored),
                "top": top,
            }
        )

    return CACHE.get(("trials", str(run_dir)), [run_dir / TRIALS], make)


def histories(run_dir: Path) -> Encoded:
    """Histories, encoded: the per-epoch values of every fit, columnar."""

    def make() -> Encoded:
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
        return encoded({"run": _id(run_dir), "rows": rows})

    return CACHE.get(("histories", str(run_dir)), [run_dir / HISTORIES], make)


def importance(run_dir: Path) -> Encoded:
    """Importance, encoded: which hyperparameters mattered per engine (fANOVA), computed once
    per change of trials.csv (a second or two), with why there is none yet."""

    def make() -> Encoded:
        note = ""
        try:
            found = importances(load_run(run_dir))
        except InputError:
            found = {}
        except NoOptuna as exc:
            found, note = {}, str(exc)
        if not found and not note:
            note = f"not enough finished trials yet ({MIN_TRIALS} per engine) or nothing varies"
        rows = importance_table(found).to_dict(orient="records")
        return encoded({"run": _id(run_dir), "rows": rows, "note": note})

    return CACHE.get(("importance", str(run_dir)), [run_dir / TRIALS], make)


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
