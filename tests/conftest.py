"""Shared test set-up: the offline data directory and a small study writer."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The CLI picks JAX when installed; tests import Keras directly, so choose the same here.
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HPSEARCH_DATA_DIR", str(ROOT.parent / "shared" / "data"))
# JAX's compile cache (hpsearch/runtime/compile_cache.py) in a folder of this session's own,
# shared by the suite's processes: a tiny trial compiles once for the whole suite (~5 of 22
# minutes), and no cache warmed by an earlier session changes what a test sees. Off in the
# modules below (see `_compile_cache`).
os.environ.setdefault("HPSEARCH_COMPILE_CACHE", tempfile.mkdtemp(prefix="hpsearch-tests-jax-"))
# Modules that stop, interrupt or kill a study mid-run, or time its trials: their trials must
# take their time, or a study could end before the stop reaches it.
SLOW_TRIALS = {
    "test_cluster_dask",
    "test_cluster_tuner",
    "test_durability",
    "test_failures_and_seeds",
    "test_live_best",
    "test_live_store",
    "test_serve_api",
    "test_serve_browser",
    "test_serve_browser_data",
    "test_serve_http",
    "test_serve_pages",
    "test_serve_queue",
    "test_toy_engine",
    "test_compile_cache",  # sets its own
}
DATA_DIR = Path(os.environ["HPSEARCH_DATA_DIR"])
HAVE_DATA = (DATA_DIR / "fashion-mnist" / "train-images-idx3-ubyte.gz").is_file() and (
    DATA_DIR / "scikit_learn_data" / "cal_housing_py3.pkz"
).is_file()


def pytest_collection_modifyitems(config, items):
    """Tests marked `data` skip without the datasets, unless CI says they must run."""
    if HAVE_DATA:
        return
    if os.environ.get("HPSEARCH_REQUIRE_DATA"):
        raise pytest.UsageError(f"HPSEARCH_REQUIRE_DATA is set but no datasets in {DATA_DIR}")
    skip = pytest.mark.skip(reason=f"datasets not found in {DATA_DIR} (set HPSEARCH_DATA_DIR)")
    for item in items:
        if "data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _compile_cache(request, monkeypatch):
    """The compile cache off in a SLOW_TRIALS module: for the processes it starts (JAX's own
    variables, set by an earlier test that turned the cache on in this process, go too, as
    they win) and for JAX in this process."""
    if request.module.__name__.rpartition(".")[2] not in SLOW_TRIALS:
        yield
        return
    monkeypatch.setenv("HPSEARCH_COMPILE_CACHE", "off")
    for name in list(os.environ):
        if name.startswith(("JAX_COMPILATION_CACHE", "JAX_PERSISTENT_CACHE")):
            monkeypatch.delenv(name)
    jax = sys.modules.get("jax")
    if jax is None:
        yield
        return
    before = jax.config.jax_enable_compilation_cache
    jax.config.update("jax_enable_compilation_cache", False)
    yield
    jax.config.update("jax_enable_compilation_cache", before)


SMALL = {
    "fashion_mnist": """
[study]
name = "{name}"
dataset = "fashion_mnist"
engines = {engines}
seed = 7
max_train_samples = 1500
max_eval_samples = 400

[train]
epochs = 2
batch_size = 64

[space]
n_hidden = {{ low = 1, high = 2 }}
n_neurons = [32, 64]
optimizer = "adam"
learning_rate = {{ low = 1e-3, high = 5e-3, log = true }}

[sklearn]
n_iter = {n}
cv = 2

[keras_tuner]
max_trials = {n}
patience = 1
""",
    "california_housing": """
[study]
name = "{name}"
dataset = "california_housing"
engines = {engines}
seed = 7
max_train_samples = 2000
max_eval_samples = 500

[train]
epochs = 3
batch_size = 64

[space]
n_hidden = {{ low = 1, high = 2 }}
n_neurons = {{ low = 16, high = 64, log = true }}
optimizer = "adam"
learning_rate = {{ low = 2e-3, high = 1e-2, log = true }}

[sklearn]
n_iter = {n}
cv = "validation"
patience = 1

[keras_tuner]
algorithm = "bayesian"
max_trials = {n}
objective = "val_root_mean_squared_error"
""",
}


def write_study(
    tmp_path: Path,
    dataset: str,
    engines: list[str],
    n: int = 2,
    name: str = "small",
    replace: dict[str, str] | None = None,
) -> Path:
    """A small real study (subset, 2-3 epochs) in tmp_path, with text substitutions."""
    text = SMALL[dataset].format(name=name, engines=str(engines).replace("'", '"'), n=n)
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def run_cli(*args: str, cwd: Path, timeout: float = 600, **popen) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hpsearch", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        **popen,
    )
