"""Put the summaries of several runs side by side."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hpsearch.errors import InputError
from hpsearch.rundir.folder import SUMMARY
from hpsearch.rundir.read import read_summary


def compare_runs(run_dirs: list[str | Path]) -> pd.DataFrame:
    """One row per run and engine, from each run's summary.csv."""
    frames = []
    for run_dir in map(Path, run_dirs):
        path = run_dir / SUMMARY
        if not path.is_file():
            raise InputError(f"{run_dir}: expected a run directory with summary.csv, found none")
        frame = read_summary(run_dir)  # '007' stays text
        frame.insert(0, "run", f"{run_dir.parent.name}/{run_dir.name}")
        frames.append(frame)
    if not frames:
        raise InputError("compare: expected at least one run directory, got none")
    return pd.concat(frames, ignore_index=True)
