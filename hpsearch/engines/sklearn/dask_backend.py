"""The sklearn engine's fits on a Dask cluster (`[sklearn] backend = "dask"`, `--scheduler`).

`parallel` connects to the scheduler (or starts a LocalCluster), prepares and checks every
worker before any task runs, and runs the search under joblib's Dask backend with X and y
saved once in the shared fit store: a task carries their path, and each worker process
loads each file once. Fits stay checkpointed by the fit store, which workers write
directly: its folder must be on a filesystem every worker shares with this process, at the
same path. A lost worker's fits go to another worker (Dask's doing).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import os
import secrets
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hpsearch.compat import joblib as joblib_compat
from hpsearch.compat import stdlib as stdlib_compat
from hpsearch.errors import HPSearchError
from hpsearch.runtime import provenance, threads

try:
    from distributed.diagnostics.plugin import WorkerPlugin

    from hpsearch.compat.joblib import DaskDistributedBackend, SharedDataBackend
except ImportError:  # parallel() says how to install it, in one line
    WorkerPlugin = DaskDistributedBackend = SharedDataBackend = object  # type: ignore[misc, assignment]

NEEDS_DASK = 'the Dask backend needs dask.distributed: pip install "hpsearch[dask]"'
JOBLIB_BACKEND = "hpsearch-dask"


class ClusterError(HPSearchError):
    """The Dask cluster cannot run this study's fits (unreachable, no workers, a worker unfit)."""


def prepare_worker(backend: str) -> None:
    """Streams of `random` per thread; where Keras is not loaded yet (both settings are read
    once, as the frameworks load), the run's Keras backend and one thread per process, unless
    the worker was started with its own thread settings."""

    stdlib_compat.per_thread_random()
    if "keras" in sys.modules:
        return
    os.environ["KERAS_BACKEND"] = backend
    threads.pin(os.environ)  # Dask runs one fit per worker thread


def worker_problem(backend: str, code_hash: str, store: str, probe: str, token: str) -> str:
    """Why this worker cannot train the run's fits ('' if it can): run on the worker."""
    try:  # on a Dask worker, whose environment may lack hpsearch
        from hpsearch.runtime.provenance import model_code_hash
    except ImportError as exc:
        return f"expected hpsearch importable, found {type(exc).__name__}: {exc}"
    if (found := model_code_hash()) != code_hash:
        return (
            f"expected hpsearch with the client's model code ({code_hash}), found "
            f"{found}: install the same hpsearch there"
        )
    import keras

    if (found := keras.backend.backend()) != backend:
        return (
            f"expected Keras on the {backend} backend, found {found} (loaded before this "
            f"run, it cannot switch): start workers with KERAS_BACKEND={backend}"
        )
    try:
        seen = Path(probe).read_text(encoding="utf-8")
    except OSError as exc:
        seen = f"no probe file ({type(exc).__name__})"
    if seen != token:  # the same path is not enough: it must be the same folder
        what = seen if seen.startswith("no probe") else "another probe file"
        return (
            f"expected the fit store {store} shared with the client (the probe file it "
            f"wrote there), found {what}: put the run directory on a filesystem every "
            f"worker mounts at the same path"
        )
    try:
        fd, path = tempfile.mkstemp(dir=store, prefix=".probe-")
        os.close(fd)
        os.remove(path)
    except OSError as exc:
        return f"expected to write in the fit store {store}, found {type(exc).__name__}: {exc}"
    return ""


class Prepare(WorkerPlugin):
    """Set up each worker, present or joining later, before it runs a task; refuse one that
    cannot serve the run (a late joiner's refusal is only logged there: Dask keeps it)."""

    def __init__(self, backend: str, code_hash: str, store: str, probe: str, token: str) -> None:
        self.args = (backend, code_hash, store, probe, token)

    def setup(self, worker: Any) -> None:
        prepare_worker(self.args[0])
        if problem := worker_problem(*self.args):  # a builtin error: the client can load it
            raise RuntimeError(f"Dask worker {worker.address}: {problem}")


