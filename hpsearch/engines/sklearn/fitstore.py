"""Fit-level checkpoints: a finished fit (or its failure) is stored once and reused on resume.

Each fit is keyed by its parameters and a fingerprint of the data it saw, so a
resumed `RandomizedSearchCV` finds every candidate x fold that already finished
and trains only the rest. Entries are written atomically: a kill leaves either a
whole entry or none.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hpsearch.files import canonical, plain

WEIGHTS, RECORD = "model.weights.h5", "record.json"


def fit_key(params: dict[str, Any], data_fingerprint: str) -> str:
    return hashlib.sha256(f"{canonical(params)}|{data_fingerprint}".encode()).hexdigest()[:20]


class FitStore:
    """A directory of finished fits: `<key>/record.json` (+ weights and fitted state when ok)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.directory / key / RECORD
        if not path.is_file():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def put(self, key: str, record: dict[str, Any], weights_writer: Any = None) -> None:
        """Write an entry in a temporary folder, then rename it into place (atomic)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.directory, prefix=f".{key}."))
        try:
            if weights_writer is not None:
                weights_writer(str(tmp / WEIGHTS))
            (tmp / RECORD).write_text(json.dumps(record, default=plain), encoding="utf-8")
            for child in tmp.iterdir():
                with open(child, "rb") as f:
                    os.fsync(f.fileno())
            target = self.directory / key
            if target.exists():  # trained again: the newest training is the one on record
                old = Path(tempfile.mkdtemp(dir=self.directory, prefix=f".{key}.old."))
                os.replace(target, old / key)
                shutil.rmtree(old, ignore_errors=True)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def annotate(self, key: str, name: str, data: dict[str, Any]) -> None:
        """Add a small JSON file (e.g. the fit's validation score) to a finished entry."""
        entry = self.directory / key
        if entry.is_dir():
            fd, tmp = tempfile.mkstemp(dir=entry, prefix=f".{name}.")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f)
            os.replace(tmp, entry / name)

    def weights_path(self, key: str) -> str:
        return str(self.directory / key / WEIGHTS)

    def records(self) -> list[dict[str, Any]]:
        """Every finished entry (partial temporary folders are ignored)."""
        if not self.directory.is_dir():
            return []
        return [
            json.loads(path.read_text(encoding="utf-8"))
            for path in sorted(self.directory.glob(f"[!.]*/{RECORD}"))
        ]

    def new_records(self, seen: set[str]) -> list[dict[str, Any]]:
        """The finished entries not in `seen` (their names then added to it): a caller that
        keeps `seen` reads each entry once, however large the store grows."""
        if not self.directory.is_dir():
            return []
        found = []
        with os.scandir(self.directory) as entries:
            names = sorted(e.name for e in entries if e.name[0] != "." and e.name not in seen)
        for name in names:
            try:
                found.append(json.loads((self.directory / name / RECORD).read_text("utf-8")))
            except FileNotFoundError:
                continue  # not an entry (a stray file)
            seen.add(name)
        return found

    def clean(self) -> None:
        """Remove temporary folders a killed run left behind (never finished entries)."""
        if self.directory.is_dir():
            for tmp in self.directory.glob(".*"):
                shutil.rmtree(tmp, ignore_errors=True)
