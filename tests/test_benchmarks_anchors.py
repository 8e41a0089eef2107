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
import anchor_minutes  # noqa: E402
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


def anchors_cli(*args: str, json_out) -> subprocess.CompletedProcess:
    """benchmarks/anchors.py with `args`, no speed measurement, its figures to `json_out`."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / "anchors.py"), *args, "--skip-speed"]
    return subprocess.run(
        [*cmd, "--json", str(json_out)], capture_output=True, text=True, timeout=600
    )


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
    done = anchors_cli(
        "california",
        "--quick",
        "--study",
        str(study),
        "--keep",
        str(tmp_path / "work"),
        json_out=out,
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


# --- --peers: the per-minute table, the goal, the peers' space and model ----------------------


def point(group, elapsed, val, test):
    return {"group": group, "elapsed": elapsed, "val_score": val, "test_score": test}


def test_score_at_is_the_model_picked_by_validation_never_by_test():
    points = [
        point("a", 30, 0.80, 0.79),
        point("b", 50, 0.78, 0.90),  # better on test, worse on validation: never picked
        point("a", 70, 0.85, 0.84),
        {"group": "a", "elapsed": 90, "val_score": None, "test_score": 0.86},  # a's final model
    ]
    at = [anchor_minutes.score_at(points, t, MAX) for t in (10, 30, 60, 80, 90)]
    assert at == [None, 0.79, 0.79, 0.84, 0.86]
    rmse = [point("a", 5, 0.6, 0.62), point("b", 6, 0.5, 0.70), point("a", 7, 0.55, 0.50)]
    assert [anchor_minutes.score_at(rmse, t, MIN) for t in (5, 6, 7)] == [0.62, 0.70, 0.70]


def test_per_minute_rows_at_every_whole_minute_then_the_end():
    assert anchor_minutes.ticks(150) == [60, 120, 150]
    assert anchor_minutes.ticks(120) == [60, 120]
    assert anchor_minutes.ticks(25, tick=10) == [10, 20, 25]
    assert anchor_minutes.ticks(30) == [30]
    sides = {"hpsearch": [point("x", 50, 0.8, 0.8)], "optuna": [point("o", 100, 0.9, 0.85)]}
    rows = anchor_minutes.per_minute(sides, MAX, 130)
    assert rows == [
        {"seconds": 60, "hpsearch": 0.8, "optuna": None},
        {"seconds": 120, "hpsearch": 0.8, "optuna": 0.85},
        {"seconds": 130, "hpsearch": 0.8, "optuna": 0.85},
    ]


def test_goal_is_met_only_at_or_above_every_peer_at_every_minute():
    rows = [
        {"seconds": 60, "hpsearch": None, "optuna": None, "kt": None},
        {"seconds": 120, "hpsearch": 0.80, "optuna": 0.80, "kt": None},  # a tie meets it
        {"seconds": 180, "hpsearch": 0.85, "optuna": 0.84, "kt": 0.86},
        {"seconds": 240, "hpsearch": 0.87, "optuna": 0.88, "kt": 0.86},
    ]
    assert anchor_minutes.goal(rows, "hpsearch", ["optuna", "kt"], MAX) == {
        "optuna": 240,
        "kt": 180,
    }
    lines = anchor_minutes.goal_lines({"optuna": 240, "kt": None}, MAX)
    assert "MISSED, first at minute 4.00" in lines[0] and lines[1].endswith("met")
    # RMSE: at or below; hpsearch with no model yet while the peer has one misses it
    rows = [
        {"seconds": 60, "hpsearch": 0.50, "optuna": 0.50},
        {"seconds": 120, "hpsearch": 0.48, "optuna": 0.49},
    ]
    assert anchor_minutes.goal(rows, "hpsearch", ["optuna"], MIN) == {"optuna": None}
    rows = [{"seconds": 60, "hpsearch": None, "optuna": 0.9}]
    assert anchor_minutes.goal(rows, "hpsearch", ["optuna"], MIN) == {"optuna": 60}


def test_the_peers_draw_the_study_space_as_its_toml_has_it():
    import keras_tuner as kt
    import optuna
    from anchor_peer_parts import hp_params, suggest

    space = tomllib.loads((ROOT / "studies" / "california.toml").read_text())["space"]
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    params = suggest(trial, space)
    assert params["optimizer"] == "adam" and "optimizer" not in trial.distributions
    dists = trial.distributions
    assert isinstance(dists["n_hidden"], optuna.distributions.IntDistribution)
    assert (dists["n_hidden"].low, dists["n_hidden"].high) == (2, 4)
    assert dists["n_neurons"].log and dists["learning_rate"].log and not dists["dropout"].log
    assert isinstance(dists["dropout"], optuna.distributions.FloatDistribution)
    assert dists["batch_size"].choices == (128, 256)
    hp = kt.HyperParameters()
    hp_params(hp, space)
    kinds = {p.name: p for p in hp.space}
    assert isinstance(kinds["n_hidden"], kt.engine.hyperparameters.Int)
    assert kinds["n_neurons"].sampling == "log" and kinds["dropout"].sampling == "linear"
    assert kinds["activation"].values == ["relu", "gelu"] and kinds["optimizer"].value == "adam"


@pytest.mark.parametrize("n_classes", [10, None])
def test_the_peers_model_is_hpsearchs_mlp(n_classes):
    from anchor_peer_parts import build_mlp

    from hpsearch.model.mlp import build_model

    params = {
        "n_hidden": 2,
        "n_neurons": 48,
        "activation": "gelu",
        "optimizer": "nadam",
        "learning_rate": 5e-4,
        "dropout": 0.2,
    }

    def shape(model):
        layers = [(type(x).__name__, x.get_config()) for x in model.layers]
        keep = ("units", "activation", "rate")
        layers = [(name, {k: c[k] for k in keep if k in c}) for name, c in layers]
        optimizer = model.optimizer
        metrics = [m.name for m in model.metrics]
        lr = float(optimizer.learning_rate)
        return layers, model.loss, type(optimizer).__name__, lr, metrics, model.count_params()

    ours = build_mlp(params, 20, n_classes)
    theirs = build_model(**params, n_features=20, n_classes=n_classes)
    assert shape(ours) == shape(theirs)


@pytest.mark.data
def test_quick_peers_end_to_end(tmp_path):
    """One quick --peers run on a tiny study: hpsearch's side, then both peers on JAX, each
    given hpsearch's wall time, counting only the trials that finished within it."""
    study = write_study(tmp_path, "california_housing", ["keras_tuner"], n=1)
    out, png = tmp_path / "result.json", tmp_path / "peers.png"
    done = anchors_cli(
        "california", "--peers", "--quick", "--study", str(study), "--plot", str(png), json_out=out
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "best-so-far test rmse" in done.stdout and "goal vs kt-hyperband" in done.stdout
    assert png.read_bytes().startswith(b"\x89PNG")
    result = json.loads(out.read_text())
    hp, peers = result["hpsearch"], result["peers"]
    assert result["budget"] == hp["wall_seconds"] and list(peers) == ["optuna", "kt-hyperband"]
    for peer in peers.values():
        assert peer["backend"] == "jax" and peer["budget_seconds"] == result["budget"]
        assert all(e["elapsed"] <= result["budget"] for e in peer["events"])
        assert all(math.isfinite(e["test_score"]) for e in peer["events"])
    assert [row["seconds"] for row in result["minutes"]] == anchor_minutes.ticks(
        result["budget"], tick=10
    )
    rows = anchor_minutes.per_minute(
        {"hpsearch": hp["events"] + hp["finals"], **{n: p["events"] for n, p in peers.items()}},
        MIN,
        result["budget"],
        tick=10,
    )
    assert rows == result["minutes"]
    assert result["goal"] == anchor_minutes.goal(rows, "hpsearch", list(peers), MIN)


@pytest.mark.data
def test_a_peer_stops_at_its_budget_and_counts_no_trial_in_progress(tmp_path):
    """The Optuna peer in-process on a tiny slice, its one trial far longer than the budget:
    stopped within about a batch of the budget's end (not at Optuna's timeout, which waits for
    the trial), and not counted."""
    import anchor_peers

    study = write_study(
        tmp_path,
        "california_housing",
        ["optuna"],
        replace={"epochs = 3": "epochs = 300", "[sklearn]": "[optuna]\npatience = 0\n\n[sklearn]"},
    )
    start = time.perf_counter()
    result = anchor_peers.optuna_side(str(study), tmp_path / "work", budget=4.0)
    assert result["n_trials"] == 0 and result["events"] == [] and result["budget_seconds"] == 4
    assert result["wall_seconds"] < 4 + 10 and time.perf_counter() - start < 60


def test_a_peer_counts_only_the_trials_finished_within_its_budget():
    import anchor_peers

    timeline = [trial("optuna", "0", 3.0, 0.5, MIN), trial("optuna", "1", 9.5, 0.4, MIN)]
    result = anchor_peers._result("x", 9.0, 10.2, timeline, lambda e: (0.6, "fake"), "note")
    assert result["n_trials"] == 1 and [e["trial"] for e in result["events"]] == ["0"]
    assert result["final_test"] == 0.6 and result["wall_seconds"] == 10.2
