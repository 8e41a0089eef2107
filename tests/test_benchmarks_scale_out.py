"""scale_out.py's arithmetic, from a run's own tables (its end-to-end runs are the cluster
tests' processes; the benchmark itself takes minutes)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_benchmarks_overhead import load


def test_figures_from_a_runs_tables(tmp_path: Path) -> None:
    scale_out = load("scale_out")
    # Two workers, three fits of 4 + 6 + 5 s, the search from 12:00:00 to 12:00:10.
    pd.DataFrame(
        {
            "status": ["ok", "ok", "failed"],
            "n_fits": [1, 1, 1],
            "fit_seconds": [4.0, 6.0, 5.0],
            "started_at": [
                "2026-11-27T12:00:00+00:00",
                "2026-11-27T12:00:00+00:00",
                "2026-11-27T12:00:05+00:00",
            ],
            "finished_at": [
                "2026-11-27T12:00:04+00:00",
                "2026-11-27T12:00:06+00:00",
                "2026-11-27T12:00:10+00:00",
            ],
        }
    ).to_csv(tmp_path / "trials.csv")
    pd.DataFrame({"engine_seconds": [12.5], "best_val_score": [0.8]}).to_csv(
        tmp_path / "summary.csv"
    )
    row = scale_out.figures(tmp_path, workers=2)
    assert row["search_seconds"] == 10.0 and row["engine_seconds"] == 12.5
    assert row["busy_seconds"] == 15.0 and row["fits"] == 3 and row["failed"] == 1
    assert row["efficiency"] == pytest.approx(15 / 20, abs=1e-3)
    assert row["overhead_per_fit_s"] == pytest.approx((20 - 15) / 3, abs=1e-3)
