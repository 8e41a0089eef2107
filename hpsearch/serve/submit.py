"""A study posted over HTTP: checked as `validate` checks a file, and kept inside the folders
the server was given (its results folder, its data folders), on this machine."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from hpsearch import registry
from hpsearch.data import locate_data, resolve_data_dir
from hpsearch.errors import StudyError
from hpsearch.rundir.folder import check_writable
from hpsearch.serve.jobs import FILENAME, QUEUE, clean_filename
from hpsearch.study.config import Study, parse_study


def cluster_settings() -> list[tuple[str, str, Any]]:
    """Settings that reach past this machine (a scheduler that unpickles what it is sent, a
    chief's open port, a storage anywhere), as each engine declares them: (engine, key,
    refused value or None for any). Refused in a submitted study unless `--allow-cluster`."""
    engines = registry.engines().items()
    return [(n, key, v) for n, e in engines if e.cluster for key, v in e.cluster.refused]


def _inside(path: Path, roots: list[Path]) -> bool:
    path = path.resolve()
    return any(path == r.resolve() or r.resolve() in path.parents for r in roots)


def _refuse_model(model: Any, filename: str, allowed: tuple[str, ...] = ()) -> None:
    """A [model] section names code (a folder on sys.path, a function of any installed module,
    called with the study's values): refused before parsing imports it, unless the operator
    allowed that factory (`serve --allow-factory`); a `path` is always refused."""
    if not isinstance(model, dict) or not model:
        return
    if "path" in model:
        raise StudyError(
            filename,
            "model.path",
            "no [model] path in a study run by `serve` (it puts a folder's code on the "
            "server's import path: install the factory, and start serve with --allow-factory)",
            model["path"],
        )
    factory = model.get("factory")
    if factory not in allowed:
        names = ", ".join(allowed) or "none: start serve with --allow-factory MODULE:FUNCTION"
        raise StudyError(
            filename,
            "model.factory",
            f"a factory this server allows ({names})",
            factory if factory is not None else next(iter(model.values())),
        )


def _check_data_files(data: Any, filename: str, data_roots: list[Path]) -> None:
    """`[data]` files of a submitted study: absolute paths inside the server's data folders
    (checked before parsing, which reads them: no file elsewhere is opened, or named back)."""
    if not isinstance(data, dict):
        return
    allowed = ", ".join(map(str, data_roots)) or "none: start serve with --data-dir"
    for key in ("train", "test"):
        value = data.get(key)
        if not isinstance(value, str):
            continue
        path = Path(value)
        if not path.is_absolute() or not _inside(path, data_roots):
            raise StudyError(
                filename,
                f"data.{key}",
                f"an absolute path inside this server's data folders ({allowed})",
                value,
            )


def check_submission(
    text: str,
    filename: str,
    results_dir: Path,
    data_roots: list[Path],
    allow_cluster: bool = False,
    allow_factories: tuple[str, ...] = (),
) -> Study:
    """The study in `text`, or a StudyError naming the file, the field, what was expected
    and what was found. `filename` is cleaned first, as the queue stores it ("my study.toml"
    is checked as "my-study.toml")."""
    filename = clean_filename(filename)
    if not FILENAME.match(filename):
        raise StudyError(
            "filename", None, "a NAME.toml of letters, digits, '_', '-' or '.'", filename
        )
    try:
        doc: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        doc = {}  # parse_study says what is wrong, with the line
    _check_data_files(doc.get("data"), filename, data_roots)  # before anything reads them
    _refuse_model(doc.get("model"), filename, allow_factories)  # before parsing imports it
    study = parse_study(text, filename)
    # Where the queue keeps it: a relative data_dir is taken from that folder, as the child will
    stored = str(results_dir / QUEUE / "job" / filename)
    raw = doc.get("study", {})
    if (
        "output_dir" in raw
        and Path(raw["output_dir"]).expanduser().resolve() != results_dir.resolve()
    ):
        raise StudyError(
            filename,
            "study.output_dir",
            f"nothing, or this server's results folder {results_dir}",
            raw["output_dir"],
        )
    if "data_dir" in raw and not _inside(resolve_data_dir(raw["data_dir"], stored), data_roots):
        allowed = ", ".join(map(str, data_roots)) or "none: start serve with --data-dir"
        raise StudyError(
            filename,
            "study.data_dir",
            f"nothing, or a folder inside this server's data folders ({allowed})",
            raw["data_dir"],
        )
    for section, key, value in cluster_settings() if not allow_cluster else ():
        given = doc.get(section, {}).get(key)
        if given is not None and (value is None or given == value):
            raise StudyError(
                filename,
                f"{section}.{key}",
                "no cluster setting in a study run by "
                "`serve` (start it with --allow-cluster to allow them)",
                given,
            )
    # A tracking URI makes the server connect (or write, for file: and sqlite: URIs) where the
    # submitter says, as a cluster setting does
    for key, given in doc.get("track", {}).items() if not allow_cluster else ():
        raise StudyError(
            filename,
            f"track.{key}",
            "no tracking in a study run by `serve` (start it with --allow-cluster to allow it)",
            given,
        )
    check_writable(results_dir, filename)
    locate_data(dataclasses.replace(study, source=stored))  # `validate`'s DataError if missing
    return study
