"""scikeras's private parts: its `BaseWrapper._more_tags` (deleted: dead code that
scikit-learn >= 1.6 refuses) and the `_validate_data(X, y, reset, y_numeric)` and
`_fit(X, y, ...)` methods that hpsearch/model/wrappers.py overrides.

Version guard: an error outside SUPPORTED, no fallback, checked as hpsearch/model/wrappers.py
defines its subclasses: a changed `_validate_data` or `_fit` would skip sklearn's input
checks (or break every fit) silently. Where `_more_tags` is gone there is nothing to drop.
"""

from __future__ import annotations

from hpsearch.compat import Span, require

DIST = "scikeras"
SUPPORTED: Span = ("0.13", "0.13")  # pyproject asks >= 0.13; 0.13.0 tested


def check() -> None:
    require(DIST, SUPPORTED, "scikit-learn wrappers (overrides of _validate_data, _fit)")


def drop_more_tags() -> None:
    """Delete scikeras's `BaseWrapper._more_tags`: it calls `super()._more_tags()`, which
    BaseEstimator no longer has, and sklearn >= 1.6 refuses any class in the MRO that still
    defines it without `__sklearn_tags__`."""
    check()
    from scikeras import wrappers

    if "_more_tags" in vars(wrappers.BaseWrapper):
        del wrappers.BaseWrapper._more_tags
