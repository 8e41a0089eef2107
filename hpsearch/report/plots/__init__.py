"""Matplotlib figures for the HTML reports, drawn on the Agg canvas and returned as PNG bytes.

Matplotlib is imported inside the functions (never pyplot: no global figure state, no
backend switch). Each function returns None when there is nothing to draw.
"""

from __future__ import annotations

from hpsearch.report.plots.compare import bars, compare_progress
from hpsearch.report.plots.curves import curves
from hpsearch.report.plots.kit import PRUNED_COLOR, engine_color, engine_style
from hpsearch.report.plots.runs import parameters, progress_by_time, progress_by_trial

__all__ = [
    "PRUNED_COLOR",
    "bars",
    "compare_progress",
    "curves",
    "engine_color",
    "engine_style",
    "parameters",
    "progress_by_time",
    "progress_by_trial",
]
