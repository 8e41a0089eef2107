"""JAX's compile cache: trials of a model shape seen before load its compiled program instead
of compiling it again, with the same results; "off" turns it off."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from hpsearch.runtime import compile_cache

from conftest import ROOT

SCRIPT = """
import json, sys
import hpsearch
from sklearn.datasets import load_diabetes

frame = load_diabetes(as_frame=True).frame
result = hpsearch.search(
    frame, "target", engines=["optuna"], n_trials=3, epochs=2, seed=3, output_dir=sys.argv[1],
    space={"n_hidden": 1, "n_neurons": [4, 8], "optimizer": "adam",
           "learning_rate": {"low": 1e-3, "high": 1e-1, "log": True}},
    optuna={"sampler": "random", "patience": 0},
)
print(json.dumps(list(result.trials["val_score"])))
"""


def _search(tmp_path, out: str, cache: str) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HPSEARCH_COMPILE_CACHE": cache}
    for name in [k for k in env if k.startswith("JAX_COMPILATION_CACHE") or "PERSISTENT" in k]:
        del env[name]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / out)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-1500:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_second_run_loads_its_programs_and_scores_the_same(tmp_path):
    cache = tmp_path / "cache"
    first = _search(tmp_path, "a", str(cache))
    programs = {p.name for p in cache.rglob("*") if p.is_file() and "lock" not in p.name}
    assert len(programs) >= 4, programs  # train, test, predict steps and initialisers
    second = _search(tmp_path, "b", str(cache))
    assert second == first  # loaded, not compiled: the same numbers
    after = {p.name for p in cache.rglob("*") if p.is_file() and "lock" not in p.name}
    assert after == programs  # nothing new to compile: every program was found


def test_off_and_folders(tmp_path, monkeypatch):
    monkeypatch.setenv(compile_cache.ENV, "off")
    assert compile_cache.configure() is None
    monkeypatch.setenv(compile_cache.ENV, str(tmp_path / "c"))
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    assert compile_cache.folder() == tmp_path / "c"
    monkeypatch.delenv(compile_cache.ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert compile_cache.folder() == tmp_path / "x" / "hpsearch" / "jax"
