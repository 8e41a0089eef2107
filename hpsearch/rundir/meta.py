"""A run's tags and note (meta.json in the run folder): what the user says about a run.

Only people write it (the web page, its API); a run never does, so a running study can be
tagged without the two writers meeting. Checked before anything is written, written
atomically: a bad request or a crash leaves the file as it was.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hpsearch.errors import InputError
from hpsearch.files import now, write_json
from hpsearch.rundir.folder import META

TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+-]{0,31}\Z")
TAG_RULE = "1-32 characters of A-Z a-z 0-9 _ . : + - (starting with a letter or digit)"
MAX_TAGS = 20
MAX_NOTE = 2000
FIELDS = ("tags", "note")


def read_meta(run_dir: Path) -> dict[str, Any]:
    """{"tags": [...], "note": "...", "updated_at": ...}; empty ones for a run without a
    readable meta.json (a hand-edited file that no longer checks counts as none)."""
    try:
        raw = json.loads((Path(run_dir) / META).read_text(encoding="utf-8"))
        return {**check_meta(raw), "updated_at": raw.get("updated_at")}
    except (OSError, ValueError, InputError, AttributeError):
        return {"tags": [], "note": "", "updated_at": None}


def check_meta(given: Any, old: dict[str, Any] | None = None) -> dict[str, Any]:
    """`given` ({"tags", "note"}, either left out to keep `old`'s) checked: tags unique,
    in the order given; one-line InputError naming the field otherwise."""
    if not isinstance(given, dict):
        raise InputError(f"body: expected a JSON object with tags and/or note, got {_kind(given)}")
    extra = sorted(set(given) - set(FIELDS) - {"updated_at"})
    if extra:
        raise InputError(f"body: expected only the fields tags, note, got {', '.join(extra)}")
    old = old or {"tags": [], "note": ""}
    tags, note = given.get("tags", old["tags"]), given.get("note", old["note"])
    if not isinstance(tags, list):
        raise InputError(f"tags: expected a list of tags, got {_kind(tags)}")
    if len(tags) > MAX_TAGS:
        raise InputError(f"tags: expected at most {MAX_TAGS} tags, got {len(tags)}")
    for i, tag in enumerate(tags):
        if not isinstance(tag, str) or not TAG.match(tag):
            shown = repr(tag[:40]) if isinstance(tag, str) else _kind(tag)
            raise InputError(f"tags[{i}]: expected {TAG_RULE}, got {shown}")
    if not isinstance(note, str):
        raise InputError(f"note: expected text, got {_kind(note)}")
    if len(note) > MAX_NOTE:
        raise InputError(f"note: expected at most {MAX_NOTE} characters, got {len(note)}")
    return {"tags": list(dict.fromkeys(tags)), "note": note}


def write_meta(run_dir: Path, given: Any) -> dict[str, Any]:
    """Check `given` against the run's current tags and note, then write meta.json whole."""
    meta = {**check_meta(given, read_meta(run_dir)), "updated_at": now()}
    write_json(Path(run_dir) / META, meta)
    return meta


def _kind(value: Any) -> str:
    """What was found, in JSON's words."""
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "text"}
    names.update({list: "a list", dict: "an object"})
    return names.get(type(value), type(value).__name__)
