"""joblib's private parts, for the sklearn engine's workers.

- `PinnedLokyBackend`: joblib's loky backend (`joblib._parallel_backends.LokyBackend`) whose
  workers start with one thread for every framework: its private `_prepare_worker_env` is
  the environment loky starts the worker processes with. Used by fits.py whenever more than
  one loky worker trains. Fallback outside SUPPORTED (`pinned_loky`): None, and the search
  runs joblib's plain loky workers (unpinned: slower, but correct).
- `SharedDataBackend`: joblib's private Dask backend (`joblib._dask`), subclassed with its
  private data tables (`_scatter`, `data_futures`, `call_data_futures`) and task batches
  (`_to_func_args`) replaced, for hpsearch's ClusterBackend
  (hpsearch/engines/sklearn/dask_backend.py). Defined only with Dask installed: without it,
  importing `SharedDataBackend` from here raises ImportError, as dask_backend.py expects.
  Version guard: an error outside SUPPORTED (`check`), no fallback. The subclass replaces
  joblib's data tables: a changed joblib could send each fit the whole X and y again, or
  fail on workers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from joblib._parallel_backends import LokyBackend

from hpsearch.compat import Span, require, supported
from hpsearch.runtime import threads

DIST = "joblib"
SUPPORTED: Span = ("1.6", "1.6")  # the one tested: its async `_to_func_args` and tables
PINNED_LOKY = "hpsearch-pinned-loky"  # PinnedLokyBackend's name among joblib's backends

__all__ = ["DaskDistributedBackend", "PinnedLokyBackend", "SharedDataBackend", "check"]


def check() -> None:
    require(DIST, SUPPORTED, "Dask backend (joblib's DaskDistributedBackend)")


class PinnedLokyBackend(LokyBackend):
    """joblib's loky backend whose worker processes start with one thread per framework
    (threads.pin: XLA, TensorFlow, OpenMP, BLAS): loky only limits OpenMP and BLAS, to
    cpu_count // n_jobs, which XLA and TensorFlow's own pools never read."""

    def _prepare_worker_env(self, n_jobs: int) -> dict[str, str]:
        env: dict[str, str] = super()._prepare_worker_env(n_jobs)
        # The user's own settings (this process's) win; loky's cpu_count // n_jobs does not:
        # on 16 cores and 2 workers it would give each 8 threads.
        own = {k: os.environ[k] for k in (*threads.ONE_THREAD, "XLA_FLAGS") if k in os.environ}
        env.update(threads.one_thread_env(own))
        return env


def pinned_loky() -> str | None:
    """The name of PinnedLokyBackend, registered with joblib; None outside SUPPORTED, where
    `_prepare_worker_env` may no longer be how loky's workers get their environment."""
    if not supported(DIST, SUPPORTED) or not hasattr(LokyBackend, "_prepare_worker_env"):
        return None
    import joblib

    joblib.register_parallel_backend(PINNED_LOKY, PinnedLokyBackend)
    return PINNED_LOKY


try:
    from joblib._dask import DaskDistributedBackend
except ImportError:  # no Dask: only the loky part (see the docstring)
    pass
else:

    class SharedDataBackend(DaskDistributedBackend):
        """joblib's Dask backend sending each of `data`'s arrays as its stand-in (the array
        -> stand-in pairs), scattering no call argument to one worker, and passing each task
        batch through `wrap_batch`."""

        call_data_futures: dict[Any, Any] | None  # joblib's, set in start_call and stop_call

        def __init__(self, data: Sequence[tuple[Any, Any]] = (), **kwargs: Any) -> None:
            super().__init__(**kwargs)
            # joblib's own `scatter` table, holding stand-ins instead of futures: every
            # argument that *is* one of these arrays goes to a task as its stand-in.
            self._scatter = [array for array, _ in data]  # held, so that their ids stay theirs
            self.data_futures = {id(array): stand_in for array, stand_in in data}

        def wrap_batch(self, batch: Any) -> Any:
            """What a task runs instead of joblib's `batch` (the batch itself here)."""
            return batch

        async def _to_func_args(self, func: Any) -> Any:
            batch, tasks = await super()._to_func_args(func)
            return self.wrap_batch(batch), tasks

        def start_call(self) -> None:
            super().start_call()
            # joblib also scatters each large argument of a call (sklearn's fold indices) to
            # ONE worker: lose it and every task needing them fails ("already forgotten")
            # rather than moving on. Without this table (joblib's switch) they travel inside
            # each task.
            self.call_data_futures = None

        def stop_call(self) -> None:
            self.call_data_futures = {}  # what the base class clears
            super().stop_call()
