"""Deleted runs, kept until the trash is emptied: RESULTS_DIR/.trash/<study>/<run-id>/.

A delete is one rename of the run folder (never a copy then a removal), so a crash leaves
the run whole in one place or the other; `<run-id>.json` beside it says when it was deleted
and in what state. The runs list never shows the trash: study names cannot start with a dot.
Emptying renames each run out of sight first, so a crash mid-removal leaves no half-run to list.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
from pathlib import Path
from typing import Any

from hpsearch.files import now, write_json
from hpsearch.rundir.folder import RUN, is_run_dir
from hpsearch.rundir.meta import read_meta
from hpsearch.serve.runfiles import NAME, NotFound, read_json

TRASH = ".trash"
EMPTYING = ".emptying"  # runs being removed for good: never listed, removed at the next empty
# one move at a time: a restore racing an empty would find its run gone from under it
_LOCK = threading.Lock()


class Taken(Exception):
    """The place a run would move to is taken (HTTP 409)."""


def trash_dir(results: Path) -> Path:
    return results / TRASH


def trash_run(results: Path, run_dir: Path, state: str) -> dict[str, Any]:
    """Move `run_dir` (results/<study>/<run-id>) into the trash; its TrashedRun."""
    with _LOCK:
        return _trash(results, run_dir, state)


def _trash(results: Path, run_dir: Path, state: str) -> dict[str, Any]:
    study, run_id = run_dir.parent.name, run_dir.name
    target = trash_dir(results) / study / run_id
    if target.exists():
        raise Taken(f"{study}/{run_id}: the trash holds a run of this id already: empty it first")
    target.parent.mkdir(parents=True, exist_ok=True)
    # the record first: a crash before the rename leaves only a record, which lists nothing
    write_json(_record(target), {"deleted_at": now(), "state": state})
    try:
        os.rename(run_dir, target)
    except OSError:
        _record(target).unlink(missing_ok=True)
        raise
    return _entry(results, target)


def trashed_path(results: Path, study: str, run_id: str) -> Path:
    """The trashed run study/run_id, which must be a run inside the trash."""
    root = trash_dir(results).resolve()
    if not (NAME.match(study) and NAME.match(run_id)):
        raise NotFound(f"{study}/{run_id}")
    path = (root / study / run_id).resolve()
    if path.parent.parent != root or not is_run_dir(path):
        raise NotFound(f"{study}/{run_id}")  # also a symlink out of the trash
    return path


def restore(results: Path, study: str, run_id: str) -> Path:
    """Move a trashed run back to results/<study>/<run-id>; Taken if that name is in use."""
    with _LOCK:
        return _restore(results, study, run_id)


def _restore(results: Path, study: str, run_id: str) -> Path:
    path = trashed_path(results, study, run_id)
    target = results / study / run_id
    if target.exists():
        raise Taken(f"{study}/{run_id}: expected a free name to restore to, found a run there")
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(path, target)  # onto an existing folder it fails (or replaces an empty one)
    _record(path).unlink(missing_ok=True)
    return target


def listing(results: Path) -> list[dict[str, Any]]:
    """TrashedRun of every run in the trash, the last deleted first."""
    root = trash_dir(results)
    if not root.is_dir():
        return []
    found = [
        _entry(results, p)
        for p in root.glob("*/*")
        if p.is_dir()
        and NAME.match(p.parent.name)
        and NAME.match(p.name)
        and not p.is_symlink()
        and is_run_dir(p)
    ]
    return sorted(found, key=lambda e: (e["deleted_at"] or "", e["id"]), reverse=True)


def empty(results: Path) -> int:
    """Remove every trashed run for good; how many there were."""
    with _LOCK:
        return _empty(results)


def _empty(results: Path) -> int:
    root = trash_dir(results)
    if not root.is_dir():
        return 0
    bin_ = root / EMPTYING / secrets.token_hex(4)
    bin_.mkdir(parents=True)
    count = 0
    for entry in listing(results):
        path = root / entry["study"] / entry["run_id"]
        os.rename(path, bin_ / f"{count}")  # out of the listing at once, whole
        _record(path).unlink(missing_ok=True)
        count += 1
    shutil.rmtree(root / EMPTYING, ignore_errors=True)  # this one and any a crash left
    for record in root.glob("*/*.json"):  # a crash after a restore's move leaves its record
        if not record.with_suffix("").exists():
            record.unlink(missing_ok=True)
    for study in root.iterdir():
        if study.is_dir() and NAME.match(study.name) and not any(study.iterdir()):
            study.rmdir()
    return count


def _record(path: Path) -> Path:
    return path.parent / f"{path.name}.json"


def _entry(results: Path, path: Path) -> dict[str, Any]:
    """TrashedRun: what the trash view shows of one deleted run."""
    study, run_id = path.parent.name, path.name
    record, info = read_json(_record(path)), read_json(path / RUN)  # {} when missing
    meta = read_meta(path)
    return {
        "id": f"{study}/{run_id}",
        "study": study,
        "run_id": run_id,
        "deleted_at": record.get("deleted_at"),
        "state": record.get("state"),
        "dataset": info.get("dataset"),
        "engines": [str(e) for e in info.get("engines") or []],
        "tags": meta["tags"],
        "note": meta["note"],
        "taken": (results / study / run_id).exists(),
        "restore": f"/api/trash/{study}/{run_id}/restore",
    }
