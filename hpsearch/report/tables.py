"""The compact table printed at the end of a run."""

from __future__ import annotations

from pathlib import Path

from hpsearch.rundir.folder import BEST
from hpsearch.rundir.read import read_summary


def best_table(run_dir: Path) -> str:
    """The compact end-of-run table: best trial per engine, its scores, and where the files are."""
    summary = read_summary(run_dir)
    keep = [
        c
        for c in (
            "engine",
            "n_trials",
            "n_failed",
            "n_pruned",
            "metric",
            "direction",
            "best_val_score",
            "test_accuracy",
            "test_rmse",
            "test_r2",
            "engine_seconds",
        )
        if c in summary.columns
    ]
    keep += [c for c in summary.columns if c.startswith("param_")]
    table = summary[keep].rename(columns=lambda c: c.removeprefix("param_"))
    run_dir = Path(run_dir)
    files = ", ".join(
        str(p.relative_to(run_dir))
        for p in sorted([*run_dir.glob("*.*"), *run_dir.glob(f"{BEST}/[!.]*")])
        if p.is_file()
    )
    return f"\n{table.to_string(index=False, float_format=lambda v: f'{v:.4g}')}\n\nfiles in {run_dir}: {files}"
