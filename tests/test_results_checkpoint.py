"""Atomic writes, unique run directories, and the fit store that resume relies on."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from hpsearch.data.dataset import arrays_fingerprint as fingerprint
from hpsearch.engines.sklearn.fitstore import FitStore, fit_key
from hpsearch.files import atomic_write_text
from hpsearch.rundir.folder import new_run_dir


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "a" / "x.csv"
    atomic_write_text(path, "old\n")
    atomic_write_text(path, "new\n")
    assert path.read_text() == "new\n"
    assert [p.name for p in path.parent.iterdir()] == ["x.csv"]


def test_atomic_write_failure_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "x.json"
    atomic_write_text(path, "old")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_concurrent_runs_get_distinct_directories(tmp_path):
    made: list[Path] = []
    lock = threading.Lock()

    def make():
        d = new_run_dir(tmp_path, "study")
        with lock:
            made.append(d)

    threads = [threading.Thread(target=make) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 32 and len(set(made)) == 32
    assert all(d.is_dir() and d.parent == tmp_path / "study" for d in made)


def test_fit_key_depends_on_params_and_data():
    X = np.arange(12, dtype="float32").reshape(4, 3)
    a = fit_key({"lr": 0.1, "n": 2}, fingerprint(X))
    assert a == fit_key({"n": 2, "lr": np.float64(0.1)}, fingerprint(X.copy()))  # order, numpy
    assert a != fit_key({"lr": 0.2, "n": 2}, fingerprint(X))
    X2 = X.copy()
    X2[0, 0] = 99
    assert a != fit_key({"lr": 0.1, "n": 2}, fingerprint(X2))
    assert fingerprint(X) != fingerprint(X.reshape(3, 4))  # same bytes, other shape


def test_fit_store_entries_are_all_or_nothing(tmp_path):
    store = FitStore(tmp_path / "fits")
    store.put("k1", {"status": "ok", "n": 1}, lambda p: Path(p).write_bytes(b"weights"))
    assert store.get("k1") == {"status": "ok", "n": 1}
    assert Path(store.weights_path("k1")).read_bytes() == b"weights"

    def crash(path):
        Path(path).write_bytes(b"half")
        raise KeyboardInterrupt  # killed while writing weights

    with pytest.raises(KeyboardInterrupt):
        store.put("k2", {"status": "ok"}, crash)
    assert store.get("k2") is None
    assert [r["n"] for r in store.records()] == [1]
    assert sorted(p.name for p in (tmp_path / "fits").iterdir()) == ["k1"]
    store.annotate("k1", "score.json", {"score": 0.5})
    assert json.loads((tmp_path / "fits" / "k1" / "score.json").read_text()) == {"score": 0.5}
    store.put("k1", {"status": "ok", "n": 2})  # trained again: the newest record shows it
    assert store.get("k1")["n"] == 2
    assert sorted(p.name for p in (tmp_path / "fits").iterdir()) == ["k1"]