class SharedArray:
    """An array of the run in a task's arguments: the path of its copy in the shared fit
    store, loaded by the worker that runs the task (`LoadingBatch`), once per process.

    Not a Dask future: the scheduler places each task on the workers holding its inputs, so
    every fit went to the one worker that had loaded the data (2 workers trained no faster
    than 1); and data Dask holds in memory is lost with its worker. A file is neither."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"SharedArray({self.path!r})"


LOADS: collections.Counter = collections.Counter()  # path -> loads in this process


@functools.lru_cache(maxsize=8)
def load_shared(path: str) -> Any:
    """The array at `path`, memory-mapped (worker processes on one host share its pages)."""
    import numpy as np

    LOADS[path] += 1
    return np.load(path, mmap_mode="r")


class LoadingBatch:
    """joblib's batch of calls, run on a worker with each SharedArray argument loaded."""

    def __init__(self, batch: Any) -> None:
        self.batch = batch

    def __call__(self, tasks: Any = None) -> Any:
        def load(value: Any) -> Any:
            return load_shared(value.path) if isinstance(value, SharedArray) else value

        tasks = [
            (func, [load(a) for a in args], {k: load(v) for k, v in kwargs.items()})
            for func, args, kwargs in tasks
        ]
        return self.batch(tasks)

    def __repr__(self) -> str:  # joblib names the task after it
        return repr(self.batch)


class ClusterBackend(SharedDataBackend):
    """joblib's Dask backend, never run in this process, with the run's X and y sent as
    SharedArrays (each task batch loads them) and no data on one worker only."""

    def wrap_batch(self, batch: Any) -> Any:
        return LoadingBatch(batch)

    def effective_n_jobs(self, n_jobs: int | None) -> int:
        # joblib runs a call in the caller when its backend reports one slot: a cluster of
        # one thread would get no fit.
        return max(2, super().effective_n_jobs(n_jobs))


def shared_data(store: Path, token: str, arrays: dict[str, Any]) -> list[tuple[Any, SharedArray]]:
    """Each array with the SharedArray of its copy, saved once in the fit store (shared)."""
    import numpy as np

    pairs = []
    for name, array in arrays.items():
        path = store / f".data-{token[:8]}-{name}.npy"
        np.save(path, array)
        pairs.append((array, SharedArray(str(path))))
    return pairs


def write_probe(store: Path) -> tuple[Path, str]:
    """A random token in the fit store: workers read it back to prove they share the folder."""
    token = secrets.token_hex(16)
    path = store / f".probe-{token[:8]}"  # (.* in the store: not a fit)
    path.write_text(token, encoding="utf-8")
    return path, token


def run_backend() -> str:
    """The Keras backend this process runs (the workers must run the same)."""
    import keras

    return keras.backend.backend()


@contextlib.contextmanager
def connect(settings: Any) -> Iterator[tuple[Any, str]]:
    """A client of `settings.scheduler`, or of a LocalCluster started (and closed) here."""
    import dask
    from distributed import Client, LocalCluster

    timeout = dask.config.get("distributed.comm.timeouts.connect")  # 30 s unless changed
    if not settings.scheduler:
        n = settings.n_workers or os.cpu_count() or 1
        # Its web server (always started) on a free port: 8787 may be another cluster's.
        with (
            LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0"
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client, f"a local cluster of {n} worker processes"
        return
    address = settings.scheduler if "://" in settings.scheduler else f"tcp://{settings.scheduler}"
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(
            f"cannot reach the Dask scheduler at {address}: expected a running "
            f"`dask scheduler` there, found no answer within {timeout} "
            f"({(str(exc).splitlines() or [''])[0]})"
        ) from None
    with client:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError):
            raise ClusterError(
                f"the Dask scheduler at {address} has no workers after "
                f"{timeout}: expected at least one (dask worker {address})"
            ) from None
        yield client, f"the Dask scheduler at {address}"


