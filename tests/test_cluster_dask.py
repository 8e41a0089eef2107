"""The sklearn engine on a Dask cluster ([sklearn] backend = "dask", --scheduler): a real
scheduler and two worker processes, one killed mid-study; X and y saved once in the shared
store and sent to each task as their path (random search and halving); fits on the workers exactly as loky trains them; a LocalCluster
without a scheduler; one-line refusals (no scheduler, a store folder not shared, another
Keras backend, other model code, no dask)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from distributed import Future
from joblib._dask import DaskDistributedBackend  # the test extra installs dask
from joblib.parallel import get_active_backend
from test_durability import _rows

from hpsearch.engines.sklearn import dask_backend
from hpsearch.engines.sklearn.dask_backend import ClusterError
from hpsearch.engines.sklearn.engine import SklearnSettings
from hpsearch.study.config import parse_study

from conftest import ROOT, write_study
from test_engines import run_engine, study_text, synthetic

pytestmark = pytest.mark.data
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "jax"}
SPACE = 'n_hidden = 1\nn_neurons = [8, 16]\noptimizer = "adam"\nlearning_rate = [0.001, 0.01]'


class Cluster:
    """A `dask scheduler` and `dask worker --nthreads 1 --no-nanny` processes, as a user
    starts them (the worker processes are the fits' pids)."""

    def __init__(self, folder: Path, n_workers: int) -> None:
        self.folder, self.procs = folder, []
        info = folder / "scheduler.json"
        self.scheduler = self.start(
            "scheduler",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--dashboard-address",
            "127.0.0.1:0",
            "--scheduler-file",
            str(info),
        )
        deadline = time.time() + 60
        while not info.is_file() and time.time() < deadline:
            assert self.scheduler.poll() is None, (folder / "scheduler.log").read_text()
            time.sleep(0.1)
        self.address = json.loads(info.read_text())["address"]
        self.workers = [
            self.start(
                f"worker{i}",
                "distributed.cli.dask_worker",
                self.address,
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
            )
            for i in range(n_workers)
        ]
        from distributed import Client

        with Client(self.address, set_as_default=False) as client:
            client.wait_for_workers(n_workers, timeout=60)

    def start(self, name: str, module: str, *args: str) -> subprocess.Popen:
        with open(self.folder / f"{name}.log", "wb") as log:  # the child keeps its own handle
            proc = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                env=ENV,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
            )
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = Cluster(tmp_path_factory.mktemp("dask"), 2)
    yield running
    running.close()


def fit_records(store: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in store.glob("*/record.json")]


def test_a_study_on_a_dask_cluster_survives_a_lost_worker(cluster, tmp_path):
    """`run --scheduler`: 3 candidates x 2 folds on two workers; one worker is killed once the
    first trial is in; Dask gives its fit to the other and the study ends as usual: every
    trial once and ok, fold fits trained by both workers (after the loss, by the one left:
    not by the run's process, as joblib would with one slot), the refit by the run's process."""
    study = write_study(
        tmp_path,
        "california_housing",
        ["sklearn"],
        n=3,
        replace={
            "max_train_samples = 2000": "max_train_samples = 300",
            "max_eval_samples = 500": "max_eval_samples = 200",
            "epochs = 3": "epochs = 2",
            'cv = "validation"\npatience = 1': "cv = 2",
        },
    )
    out = tmp_path / "out"
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hpsearch",
            "run",
            str(study),
            "--scheduler",
            cluster.address,
            "--output-dir",
            str(out),
            "--keep-state",
        ],
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 180
        while not (dirs := list(out.glob("*/*/run.json"))) or _rows(dirs[0].parent, "sklearn") < 1:
            assert run.poll() is None, run.communicate()[1][-3000:]
            assert time.time() < deadline, "no trial within 180 s"
            time.sleep(0.05)
        lost = cluster.workers[0]
        lost.send_signal(signal.SIGKILL)
        stdout, stderr = run.communicate(timeout=240)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, stderr[-3000:]
    run_dir = Path(stdout.strip().splitlines()[-1])
    trials = pd.read_csv(run_dir / "trials.csv", dtype={"trial": str})
    assert list(trials["trial"]) == ["000", "001", "002"]
    assert set(trials["status"]) == {"ok"} and (trials["n_fits"] == 2).all()
    assert (run_dir / "best" / "sklearn.pkl").is_file()
    assert pd.read_csv(run_dir / "summary.csv")["engine"].tolist() == ["sklearn"]
    assert json.loads((run_dir / "status.json").read_text())["state"] == "finished"
    fits = fit_records(run_dir / "state" / "sklearn" / "fits")
    folds = [f for f in fits if f["n_samples"] < 500]
    assert len(folds) == 6 and len({f["key"] for f in fits}) == 7  # each fit once, + refit
    assert {f["pid"] for f in folds} == {w.pid for w in cluster.workers}
    assert [f["pid"] for f in fits if f["n_samples"] == 500] == [run.pid]


