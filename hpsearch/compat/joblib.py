"""joblib's private Dask backend (`joblib._dask`), which hpsearch's ClusterBackend
(hpsearch/engines/dask_backend.py) subclasses: it overrides `_to_func_args` and fills
joblib's `_scatter`, `data_futures` and `call_data_futures` tables.

Imported only by the Dask backend, with Dask installed: importing it imports joblib._dask
(and so distributed), and raises ImportError where Dask is missing.

Version guard: an error outside SUPPORTED, no fallback. The subclass replaces joblib's data
tables: a changed joblib could send each fit the whole X and y again, or fail on workers.
"""

from __future__ import annotations

from joblib._dask import DaskDistributedBackend

from hpsearch.compat import Span, require

DIST = "joblib"
SUPPORTED: Span = ("1.6", "1.6")  # the one tested: its async `_to_func_args` and tables

__all__ = ["DaskDistributedBackend", "check"]


def check() -> None:
    require(DIST, SUPPORTED, "Dask backend (joblib's DaskDistributedBackend)")