def scheduler_problem(code_hash: str) -> str:
    """Why the scheduler cannot hold this run's tasks ('' if it can): it unpickles every
    task, so it needs hpsearch too; without it, it logs the error and the run would wait."""
    try:  # on a Dask worker, whose environment may lack hpsearch
        from hpsearch.runtime.provenance import model_code_hash
    except ImportError as exc:
        return f"expected hpsearch importable, found {type(exc).__name__}: {exc}"
    if (found := model_code_hash()) != code_hash:
        return f"expected hpsearch with the client's model code ({code_hash}), found {found}"
    return ""


def register(client: Any, name: str, where: str, plugin: Prepare) -> None:
    """Prepare and check every worker (and any that joins later); one line if one is unfit."""
    import cloudpickle

    # Sent by value, so that a worker without hpsearch (or another version of it) still
    # runs the checks and says so, rather than failing to unpickle them.
    module = sys.modules[__name__]
    cloudpickle.register_pickle_by_value(module)
    try:
        if problem := client.run_on_scheduler(scheduler_problem, plugin.args[1]):
            raise ClusterError(
                f"Dask scheduler ({where}): {problem}: install the same hpsearch there"
            )
        client.register_plugin(plugin, name=name)
    except ClusterError:
        raise
    except Exception as exc:  # a worker's own one line, else what went wrong
        text = (
            str(exc)
            if str(exc).startswith("Dask worker ")
            else f"preparing the workers of {where} failed: {type(exc).__name__}: {exc}"
        )
        raise ClusterError(text.splitlines()[0][:500]) from None
    finally:
        cloudpickle.unregister_pickle_by_value(module)


@contextlib.contextmanager
def parallel(settings: Any, store_dir: Path, X: Any, y: Any) -> Iterator[int]:
    """Inside: the search's joblib calls run on the cluster's workers, X and y sent to each
    once. Yields the cluster's total threads: the search's n_jobs."""
    try:
        import joblib
    except ImportError:
        raise ClusterError(NEEDS_DASK) from None
    if DaskDistributedBackend is object:
        raise ClusterError(NEEDS_DASK)

    joblib_compat.check()
    from concurrent.futures import CancelledError

    from distributed import KilledWorker

    from hpsearch.engines.common import EnvironmentFailure  # lazy: loads NumPy

    store_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*store_dir.glob(".probe-*"), *store_dir.glob(".data-*")]:  # a killed client's
        stale.unlink(missing_ok=True)
    probe, token = write_probe(store_dir)
    try:
        with connect(settings) as (client, where):
            plugin = f"hpsearch-{token[:8]}"  # this run's: a cluster may serve several
            register(
                client,
                plugin,
                where,
                # looked up now, not bound at import: tests give the client other code
                Prepare(
                    run_backend(), provenance.model_code_hash(), str(store_dir), str(probe), token
                ),
            )
            try:
                threads = sum(client.nthreads().values())
                if threads < 1:
                    raise ClusterError(f"{where} has no workers left: expected at least one")
                joblib.register_parallel_backend(JOBLIB_BACKEND, ClusterBackend)
                # sklearn hands every task these very X and y objects (tests/test_cluster_dask.py
                # checks), which joblib then replaces by their SharedArrays.
                data = shared_data(store_dir, token, {"X": X, "y": y})
                with joblib.parallel_backend(JOBLIB_BACKEND, client=client, data=data):
                    yield threads
            except (KilledWorker, CancelledError) as exc:  # the cluster's failure: resume later
                first = (str(exc).splitlines() or [""])[0]  # (a lost scheduler's says more)
                raise EnvironmentFailure(
                    f"the Dask cluster lost fits of this run ({type(exc).__name__}: {first})"[:300]
                ) from None
            finally:
                with contextlib.suppress(Exception):  # a long-lived cluster forgets this run
                    client.unregister_worker_plugin(plugin)
    finally:
        for path in store_dir.glob(f".*-{token[:8]}*"):  # the probe, the data's copies
            path.unlink(missing_ok=True)