@pytest.fixture
def spy(monkeypatch) -> list[tuple[int, int]]:
    """For each task joblib sends to Dask: how many of its arguments are the SharedArrays of
    the run's X and y (they replace arguments that are the very objects the search was
    given), and how many are futures (joblib's own scatter of large arguments to one worker)."""
    counts: list[tuple[int, int]] = []
    original = DaskDistributedBackend._to_func_args

    async def counting(self: Any, func: Any) -> Any:
        batch, tasks = await original(self, func)
        for _, args, kwargs in tasks:
            values = [*args, *kwargs.values()]
            counts.append(
                (
                    sum(isinstance(a, dask_backend.SharedArray) for a in values),
                    sum(isinstance(a, Future) for a in values),
                )
            )
        return batch, tasks

    monkeypatch.setattr(DaskDistributedBackend, "_to_func_args", counting)
    return counts


def dask_study(settings: str, search: str = "") -> Any:
    text = study_text("california_housing", ("sklearn",), SPACE)
    return parse_study(
        text.replace('cv = "validation"', f'cv = "validation"\n{settings}').replace(
            "n_iter = 2", search or "n_iter = 2"
        )
    )


def scores(result: Any) -> list[tuple[str, str, float]]:
    return [(r.trial, r.status, round(r.val_score, 6)) for r in result.records]


def test_random_search_sends_the_data_once_and_trains_as_loky(cluster, spy, tmp_path):
    """Each task gets X and y as their SharedArrays, not pickled in; the workers train every fold
    fit, and to the bit as loky does (a worker's event loop draws from `random` too: without
    a stream per thread, Keras's initial weights would differ)."""
    data = synthetic("california_housing")
    loky, _ = run_engine("sklearn", dask_study(""), data, tmp_path / "loky")
    study = dask_study(f'backend = "dask"\nscheduler = "{cluster.address}"')
    result, reported = run_engine("sklearn", study, data, tmp_path / "dask")
    assert scores(result) == scores(loky) and len(reported) == 2
    assert spy == [(2, 0), (2, 0)]  # one task per candidate: X and y by path, no future
    pids = {f["pid"] for f in fit_records(tmp_path / "dask" / "fits") if f["n_samples"] < 300}
    assert pids and pids <= {w.pid for w in cluster.workers}


def test_without_a_scheduler_a_local_cluster_is_started_and_closed():
    with dask_backend.connect(SklearnSettings(backend="dask", n_workers=1)) as (client, where):
        assert list(client.nthreads().values()) == [1]
        assert where == "a local cluster of 1 worker processes"
        cluster = client.cluster
    assert cluster.status.name == "closed" and client.status == "closed"


def test_halving_runs_on_the_cluster(cluster, spy, tmp_path):
    """Successive halving's rungs go to the cluster too, X and y by path."""
    study = dask_study(
        f'backend = "dask"\nscheduler = "{cluster.address}"',
        'search = "halving"\nn_candidates = 2\nfactor = 2',
    )
    result, _ = run_engine("sklearn", study, synthetic("california_housing"), tmp_path)
    assert sorted(r.status for r in result.records) == ["ok", "pruned"]
    assert spy == [(2, 0)] * 3  # rung 0: two candidates, rung 1: one
    workers = {w.pid for w in cluster.workers}
    assert {f["pid"] for f in fit_records(tmp_path / "fits") if f["n_samples"] < 300} <= workers


def test_the_data_reach_tasks_as_files_each_worker_loads_once(cluster, tmp_path):
    """No Dask data: the scheduler would send every fit to the worker holding them, and
    lose them with it. Each task carries the path of X's copy in the shared store; a worker
    loads it once and hands it to every task it runs."""
    X, y = np.arange(6.0).reshape(3, 2), np.arange(3)
    settings = SklearnSettings(backend="dask", scheduler=cluster.address)
    from joblib import Parallel, delayed

    with dask_backend.parallel(settings, tmp_path / "fits", X, y):
        backend = get_active_backend()[0]
        shared = backend.data_futures[id(X)]
        assert isinstance(shared, dask_backend.SharedArray)
        assert np.array_equal(np.load(shared.path), X)
        got = Parallel(n_jobs=2)(delayed(np.asarray)(X) for _ in range(6))

        def loaded(path: str) -> int:  # sent by value: the workers cannot import the tests
            from hpsearch.engines.sklearn.dask_backend import LOADS

            return LOADS[path]

        per_worker = backend.client.run(loaded, shared.path)
    assert len(got) == 6 and all(np.array_equal(array, X) for array in got)
    # Each worker that ran tasks loaded X once, whatever number of tasks it ran.
    assert set(per_worker.values()) <= {0, 1} and sum(per_worker.values()) >= 1
    assert not list((tmp_path / "fits").glob(".*"))  # the data's copies and the probe: gone


