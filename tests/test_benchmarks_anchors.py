"""benchmarks/anchors.py: the curves, the ratio, quick studies, and one quick run end to end."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
import time
import tomllib
from datetime import datetime

import pytest

from hpsearch.study.config import parse_study
from hpsearch.study.trials import read_trials

from conftest import ROOT, write_study

sys.path.insert(0, str(ROOT / "benchmarks"))
import anchor_quick  # noqa: E402
import anchors  # noqa: E402

MAX, MIN = anchors.MAXIMIZE, anchors.MINIMIZE


def trial(group, name, elapsed, val, direction=MAX):
    return {
        "group": group,
        "trial": name,
        "elapsed": elapsed,
        "val_score": val,
        "direction": direction,
    }


def test_new_bests_improve_per_engine_in_finishing_order():
    trials = [
        trial("a", "2", 30, 0.80),
        trial("a", "0", 10, 0.70),
        trial("a", "1", 20, 0.60),
        trial("b", "0", 15, 0.50),
        trial("a", "3", 40, math.nan),
        trial("b", "1", 25, 0.50),
        trial("b", "2", 35, 0.55),
        trial("c", "0", 5, 2.0, MIN),
        trial("c", "1", 6, 1.0, MIN),
    ]
    events = anchors.new_bests(trials)
    assert [(e["group"], e["trial"]) for e in events] == [
        ("c", "0"),
        ("c", "1"),
        ("a", "0"),
        ("b", "0"),
        ("a", "2"),
        ("b", "2"),
    ]
    for group in "abc":
        mine = [e for e in events if e["group"] == group]
        assert [e["elapsed"] for e in mine] == sorted(e["elapsed"] for e in mine)
        for before, after in itertools.pairwise(mine):  # strictly better each time
            assert anchors.better(after["val_score"], before["val_score"], after["direction"])


def test_scoring_the_new_bests_never_moves_their_times():
    trials = [trial("a", str(i), float(i), 0.1 * i) for i in range(1, 4)]

    def slow_score(event):
        time.sleep(0.2)
        return 1 - event["val_score"], "fake"

    events, seconds = anchors.score_new_bests([dict(t) for t in trials], slow_score)
    assert [e["elapsed"] for e in events] == [1.0, 2.0, 3.0]
    assert [e["test_score"] for e in events] == pytest.approx([0.9, 0.8, 0.7])
    assert seconds >= 0.6


def side(points, final, wall, finals=()):
    events = [
        {"group": "g", "trial": str(i), "elapsed": t, "test_score": s}
        for i, (t, s) in enumerate(points)
    ]
    return {"events": events, "finals": list(finals), "final_test": final, "wall_seconds": wall}


def test_ratio_is_anchor_time_to_its_final_score_over_hpsearch_time_to_reach_it():
    # The anchor first reached its final 0.88 at 100 s (not at its last new best, 300 s).
    anchor = side([(50, 0.85), (100, 0.885), (300, 0.88)], 0.88, 400)
    hp = side([(10, 0.80), (20, 0.879), (40, 0.88), (60, 0.90)], 0.90, 80)
    cmp = anchors.compare(anchor, hp, MAX, strict=False, goal=3.0)
    assert (cmp["anchor_seconds"], cmp["hpsearch_seconds"]) == (100, 40)
    assert cmp["ratio"] == pytest.approx(2.5) and cmp["ratio_to_anchor_wall"] == pytest.approx(10)
    assert not cmp["goal_met"]
    # Strictly lower RMSE: a tie does not count; a final model counts like a new best.
    anchor = side([(90, 0.60), (120, 0.58)], 0.58, 150)
    hp = side(
        [(10, 0.58), (30, 0.59)],
        0.55,
        50,
        finals=[{"group": "g", "elapsed": 35, "test_score": 0.55}],
    )
    cmp = anchors.compare(anchor, hp, MIN, strict=True, goal=3.0)
    assert cmp["hpsearch_seconds"] == 35 and cmp["ratio"] == pytest.approx(120 / 35)
    assert cmp["goal_met"]
    never = anchors.compare(anchor, side([(10, 0.7)], 0.7, 20), MIN, strict=True, goal=3.0)
    assert never["ratio"] is None and never["hpsearch_seconds"] is None and not never["goal_met"]


@pytest.mark.parametrize("name", ["fashion", "california"])
def test_quick_study_shrinks_the_default_study_and_stays_valid(name, tmp_path):
    source = ROOT / "studies" / f"{name}.toml"
    text = anchor_quick.quick_study(source.read_text(), source)
    study = parse_study(text, str(tmp_path / "quick.toml"))
    original = parse_study(source.read_text(), str(source))
    assert study.max_train_samples == 2000 and study.max_eval_samples == 500
    assert study.epochs == min(2, original.epochs)
    assert study.engines == original.engines and study.space == original.space
    for name in study.engines:  # at most 2 trials each (3 candidates for a halving search)
        settings = study.settings[name]
        if getattr(settings, "search", "") == "halving":  # n_iter is the random search's
            assert settings.n_candidates <= 3 and settings.min_resources == 1
        else:
            assert all(getattr(settings, k, 0) <= 2 for k in ("n_iter", "max_trials", "n_trials"))
    assert tomllib.loads(anchor_quick.dump_toml(tomllib.loads(text))) == tomllib.loads(text)


def test_quick_study_never_grows_a_study(tmp_path):
    source = write_study(tmp_path, "fashion_mnist", ["sklearn"], n=1)
    study = parse_study(anchor_quick.quick_study(source.read_text(), source), str(source))
    assert (study.max_train_samples, study.max_eval_samples, study.epochs) == (1500, 400, 2)
    assert study.settings["sklearn"].n_iter == 1


@pytest.mark.data
def test_quick_california_end_to_end(tmp_path):
    """One quick run: both sides' figures, hpsearch's times as its tables have them, and each
    new best's test score from that trial's own model."""
    study = write_study(
        tmp_path,
        "california_housing",
        ["sklearn", "keras_tuner"],
        n=2,
        replace={'cv = "validation"': "cv = 2"},
    )
    out = tmp_path / "result.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "anchors.py"),
            "california",
            "--quick",
            "--skip-speed",
            "--study",
            str(study),
            "--keep",
            str(tmp_path / "work"),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ratio:" in done.stdout and "best-so-far curves" in done.stdout
    result = json.loads(out.read_text())
    anchor, hp, cmp = result["anchor"], result["hpsearch"], result["comparison"]
    assert anchor["backend"] == "tensorflow" and hp["backend"] == "jax"
    assert anchor["n_trials"] == 2 and hp["n_trials"] == 4
    for s in (anchor, hp):
        assert s["events"] and all(0 <= e["elapsed"] <= s["wall_seconds"] + 1 for e in s["events"])
        assert s["eval_seconds"] > 0
    # hpsearch's times are its trials' finishing times in trials.csv, from run.json's start.
    run_dir = tmp_path / "work" / "runs" / next((tmp_path / "work" / "runs").iterdir()).name
    run_dir = next(run_dir.iterdir())
    start = datetime.fromisoformat(json.loads((run_dir / "run.json").read_text())["started_at"])
    finished = {
        (r.engine, r.trial): (datetime.fromisoformat(r.finished_at) - start).total_seconds()
        for r in read_trials(run_dir / "trials.csv")
    }
    for e in hp["events"]:
        assert e["elapsed"] == finished[(e["group"], e["trial"])]
    # Each engine's last new best is its best trial: the final model the run saved is that
    # trial's own weights (keras_tuner) or the run's own refit of it (sklearn, k-fold).
    for final in hp["finals"]:
        last = [e for e in hp["events"] if e["group"] == final["group"]][-1]
        assert last["test_score"] == pytest.approx(final["test_score"], abs=1e-4)
    assert anchor["events"][-1]["test_score"] == pytest.approx(anchor["final_test"])
    if cmp["ratio"] is not None:
        assert cmp["ratio"] == pytest.approx(cmp["anchor_seconds"] / cmp["hpsearch_seconds"])
