"""serve_load.py's arithmetic: percentiles, the slowdown, the verdicts and the report built
from them (the benchmark itself starts a server and trains two studies: minutes)."""

from __future__ import annotations

import argparse
import math
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_benchmarks_overhead import load


@pytest.fixture(scope="module")
def serve_load():
    return load("serve_load")


def test_percentile_is_linear_between_ranks(serve_load) -> None:
    p = serve_load.percentile
    assert p([5, 1, 3, 2, 4], 50) == 3  # unsorted input
    assert p(list(range(1, 11)), 90) == pytest.approx(9.1)  # between the 9th and 10th values
    assert p([1, 2, 3, 4], 0) == 1 and p([1, 2, 3, 4], 100) == 4
    assert p([7.5], 99) == 7.5
    assert math.isnan(p([], 50))
    values = [random.Random(0).lognormvariate(0, 1) for _ in range(1001)]
    for q in (50, 90, 99):
        assert p(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_latency_row_in_milliseconds(serve_load) -> None:
    row = serve_load.latency_row([0.001 * i for i in range(1, 101)])  # 1..100 ms
    assert row["requests"] == 100 and row["max_ms"] == 100.0
    assert row["p50_ms"] == 50.5 and row["p99_ms"] == pytest.approx(99.0, abs=0.05)
    assert serve_load.latency_row([])["requests"] == 0


def test_slowdown_and_verdicts(serve_load) -> None:
    assert serve_load.slowdown(60.0, 63.0) == pytest.approx(0.05)
    assert serve_load.slowdown(60.0, 57.0) == pytest.approx(-0.05)  # faster: negative
    verdict = serve_load.verdict
    assert verdict(0.10, 0.10) == "met" and verdict(0.1001, 0.10) == "missed"
    assert verdict(-0.02, 0.10) == "met"
    assert verdict(199.9, 200, under=True) == "met" and verdict(200.0, 200, under=True) == "missed"
    assert verdict(math.nan, 200, under=True) == "missed" and verdict(math.nan, 0.1) == "missed"


def test_study_figures_from_a_runs_tables(serve_load, tmp_path: Path) -> None:
    pd.DataFrame(
        {
            "status": ["ok", "ok", "failed"],
            "fit_seconds": [4.0, 6.0, 5.0],
            "started_at": [
                "2026-11-27T12:00:00+00:00",
                "2026-11-27T12:00:04+00:00",
                "2026-11-27T12:00:10+00:00",
            ],
            "finished_at": [
                "2026-11-27T12:00:04+00:00",
                "2026-11-27T12:00:10+00:00",
                "2026-11-27T12:00:15+00:00",
            ],
        }
    ).to_csv(tmp_path / "trials.csv")
    pd.DataFrame({"engine_seconds": [17.26]}).to_csv(tmp_path / "summary.csv")
    row = serve_load.study_figures(tmp_path)
    assert row["search_seconds"] == 15.0 and row["engine_seconds"] == 17.3
    assert row["busy_seconds"] == 15.0 and row["trials"] == 3 and row["failed"] == 1


def test_report_against_the_mean_of_the_baselines(serve_load, capsys) -> None:
    def study(seconds: float, load: bool) -> dict:
        return {
            "search_seconds": seconds,
            "busy_seconds": seconds - 5,
            "load": load,
            "cover": 1.0,
            **(
                {
                    "readers": {
                        "start": "2026-11-27T12:00:00+00:00",
                        "end": "2026-11-27T12:00:10+00:00",
                        "server_cpu_s": 1.0,
                        "client_cpu_s": 0.5,
                    }
                }
                if load
                else {}
            ),
        }

    loaded = study(66.0, True)
    # 100 requests of 10-109 ms (one refused, every other one unchanged: a 304) and two pages
    loaded["requests"] = [
        ("detail", (10 + i) / 1000, 0 if i == 0 else 304 if i % 2 else 200) for i in range(100)
    ] + [("page", 0.5, 200), ("page", 0.3, 200)]
    args = argparse.Namespace(interval=1.0, json=None)
    out = serve_load.report([study(58.0, False), loaded, study(62.0, False)], {}, {}, args)
    assert out["baseline_seconds"] == 60.0 and out["slowdown"] == pytest.approx(0.10)
    assert out["verdicts"] == {
        "slowdown": "missed",  # +10% against a goal of 5%
        "p99": serve_load.verdict(out["latency"]["all"]["p99_ms"], 200, True),
    }
    assert out["latency"]["all"]["requests"] == 102 and out["latency"]["all"]["errors"] == 1
    assert out["latency"]["detail"]["errors"] == 1 and out["latency"]["page"]["errors"] == 0
    assert out["latency"]["detail"]["not_modified"] == 50  # answered, not an error
    assert out["latency"]["page"]["max_ms"] == 500.0 and out["requests_per_s"] == 10.2
    printed = capsys.readouterr().out
    assert "drift +6.9%" in printed and "slowdown: +10.0%; goal at most 5%: missed" in printed


def test_report_counts_streams_and_events_apart_from_requests(serve_load, capsys) -> None:
    def study(seconds: float, load: str) -> dict:
        window = {
            "start": "2026-11-27T12:00:00+00:00",
            "end": "2026-11-27T12:00:10+00:00",
            "server_cpu_s": 0.2,
            "client_cpu_s": 0.1,
        }
        return {
            "search_seconds": seconds,
            "busy_seconds": seconds - 5,
            "load": load,
            "cover": 1.0,
            **({"readers": window} if load else {}),
        }

    streamed, polled = study(61.0, "stream"), study(66.0, "poll")
    streamed["requests"] = [("page", 0.01, 200), ("detail", 0.02, 200), ("runs", 0.03, 200)]
    streamed["requests"] += [("stream", 0.0, 200), ("stream", 0.0, 0)]  # one broke
    streamed["requests"] += [("event:trials", 0.0, 200)] * 7 + [("event:end", 0.0, 200)]
    polled["requests"] = [("detail", 0.01, 200)] * 4
    args = argparse.Namespace(interval=1.0, json=None)
    out = serve_load.report([study(60.0, ""), streamed, polled, study(60.0, "")], {}, {}, args)
    assert set(out["modes"]) == {"stream", "poll"}
    stream = out["modes"]["stream"]
    assert stream["events"] == 8 and stream["streams_failed"] == 1
    assert stream["latency"]["all"]["requests"] == 3  # events and streams are not requests
    assert stream["latency"]["all"]["errors"] == 1  # the broken stream
    assert stream["slowdown"] == pytest.approx(1 / 60, abs=1e-4)
    assert out["slowdown"] == stream["slowdown"]  # the top level: the first loaded phase
    assert out["modes"]["poll"]["slowdown"] == pytest.approx(0.10)
