"""Where a built-in dataset's files are looked for: the study's data_dir, $HPSEARCH_DATA_DIR,
then each source's default places."""

from __future__ import annotations

import os
from pathlib import Path

from hpsearch.errors import DataError
from hpsearch.study.config import Study

ENV_DATA_DIR = "HPSEARCH_DATA_DIR"


def pseudo_source(source: str | None) -> bool:
    """'<study>' and the like: text that did not come from a file."""
    return not source or (source.startswith("<") and source.endswith(">"))


def resolve_data_dir(data_dir: str, source: str | None = None) -> Path:
    """A study's `data_dir`: `~` expanded, a relative one taken from the study file's folder."""
    path = Path(data_dir).expanduser()
    if not path.is_absolute():
        base = (
            Path.cwd()
            if source is None or pseudo_source(source)
            else Path(source).expanduser().parent
        )
        path = base / path
    return path.absolute()


def keras_cache() -> Path:
    home = os.environ.get("KERAS_HOME")
    return Path(home).expanduser() if home else Path.home() / ".keras"


def sklearn_home() -> Path:
    """scikit-learn's data home, computed without creating it (get_data_home() would)."""
    return Path(os.environ.get("SCIKIT_LEARN_DATA", "~/scikit_learn_data")).expanduser()


def base_dirs(study_dir: str | None, source: str | None = None) -> list[Path]:
    """The user-given base folders: the study's `data_dir` (resolved against the folder of
    the study file `source`) when set, else `$HPSEARCH_DATA_DIR` when set, else none."""
    if study_dir:
        return [resolve_data_dir(study_dir, source)]
    env = os.environ.get(ENV_DATA_DIR)
    return [Path(env).expanduser().absolute()] if env else []


def search_dirs(
    study_dir: str | None, source: str | None, subdir: str, defaults: list[Path]
) -> list[Path]:
    """`<base>/<subdir>` then `<base>` for each base folder; the source's default places
    only when the study sets no `data_dir`."""
    folders = [f for base in base_dirs(study_dir, source) for f in (base / subdir, base)]
    if not study_dir:
        folders += defaults
    return list(dict.fromkeys(folders))


def explicit_dir_error(study: Study, expected: str) -> DataError:
    """The study named its data_dir, and the files are not there."""
    resolved = resolve_data_dir(str(study.data_dir), study.source)
    shown = (
        str(resolved)
        if study.data_dir == str(resolved)
        else f"{study.data_dir!r} (resolved to {resolved})"
    )
    state = "" if resolved.is_dir() else ", which does not exist"
    return DataError(
        f"{study.source}: study.data_dir {shown}{state}: {study.dataset} files not found; "
        f"expected {expected}; put them (or symlinks) there, or remove data_dir to search "
        f"${ENV_DATA_DIR} and the default places"
    )


def one_line(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__
