"""scikit-learn's private seams that hpsearch's searches override (hpsearch/engines/sklearn/fitcache.py):
`BaseSearchCV._run_search(evaluate_candidates)` (1.9 adds a `callback_ctx` keyword) and
`BaseSuccessiveHalving._generate_candidate_params()`.

Version guard: an error outside SUPPORTED, no fallback. The overrides give each seed its
candidates in trial order, which resumes rely on: a changed seam could make a resumed
search miss its finished fits or report the wrong trials, without any error.
"""

from __future__ import annotations

from typing import Any

from hpsearch.compat import Span, require

DIST = "scikit-learn"
SUPPORTED: Span = ("1.6", "1.9")  # pyproject asks >= 1.6; 1.9 tested


def check() -> None:
    require(DIST, SUPPORTED, "searches (overrides of _run_search, _generate_candidate_params)")


def run_search_kwargs(callback_ctx: Any) -> dict[str, Any]:
    """The keywords to hand `_run_search` on: scikit-learn 1.9 passes a callback context,
    earlier versions call it without one."""
    return {} if callback_ctx is None else {"callback_ctx": callback_ctx}
