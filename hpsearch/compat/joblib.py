"""joblib's private Dask backend (`joblib._dask`), subclassed here with its private data
tables (`_scatter`, `data_futures`, `call_data_futures`) and task batches (`_to_func_args`)
replaced, for hpsearch's ClusterBackend (hpsearch/engines/sklearn/dask_backend.py).

Imported only by the Dask backend, with Dask installed: importing it imports joblib._dask
(and so distributed), and raises ImportError where Dask is missing.

Version guard: an error outside SUPPORTED, no fallback. The subclass replaces joblib's data
tables: a changed joblib could send each fit the whole X and y again, or fail on workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from joblib._dask import DaskDistributedBackend

from hpsearch.compat import Span, require

DIST = "joblib"
SUPPORTED: Span = ("1.6", "1.6")  # the one tested: its async `_to_func_args` and tables

__all__ = ["DaskDistributedBackend", "SharedDataBackend", "check"]


def check() -> None:
    require(DIST, SUPPORTED, "Dask backend (joblib's DaskDistributedBackend)")


class SharedDataBackend(DaskDistributedBackend):
    """joblib's Dask backend sending each of `data`'s arrays as its stand-in (the array ->
    stand-in pairs), scattering no call argument to one worker, and passing each task batch
    through `wrap_batch`."""

    call_data_futures: dict[Any, Any] | None  # joblib's, set in start_call and stop_call

    def __init__(self, data: Sequence[tuple[Any, Any]] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # joblib's own `scatter` table, holding stand-ins instead of futures: every argument
        # that *is* one of these arrays goes to a task as its stand-in.
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
        # joblib also scatters each large argument of a call (sklearn's fold indices) to ONE
        # worker: lose it and every task needing them fails ("already forgotten") rather
        # than moving on. Without this table (joblib's switch) they travel inside each task.
        self.call_data_futures = None

    def stop_call(self) -> None:
        self.call_data_futures = {}  # what the base class clears
        super().stop_call()