def refusal(cluster: Cluster, tmp_path: Path) -> str:
    settings = SklearnSettings(backend="dask", scheduler=cluster.address)
    with (
        pytest.raises(ClusterError) as caught,
        dask_backend.parallel(settings, tmp_path / "fits", np.zeros(3), np.zeros(3)),
    ):
        pytest.fail("the cluster was accepted")
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_store_folder_the_workers_do_not_share_is_refused(cluster, tmp_path, monkeypatch):
    """Workers that see another probe file at the store's path (their own folder there, not
    the client's) are refused, in one line naming the worker."""

    def elsewhere(store: Path) -> tuple[Path, str]:
        path, token = original(store)
        path.write_text("a worker's own folder")
        return path, token

    original = dask_backend.write_probe
    monkeypatch.setattr(dask_backend, "write_probe", elsewhere)
    message = refusal(cluster, tmp_path)
    assert message.startswith("Dask worker tcp://127.0.0.1:")
    assert f"expected the fit store {tmp_path / 'fits'} shared with the client" in message
    assert "found another probe file" in message
    assert not list((tmp_path / "fits").glob(".probe-*"))  # the probe is removed


@pytest.mark.parametrize("mismatch", ["backend", "code", "scheduler"])
def test_workers_on_another_backend_or_code_are_refused(cluster, tmp_path, monkeypatch, mismatch):
    who = "Dask worker tcp://127.0.0.1:"
    if mismatch == "backend":  # workers loaded Keras on jax: they cannot switch
        from distributed import Client

        with Client(cluster.address, set_as_default=False) as client:  # (whatever ran before)
            assert set(client.run(lambda: __import__("keras").backend.backend()).values()) == {
                "jax"
            }
        monkeypatch.setattr(dask_backend, "run_backend", lambda: "tensorflow")
        expected = "expected Keras on the tensorflow backend, found jax"
    else:  # the scheduler unpickles every task: it is checked first, then the workers
        monkeypatch.setattr(
            "hpsearch.runtime.provenance.model_code_hash", lambda: "0123456789abcdef"
        )
        expected = "expected hpsearch with the client's model code (0123456789abcdef), found "
        if mismatch == "code":
            monkeypatch.setattr(dask_backend, "scheduler_problem", lambda code_hash: "")
        else:
            who = f"Dask scheduler (the Dask scheduler at {cluster.address}): "
    message = refusal(cluster, tmp_path)
    assert message.startswith(who) and expected in message
    if mismatch == "backend":
        assert message.endswith("start workers with KERAS_BACKEND=tensorflow")


def test_a_lost_cluster_stops_the_run_with_one_line_to_resume_it(cluster, tmp_path):
    """Tasks cancelled under the search (a lost scheduler: seen with a killed `dask scheduler`)
    are the machine's failure: the run stops, finished fits kept, in one line."""
    from distributed.client import FutureCancelledError

    from hpsearch.engines.common import EnvironmentFailure

    settings = SklearnSettings(backend="dask", scheduler=cluster.address)
    with (
        pytest.raises(EnvironmentFailure) as caught,
        dask_backend.parallel(settings, tmp_path / "fits", np.zeros(3), np.zeros(3)),
    ):
        raise FutureCancelledError(
            "batch-1",
            reason="scheduler-connection-lost.\nClient lost the connection to the scheduler.",
        )
    assert str(caught.value) == (
        "the Dask cluster lost fits of this run (FutureCancelledError: "
        "batch-1 cancelled for reason: scheduler-connection-lost.)"
    )


def test_without_dask_one_line_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(dask_backend, "DaskDistributedBackend", object)
    with (
        pytest.raises(
            ClusterError,
            match=r"^the Dask backend needs dask.distributed: pip "
            r'install "hpsearch\[dask\]"$',
        ),
        dask_backend.parallel(SklearnSettings(backend="dask"), tmp_path, [], []),
    ):
        pass


def test_an_unreachable_scheduler_is_one_line(tmp_path):
    with socket.socket() as s:  # a free port: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    study = write_study(
        tmp_path,
        "california_housing",
        ["sklearn"],
        replace={"max_train_samples = 2000": "max_train_samples = 200"},
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hpsearch",
            "run",
            str(study),
            "--scheduler",
            f"127.0.0.1:{port}",
            "--output-dir",
            str(tmp_path / "out"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**ENV, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"},
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert (
        errors
        == proc.stderr.splitlines()[-1:]
        == [
            f"hpsearch: error: cannot reach the Dask scheduler at tcp://127.0.0.1:{port}: "
            f"expected a running `dask scheduler` there, found no answer within 2s "
            f"(Timed out trying to connect to tcp://127.0.0.1:{port} after 2 s)"
        ]
    )
