"""benchmarks/many_trials.py, small: every engine runs its trials through the whole runner,
Keras's time is taken off, and the figures printed are the ones saved."""

from __future__ import annotations

import json

import pytest
from test_benchmarks_overhead import load


def test_many_trials_times_every_engine(tmp_path, capsys):
    bench = load("many_trials")
    out = tmp_path / "many.json"
    engines = ["sklearn", "keras_tuner", "optuna"]
    assert bench.main(["--trials", "6", "--no-speed", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = json.loads(out.read_text())["rows"]
    assert [r["engine"] for r in rows] == engines
    for row in rows:
        assert row["trials"] == 6 and row["failed"] == 0, row
        assert len(row["own"]) == 5  # the first trial (set-up) left out
        assert 0 < row["keras_s"] < row["wall_s"], row  # Keras's share was measured
        assert 0 < row["own_median_ms"] < row["trial_wall_median_ms"], row
        line = next(x for x in printed.splitlines() if x.startswith(row["engine"] + " "))
        assert str(row["own_median_ms"]) in line and str(row["flat_ratio"]) in line


def test_trials_reported_together_share_their_span():
    bench = load("many_trials")
    # (wall, Keras seconds so far): trial 1 alone, then trials 2-4 reported at once (a batch)
    reports = [(0.0, 0.0), (1.0, 0.9), (4.0, 3.6), (4.0, 3.6), (4.3, 3.6)]
    own, walls = bench.per_trial(reports)
    assert walls == pytest.approx([1.0, 1.1, 1.1, 1.1])
    assert own == pytest.approx([0.1, 0.2, 0.2, 0.2])  # not [0.1, 0.3, 0.0, 0.3]
