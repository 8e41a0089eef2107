"""A run's files under the results folder: which folders are runs, which files may be
downloaded, and reading them through a cache keyed by each file's (mtime, size, inode), so
many readers polling a running study cost a stat() each. hpsearch/serve/runs.py shapes them
into the API's JSON."""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from hpsearch.errors import InputError
from hpsearch.rundir.folder import BEST, RUN_FILES, is_run_dir
from hpsearch.rundir.live import read_status

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}\Z")  # a study name or run id; no "..", "/"
BEST_FILE = re.compile(r"[A-Za-z0-9_]+\.(pkl|keras)\Z")


class NotFound(Exception):
    """No such run or file under the results folder (HTTP 404)."""


def run_path(results_dir: Path, study: str, run_id: str) -> Path:
    """The folder of run `study/run_id`, which must be a run inside `results_dir`."""
    if not (NAME.match(study) and NAME.match(run_id)):
        raise NotFound(f"{study}/{run_id}")
    root = results_dir.resolve()
    path = (root / study / run_id).resolve()
    if path.parent.parent != root or not is_run_dir(path):
        raise NotFound(f"{study}/{run_id}")  # also a symlink pointing out of the folder
    return path


def download_path(run_dir: Path, name: str) -> Path:
    """A downloadable file of a run: one of RUN_FILES, or best/<engine>.pkl|.keras."""
    if (
        name in RUN_FILES
        or name.startswith("best/")
        and BEST_FILE.match(name.removeprefix("best/"))
    ):
        path = run_dir / name
    else:
        raise NotFound(name)
    if not path.is_file() or path.resolve().parent not in (run_dir, run_dir / BEST):
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
        and is_run_dir(p)
    ]
    return sorted(runs, key=lambda p: p.name, reverse=True)


def run_files(run_dir: Path) -> list[tuple[str, Path]]:
    """The run's downloadable files that exist, as (name in the URL, path)."""
    found = [(n, run_dir / n) for n in RUN_FILES if (run_dir / n).is_file()]
    best = run_dir / BEST
    if best.is_dir():
        found += [
            (f"best/{p.name}", p)
            for p in sorted(best.iterdir())
            if BEST_FILE.match(p.name) and p.is_file()
        ]
    return found


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object file; {} if missing or unreadable (a run being written)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def read_run_status(run_dir: Path) -> dict[str, Any] | None:
    """status.json, or None for a run without a readable one."""
    try:
        return read_status(run_dir)
    except InputError:
        return None


class Cache:
    """Answers keyed by the (mtime, size, inode) of the files they were read from, the least
    recently used dropped past `size`. When a file changes, one thread reads it again while
    the others asking for it wait for that answer."""

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
