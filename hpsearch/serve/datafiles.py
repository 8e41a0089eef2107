"""The server's data folder (`serve --data-dir`, the first one): its CSV, Parquet and NPZ
files described for the runs page (rows, columns and their kinds, a preview), and a file
uploaded into it: streamed to a hidden temporary file beside its place, read as its format,
then renamed into place, so that no reader, listing or study ever sees half a file."""

from __future__ import annotations

import functools
import json
import os
import re
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hpsearch.serve.runfiles import Cache

SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".npz": "npz"}
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,150}\.(csv|parquet|npz)\Z")
PREVIEW_ROWS = 5
# A non-numeric column with more distinct values than this (and than half its rows) is text
# (names, ids, comments) rather than categories.
MAX_CATEGORIES = 50
CACHE = Cache(size=256)


class BadFile(Exception):
    """The file does not read as its format (HTTP 422)."""


class TooLarge(Exception):
    """The upload passed the server's cap (HTTP 413)."""


def check_name(name: str) -> str:
    """`name` if it is a plain NAME.csv|.parquet|.npz of letters, digits, '_', '-' and '.'
    (no folder, not hidden); else ValueError with the expectation."""
    if not NAME.match(name) or ".." in name:
        raise ValueError(
            "a file name of letters, digits, '_', '-' or '.' (no folder) ending .csv, "
            f".parquet or .npz, got {name!r}"
        )
    return name


def list_files(folder: Path) -> list[dict[str, Any]]:
    """Every data file directly in `folder`, by name, each described (or with its `error`)."""
    if not folder.is_dir():
        return []
    root = folder.resolve()
    found = sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in SUFFIXES
        and not p.name.startswith(".")  # uploads in progress, hidden files
        and p.is_file()
        and p.resolve().parent == root  # no symlink out: a study could not read it anyway
    )
    return [CACHE.get(("describe", str(p)), (p,), functools.partial(describe, p)) for p in found]


def describe(path: Path, name: str | None = None) -> dict[str, Any]:
    """DataFile: what the page shows of a file; its `error` in place of the rest if unreadable."""
    out: dict[str, Any] = {
        "name": name or path.name,
        "path": str(path if name is None else path.with_name(name)),
        "format": SUFFIXES[Path(name or path.name).suffix.lower()],
        "bytes": path.stat().st_size,
    }
    try:
        out.update(_npz(path) if out["format"] == "npz" else _table(path, out["format"]))
    except BadFile as exc:
        out["error"] = str(exc)
    return out


def _table(path: Path, fmt: str) -> dict[str, Any]:
    frame = read_table(path, fmt)
    columns = [{"name": str(c), "kind": _kind(frame[c])} for c in frame.columns]
    # to_json: NaN as null, numpy scalars and timestamps as plain JSON
    preview = json.loads(frame.head(PREVIEW_ROWS).to_json(orient="values", date_format="iso"))
    return {"rows": len(frame), "columns": columns, "preview": preview}


def read_table(path: Path, fmt: str) -> Any:
    """A CSV or Parquet file as a DataFrame, read as a study reads it; BadFile if it cannot
    be, or has no row or fewer than two columns (a target and a feature). Not through
    `read_columns`, whose cache would keep whole tables in the server."""
    import pandas as pd  # lazy: loads pandas

    from hpsearch.study.data_section import sniff_sep

    try:
        if fmt == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep=sniff_sep(path), encoding="utf-8-sig")
    except ImportError as exc:
        raise BadFile(f"expected a file this installation can read ({exc})") from None
    except Exception as exc:  # pandas / pyarrow parser errors name their own kinds
        raise BadFile(f"expected a readable {fmt} file ({type(exc).__name__}: {exc})") from None
    if len(frame) == 0 or frame.shape[1] < 2:
        raise BadFile(
            f"expected a {fmt} table with a header, rows and at least two columns, "
            f"got {len(frame)} rows and {frame.shape[1]} columns"
        )
    return frame


def _kind(column: Any) -> str:
    import pandas as pd  # lazy: loads pandas

    if pd.api.types.is_numeric_dtype(column):
        return "numeric"
    distinct = column.nunique()
    return "text" if distinct > MAX_CATEGORIES and distinct > len(column) / 2 else "categorical"


def _npz(path: Path) -> dict[str, Any]:
    import numpy as np  # lazy: loads NumPy

    try:
        with np.load(path, allow_pickle=False) as arrays:
            # every array read: an object array (pickled) or a torn member fails here
            shapes = [(key, arrays[key]) for key in arrays.files]
    except Exception as exc:  # zipfile, NumPy's format errors: any is "not an NPZ"
        raise BadFile(f"expected an NPZ file of arrays ({type(exc).__name__}: {exc})") from None
    if not shapes:
        raise BadFile("expected an NPZ file of arrays, got one with none")
    first = dict(shapes).get("x", shapes[0][1])
    return {
        "rows": int(first.shape[0]) if first.ndim else 1,
        "arrays": [{"name": k, "shape": list(a.shape), "dtype": str(a.dtype)} for k, a in shapes],
    }


async def save_upload(
    chunks: AsyncIterator[bytes], folder: Path, name: str, limit: int, replace: bool
) -> dict[str, Any]:
    """Stream `chunks` to a hidden file beside `folder/name`, check it reads as its format,
    and rename it into place; TooLarge past `limit` bytes, BadFile if unreadable,
    FileExistsError if there is a file and not `replace`. Nothing stays behind on failure."""
    from starlette.concurrency import run_in_threadpool  # lazy: only uploads need it

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if target.exists() and not replace:
        raise FileExistsError(name)
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".upload")
    tmp = Path(tmp_name)
    try:
        size = 0
        with os.fdopen(fd, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"body: expected at most {limit} bytes, got more")
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        # read in a worker thread: a large table takes seconds, the server goes on answering
        info = await run_in_threadpool(describe, tmp, name)
        if "error" in info:
            raise BadFile(info["error"])
        os.chmod(tmp, 0o644)  # mkstemp makes 0600: the study runs as the server, others may read
        if target.exists() and not replace:  # one more upload of the same name meanwhile
            raise FileExistsError(name)
        os.replace(tmp, target)  # mtime, size and inode kept: the answer below stays cached
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return CACHE.get(("describe", str(target)), (target,), lambda: info)
