"""`[sklearn] n_jobs`: "auto" (the default) decided from the machine, loky workers pinned to
one thread each, and the same trials whether fits run one or two at a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hpsearch.engines.sklearn import jobs
from hpsearch.engines.sklearn.jobs import GIB, Machine, decide
from hpsearch.errors import StudyError
from hpsearch.run import runner
from hpsearch.study.config import load_study, parse_study

from conftest import DATA_DIR, ROOT

PENGUINS = DATA_DIR / "penguins" / "penguins.csv"
FACTORIES = ROOT / "tests" / "factories"
STUDY = f"""
[study]
name = "jobs"
engines = ["sklearn"]
seed = 3

[data]
train = "{PENGUINS}"
target = "species"
drop = ["year"]

[model]
factory = "thread_probe:probed_mlp"
path = "{FACTORIES}"

[train]
epochs = 2
batch_size = 32

[space]
n_neurons = [4, 8, 16]
learning_rate = {{ low = 3e-3, high = 3e-2, log = true }}

[sklearn]
n_iter = 3
cv = 2
scoring = "neg_log_loss"  # a continuous score: accuracy could hide a last-digit difference
"""
DATA = 10 * 2**20  # 10 MiB of training data


# -- what "auto" decides -------------------------------------------------------------------


def test_auto_takes_every_idle_core_and_one_on_a_single_core() -> None:
    assert decide(Machine(1, 0.0, 64 * GIB), DATA, 30) == (1, "1 core")
    n, why = decide(Machine(2, 0.1, 64 * GIB), DATA, 30)
    assert n == 2 and why.startswith("2 cores, 0.1 busy")
    assert decide(Machine(16, 0.0, None), DATA, 100)[0] == 16  # memory unknown: cores decide


def test_auto_leaves_the_cores_that_others_keep_busy() -> None:
    assert decide(Machine(2, 1.8, 64 * GIB), DATA, 30)[0] == 1
    assert decide(Machine(2, 2.5, 64 * GIB), DATA, 30)[0] == 1  # overloaded: still one
    assert decide(Machine(8, 3.0, 64 * GIB), DATA, 30)[0] == 5
    assert decide(Machine(2, 0.6, 64 * GIB), DATA, 30)[0] == 1  # 1.4 cores free: 1


def test_auto_takes_no_more_workers_than_memory_holds() -> None:
    per_worker = jobs.WORKER_BASE + jobs.DATA_COPIES * 2 * GIB
    n, why = decide(Machine(8, 0.0, 3 * per_worker + 1), 2 * GIB, 30)
    assert n == 3 and "GiB free for 6.5 GiB a worker" in why
    assert decide(Machine(8, 0.0, GIB // 4), 2 * GIB, 30)[0] == 1  # never fewer than one


def test_auto_takes_no_more_workers_than_fits_at_a_time() -> None:
    n, why = decide(Machine(8, 0.0, 64 * GIB), DATA, 3)
    assert n == 3 and why.endswith("3 fits at a time")
    assert decide(Machine(8, 0.0, 64 * GIB), DATA, 1) == (
        1,
        "8 cores, 0.0 busy, 64.0 GiB free for 0.5 GiB a worker, 1 fit at a time",
    )


def test_auto_keeps_small_work_in_this_process() -> None:
    idle = Machine(8, 0.0, 64 * GIB)
    n, why = decide(idle, DATA, 30, work=jobs.MIN_WORK - 1)
    assert n == 1 and "too few to repay starting workers" in why
    assert decide(idle, DATA, 30, work=jobs.MIN_WORK)[0] == 8
    assert decide(Machine(1, 0.0, None), DATA, 30, work=0) == (1, "1 core")


def test_the_data_size_counts_arrays_and_tables() -> None:
    import numpy as np

    frame = pd.DataFrame({"x": np.zeros(1000), "name": ["penguin"] * 1000})
    size = jobs.data_bytes(np.zeros((100, 10)), frame, None)
    assert size > 8000 + 8000 + 1000 * len("penguin")  # the strings count too


def test_measuring_the_machine_is_quick_and_plausible() -> None:
    import time

    started = time.perf_counter()
    machine = jobs.measure()
    assert time.perf_counter() - started < 1.0
    assert machine.cores == len(os.sched_getaffinity(0)) and machine.busy >= 0
    assert machine.available is None or machine.available > 0


# -- where the fits run ---------------------------------------------------------------------


def worker_threads(_: int) -> tuple[int, str | None, str | None]:
    return os.getpid(), os.environ.get("XLA_FLAGS"), os.environ.get("TF_NUM_INTRAOP_THREADS")


def test_fit_slots_pins_its_loky_workers_and_auto_says_what_it_chose(monkeypatch, tmp_path):
    from joblib import Parallel, delayed

    from hpsearch.engines.sklearn.engine import SklearnSettings
    from hpsearch.engines.sklearn.fits import fit_slots

    monkeypatch.setattr(jobs, "measure", lambda: Machine(2, 0.0, 64 * GIB))
    chosen: list[tuple] = []
    settings = SklearnSettings()  # n_jobs = "auto"
    rows = range(jobs.MIN_WORK)  # work enough for workers: a fit of 1 epoch on that many rows
    with fit_slots(settings, tmp_path, rows, None, 6, lambda *c: chosen.append(c)) as n:
        seen = set(Parallel(n_jobs=n)(delayed(worker_threads)(i) for i in range(8)))
    assert n == 2 and chosen == [
        ("n_jobs", 2, "2 cores, 0.0 busy, 64.0 GiB free for 0.5 GiB a worker")
    ]
    assert {(flags, tf) for _, flags, tf in seen} == {("--xla_cpu_multi_thread_eigen=false", "1")}
    assert os.getpid() not in {pid for pid, _, _ in seen}
    one = SklearnSettings(n_jobs=1)
    with fit_slots(one, tmp_path, None, None, 6, lambda *c: chosen.append(c)) as n:
        assert n == 1  # no workers: sklearn fits in this process, as it is
    assert len(chosen) == 1  # a number is not a choice


def test_auto_keeps_a_factory_from_a_script_in_this_process(monkeypatch, tmp_path):
    from hpsearch.engines.sklearn.engine import SklearnSettings
    from hpsearch.engines.sklearn.fits import fit_slots

    monkeypatch.setattr(jobs, "measure", lambda: Machine(2, 0.0, 64 * GIB))
    chosen: list[tuple] = []
    with fit_slots(
        SklearnSettings(), tmp_path, None, None, 6, lambda *c: chosen.append(c), "__main__:build"
    ) as n:
        assert n == 1  # loky's workers could not import it
    assert chosen == [
        ("n_jobs", 1, "the model factory __main__:build is not importable by worker processes")
    ]


# -- the setting in a study ----------------------------------------------------------------


@pytest.mark.parametrize("value, shown", [("0", "0"), ('"many"', "'many'"), ("-2", "-2")])
def test_a_bad_n_jobs_is_one_line(value: str, shown: str) -> None:
    text = STUDY.replace("n_iter = 3", f"n_iter = 3\nn_jobs = {value}")
    with pytest.raises(StudyError) as info:
        parse_study(text, "jobs.toml")
    line = text.splitlines().index(f"n_jobs = {value}") + 1
    assert str(info.value) == (
        f'jobs.toml:{line}: sklearn.n_jobs: expected a positive integer, -1 (every core) or "auto", '
        f"got {shown}"
    )


def test_auto_is_the_default_and_numbers_stay_numbers() -> None:
    assert parse_study(STUDY, "jobs.toml").settings["sklearn"].n_jobs == "auto"
    for value in ("1", "2", "-1", '"auto"'):
        text = STUDY.replace("n_iter = 3", f"n_iter = 3\nn_jobs = {value}")
        assert parse_study(text, "jobs.toml").settings["sklearn"].n_jobs == json.loads(value)


def test_workers_for_a_factory_from_a_script_are_refused(monkeypatch) -> None:
    def build(units: int = 8, *, n_features: int, n_classes: int) -> None: ...

    monkeypatch.setattr(sys.modules["__main__"], "build", build, raising=False)
    text = (
        '[study]\nname = "x"\ndataset = "fashion_mnist"\n[model]\nfactory = "__main__:build"\n'
        "[space]\nunits = [4, 8]\n[sklearn]\nn_jobs = {}\n"
    )
    with pytest.raises(StudyError) as info:
        parse_study(text.format(2), "x.toml")
    assert str(info.value).startswith(
        'x.toml:9: sklearn.n_jobs: expected 1 or "auto" for a factory defined in a notebook'
    ) and str(info.value).endswith("got 2")
    assert parse_study(text.format('"auto"'), "x.toml").settings["sklearn"].n_jobs == "auto"


# -- real runs: n_jobs = 2 in pinned workers, "auto" deciding 1, the same trials -----------


def probes(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The study with n_jobs = 2 from the command line, and with "auto" in this process on a
    made-up single-core machine (so: fits in this process, as n_jobs = 1)."""
    if not PENGUINS.is_file():
        pytest.skip(f"no {PENGUINS}")
    root = tmp_path_factory.mktemp("jobs")
    two, auto = root / "two", root / "auto"
    for folder in (two, auto):
        (folder / "probe").mkdir(parents=True)
    (two / "jobs.toml").write_text(STUDY.replace("cv = 2", "cv = 2\nn_jobs = 2"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HPSEARCH_PROBE_DIR": str(two / "probe")}
    child = subprocess.Popen(
        [sys.executable, "-m", "hpsearch", "run", "jobs.toml", "--quiet"],
        cwd=two,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = child.communicate(timeout=600)
    assert child.returncode == 0, err[-3000:]
    (auto / "jobs.toml").write_text(STUDY)
    logged: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPSEARCH_PROBE_DIR", str(auto / "probe"))
        mp.setattr(jobs, "measure", lambda: Machine(1, 0.0, 64 * GIB))
        auto_dir = runner.run_study(
            load_study(auto / "jobs.toml"), output_dir=str(auto / "results"), log=logged.append
        )
    return {
        "two": (two / out.strip().splitlines()[-1], child.pid, probes(two / "probe")),
        "auto": (auto_dir, os.getpid(), probes(auto / "probe"), logged),
    }


@pytest.mark.data
def test_n_jobs_2_trains_in_two_pinned_worker_processes(runs) -> None:
    _, run_pid, seen = runs["two"]
    workers = [s for s in seen if s["pid"] != run_pid]
    assert len({s["pid"] for s in workers}) == 2, seen  # 3 candidates x 2 folds over 2 workers
    for s in workers:
        assert "--xla_cpu_multi_thread_eigen=false" in (s["XLA_FLAGS"] or ""), s
        assert s["TF_NUM_INTRAOP_THREADS"] == s["OMP_NUM_THREADS"] == "1", s
    assert len(workers) == 6 and len(seen) == 7  # the refit of the best: in the run's process


@pytest.mark.data
def test_auto_on_one_core_trains_in_the_run_process_and_says_so(runs) -> None:
    run_dir, run_pid, seen, logged = runs["auto"]
    assert {s["pid"] for s in seen} == {run_pid} and len(seen) == 7
    said = [line for line in logged if "n_jobs" in line]
    assert said == ["sklearn: n_jobs = 1 (1 core)"], logged
    info = json.loads((run_dir / "run.json").read_text())
    assert info["chosen"] == {"sklearn": {"n_jobs": {"value": 1, "why": "1 core"}}}


@pytest.mark.data
def test_n_jobs_2_gives_the_trials_of_one_at_a_time(runs) -> None:
    one = pd.read_csv(runs["auto"][0] / "trials.csv", dtype={"trial": str}).set_index("trial")
    two = pd.read_csv(runs["two"][0] / "trials.csv", dtype={"trial": str}).set_index("trial")
    params = [c for c in one.columns if c.startswith("param_")]
    assert len(one) == 3 and params
    pd.testing.assert_frame_equal(one[params], two[params])  # the same candidates, in order
    for column in ("val_score", "cv_std", "epochs_run"):
        assert one[column].tolist() == two[column].tolist(), column  # bit-identical
