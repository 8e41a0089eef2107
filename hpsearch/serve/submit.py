"""A study posted over HTTP: checked as `validate` checks a file, and kept inside the folders
the server was given (its results folder, its data folders)."""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from hpsearch.config import Study, parse_study
from hpsearch.data import locate_data, resolve_data_dir
from hpsearch.errors import StudyError
from hpsearch.results import check_writable
from hpsearch.serve.jobs import FILENAME, QUEUE


def _inside(path: Path, roots: list[Path]) -> bool:
    path = path.resolve()
    return any(path == r.resolve() or r.resolve() in path.parents for r in roots)


def check_submission(text: str, filename: str, results_dir: Path, data_roots: list[Path]) -> Study:
    """The study in `text`, or a StudyError naming the file, the field, what was expected
    and what was found."""
    if not FILENAME.match(filename):
        raise StudyError("filename", None, "a NAME.toml of letters, digits, '_', '-' or '.'",
                         filename)
    study = parse_study(text, filename)
    stored = results_dir / QUEUE / "job" / filename  # where the queue keeps it (for relative paths)
    raw: dict[str, Any] = tomllib.loads(text).get("study", {})
    if "output_dir" in raw and Path(raw["output_dir"]).expanduser().resolve() != results_dir.resolve():
        raise StudyError(filename, "study.output_dir",
                         f"nothing, or this server's results folder {results_dir}", raw["output_dir"])
    if "data_dir" in raw and not _inside(resolve_data_dir(raw["data_dir"], str(stored)), data_roots):
        allowed = ", ".join(map(str, data_roots)) or "none: start serve with --data-dir"
        raise StudyError(filename, "study.data_dir",
                         f"nothing, or a folder inside this server's data folders ({allowed})",
                         raw["data_dir"])
    storage = getattr(study.settings.get("optuna"), "storage", None)
    if storage:
        _check_storage(filename, storage, results_dir)
    check_writable(results_dir, filename)
    locate_data(study)  # the same DataError as `validate` when an explicit data_dir lacks files
    return study


def _check_storage(filename: str, url: str, results_dir: Path) -> None:
    """A file storage (SQLite, journal) names a path: it must be in the results folder."""
    for prefix in ("sqlite:///", "journal:"):
        if url.startswith(prefix):
            path = Path(url.removeprefix(prefix)).expanduser()
            if not path.is_absolute() or not _inside(path, [results_dir]):
                raise StudyError(filename, "optuna.storage",
                                 f"a database server's URL, or a file inside {results_dir}", url)
