"""hpsearch's default studies against the tools people use today, each benchmark in one run.

    python benchmarks/anchors.py fashion      # Keras Tuner Hyperband, textbook settings (TF)
    python benchmarks/anchors.py california   # scikeras RandomizedSearchCV, textbook style (TF)
    python benchmarks/anchors.py fashion --peers      # Optuna and Keras Tuner, on JAX too
    options: --quick (a smoke run of ~2 minutes), --json PATH, --study PATH, --keep DIR,
             --peers [--budget SECONDS] [--plot PNG]

Each side runs in its own subprocess: the anchor on the TensorFlow backend, as its users run
it; hpsearch through its own CLI (`python -m hpsearch run STUDY --keep-state`) on its default
JAX backend, reading whatever the study file says. Both use hpsearch's data split (the anchor
loads it with hpsearch.data from the same study file), so the test sets are identical.

For each side: wall time, trials, final test score, and the best-so-far curve: each trial that
is a new best by validation (per engine), at the time it finished, with the test score of that
trial's own model. Those test scores are computed after the search (the engines keep each
trial's model), so evaluating them never counts in a side's elapsed times. Then the ratio of
wall times to reach the anchor's final test score: the time the anchor first reached it over
the time hpsearch first reached a model at least as good.

--peers (anchor_minutes.py, anchor_peers.py): no anchor; hpsearch's side first, then Optuna
(TPE, HyperbandPruner) and Keras Tuner Hyperband, each on JAX over the study's own space,
model, data and epochs cap, each for hpsearch's wall time; the best-so-far test score at each
minute, and the goal: hpsearch at or above each peer at every minute.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from anchor_quick import quick_study
from anchor_run import HERE, MAXIMIZE, MINIMIZE, ROOT, _env, _run, aligned, better, run_hpsearch

BENCHMARKS = {
    # name: (default study, anchor side, test metric, direction, goal ratio, strictly better)
    "fashion": ("studies/fashion.toml", "hyperband", "accuracy", MAXIMIZE, 3.0, False),
    "california": ("studies/california.toml", "randomsearch", "rmse", MINIMIZE, 3.0, True),
}
GOALS = {
    "fashion": "hpsearch reaches the anchor's test accuracy at least 3x sooner (ratio >= 3x)",
    "california": "a lower test RMSE in less than a third of the anchor's time (ratio > 3x)",
}


# --- the curves (pure) ----------------------------------------------------------------------


def reaches(score: float, target: float, direction: str, strict: bool = False) -> bool:
    """Is `score` at least as good as `target` (strictly better when `strict`)?"""
    if not math.isfinite(score):
        return False
    return better(score, target, direction) or (not strict and score == target)


def new_bests(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trials that beat every earlier trial of their group (engine) by validation, in the
    order they finished. Each trial: group, trial, elapsed, val_score, direction."""
    best: dict[str, float] = {}
    out = []
    for t in sorted(trials, key=lambda t: t["elapsed"]):  # stable: equal times keep their order
        score, group = t["val_score"], t.get("group", "")
        if score is None or not math.isfinite(score):
            continue
        if group not in best or better(score, best[group], t["direction"]):
            best[group] = score
            out.append(t)
    return out


def score_new_bests(
    trials: list[dict[str, Any]], score: Callable[[dict[str, Any]], tuple[float, str]]
) -> tuple[list, float]:
    """The new bests of a finished search, each given its test score and the model that gave
    it by `score(event)`, and the seconds that scoring took. Called after the search stopped
    its clock: scoring never moves an elapsed time."""
    start = time.perf_counter()
    events = new_bests(trials)
    for event in events:
        event["test_score"], event["model"] = score(event)
    return events, time.perf_counter() - start


def first_reaching(
    points: list[dict[str, Any]], target: float, direction: str, strict: bool = False
) -> dict[str, Any] | None:
    """The earliest point (new best or final model) whose test score reaches `target`."""
    hits = [p for p in points if reaches(p["test_score"], target, direction, strict)]
    return min(hits, key=lambda p: p["elapsed"]) if hits else None


def compare(
    anchor: dict[str, Any], hp: dict[str, Any], direction: str, strict: bool, goal: float
) -> dict[str, Any]:
    """Time for each side to reach the anchor's final test score, and their ratio."""
    target = anchor["final_test"]
    a = first_reaching(anchor["events"] + anchor["finals"], target, direction)
    h = first_reaching(hp["events"] + hp["finals"], target, direction, strict)
    out: dict[str, Any] = {
        "target": target,
        "strict": strict,
        "goal_ratio": goal,
        "anchor_seconds": a["elapsed"] if a else None,
        "hpsearch_seconds": h["elapsed"] if h else None,
        "hpsearch_point": h,
        "ratio": None,
        "ratio_to_anchor_wall": None,
    }
    if a and h:
        out["ratio"] = a["elapsed"] / h["elapsed"] if h["elapsed"] > 0 else math.inf
        out["ratio_to_anchor_wall"] = (
            anchor["wall_seconds"] / h["elapsed"] if h["elapsed"] > 0 else math.inf
        )
    ratio = out["ratio"]
    out["goal_met"] = ratio is not None and (ratio > goal if strict else ratio >= goal)
    return out


# --- running the sides ------------------------------------------------------------------------


def run_anchor(
    kind: str, study: Path, work: Path, quick: bool, backend: str = "tensorflow"
) -> dict[str, Any]:
    """The anchor search in a subprocess on `backend` (TensorFlow, as its users run it; JAX
    where TensorFlow is missing, e.g. on the GPU machine); its figures as a dict."""
    out = work / "anchor.json"
    cmd = [
        sys.executable,
        str(HERE / "anchor_sides.py"),
        kind,
        "--study",
        str(study),
        "--work",
        str(work / "anchor"),
        "--out",
        str(out),
        *(["--quick"] if quick else []),
    ]
    _, seconds = _run(cmd, _env(backend), f"the {kind} anchor")
    side = json.loads(out.read_text())
    side["process_seconds"] = seconds
    return side


# --- output ----------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-" if value is None or math.isnan(value) else "inf"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def report(result: dict[str, Any]) -> str:
    """The plain-text table of one benchmark's result."""
    from machine import header_lines

    anchor, hp, cmp = result["anchor"], result["hpsearch"], result["comparison"]
    metric = result["metric"]
    lines = [
        f"== anchors: {result['benchmark']}{' (quick)' if result['quick'] else ''}"
        f"{' (both sides at once, sharing the machine)' if result.get('concurrently') else ''} ==",
        *header_lines(result["machine"]),
        f"study:   {result['study']} (engines: {', '.join(hp['engines'])}); data "
        f"{hp['sizes']['train']} train / {hp['sizes']['val']} val / {hp['sizes']['test']} test, "
        f"the same split on both sides",
        f"goal:    {GOALS[result['benchmark']]}",
        "",
    ]
    hp_finals = ", ".join(f"{_fmt(f['test_score'])} ({f['group']})" for f in hp["finals"])
    rows = [
        ("side", "backend", "wall s", "trials", f"final test {metric}"),
        (
            f"anchor: {anchor['label']}",
            anchor["backend"],
            f"{anchor['wall_seconds']:.1f}",
            str(anchor["n_trials"]),
            _fmt(anchor["final_test"]),
        ),
        (
            f"hpsearch: {hp['label']}",
            hp["backend"],
            f"{hp['wall_seconds']:.1f}",
            str(hp["n_trials"]),
            hp_finals,
        ),
    ]
    lines += aligned(rows)
    lines += [
        "",
        "best-so-far curves: each new best by validation (per engine) when its trial "
        "finished, its test score computed after the search (outside every elapsed time);",
        "'final' rows: the model each side hands its user, when it was ready",
        "",
    ]
    rows = [("side", "engine", "trial", "elapsed s", "val", f"test {metric}", "model")]
    for name, side in (("anchor", anchor), ("hpsearch", hp)):
        points = sorted(side["events"] + side["finals"], key=lambda p: p["elapsed"])
        rows += [
            (
                name,
                p["group"],
                p.get("trial", "final"),
                f"{p['elapsed']:.1f}",
                _fmt(p.get("val_score")),
                _fmt(p["test_score"]),
                p["model"],
            )
            for p in points
        ]
    lines += aligned(rows)
    lines += ["", *[f"note: {n}" for n in anchor["notes"] + hp["notes"]], ""]
    better_word = "lower than" if cmp["strict"] else "at least"
    lines.append(
        f"time to the anchor's final test {metric} {_fmt(cmp['target'])}: anchor "
        f"{_fmt(cmp['anchor_seconds'], 1)} s; hpsearch (first model {better_word} that) "
        + (
            f"{cmp['hpsearch_seconds']:.1f} s ({cmp['hpsearch_point']['group']} "
            f"{cmp['hpsearch_point'].get('trial', 'final model')})"
            if cmp["hpsearch_point"]
            else "never reached it"
        )
    )
    if cmp["ratio"] is not None:
        lines.append(
            f"ratio:   {_fmt(cmp['ratio'], 2)}x (against the anchor's whole wall time: "
            f"{_fmt(cmp['ratio_to_anchor_wall'], 2)}x); goal {'>' if cmp['strict'] else '>='} "
            f"{cmp['goal_ratio']:g}x: {'met' if cmp['goal_met'] else 'NOT met'}"
        )
    else:
        lines.append("ratio:   none: hpsearch never reached it; goal: NOT met")
    return "\n".join(lines)


def _anchor_and_hpsearch(kind: str, used: Path, work: Path, args: Any) -> tuple[dict, dict]:
    if args.concurrently:  # a short lease: both subprocesses at once, sharing the machine
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(2) as pool:
            later = pool.submit(run_anchor, kind, used, work, args.quick, args.anchor_backend)
            hp = run_hpsearch(used, work)
            return later.result(), hp
    return run_anchor(kind, used, work, args.quick, args.anchor_backend), run_hpsearch(used, work)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmark", choices=BENCHMARKS)
    parser.add_argument("--quick", action="store_true", help="tiny versions of both sides")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--study", help="hpsearch's study file (default: the benchmark's)")
    parser.add_argument("--keep", metavar="DIR", help="keep the runs here (default: a temp dir)")
    parser.add_argument(
        "--anchor-backend",
        default="tensorflow",
        choices=["tensorflow", "jax"],
        help="the anchor's Keras backend (default: tensorflow, as its users run it)",
    )
    parser.add_argument(
        "--concurrently",
        action="store_true",
        help="run both sides at once (they share the machine: say so when quoting)",
    )
    parser.add_argument(
        "--peers",
        action="store_true",
        help="instead of the anchor: Optuna and Keras Tuner Hyperband on JAX, same budget",
    )
    parser.add_argument(
        "--budget", type=float, metavar="SECONDS", help="the peers' budget (default: hpsearch's)"
    )
    parser.add_argument("--plot", metavar="PNG", help="--peers: where to save the plot")
    parser.add_argument(
        "--skip-speed", action="store_true", help="do not measure the machine's speed (tests)"
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from machine import machine_info

    default, kind, metric, direction, goal, strict = BENCHMARKS[args.benchmark]
    study = Path(args.study or ROOT / default).resolve()
    if not study.is_file():
        print(f"anchors: --study {study}: expected a study file, found nothing", file=sys.stderr)
        return 2
    info = machine_info(measure_speed=not args.skip_speed)
    with tempfile.TemporaryDirectory(prefix="anchors-") as tmp:
        work = Path(args.keep).resolve() if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        used = study
        if args.quick:
            used = work / f"{study.stem}-quick.toml"
            used.write_text(quick_study(study.read_text(encoding="utf-8"), study))
        label = str(study.relative_to(ROOT) if study.is_relative_to(ROOT) else study)
        common = {
            "benchmark": args.benchmark,
            "quick": args.quick,
            "machine": info,
            "study": label,
            "metric": metric,
            "direction": direction,
        }
        if args.peers:
            from anchor_minutes import peers_main, peers_report

            result = peers_main(common, used, work, args)
            print(peers_report(result))
        else:
            anchor, hp = _anchor_and_hpsearch(kind, used, work, args)
            result = {
                **common,
                "anchor_backend": args.anchor_backend,
                "concurrently": args.concurrently,
                "anchor": anchor,
                "hpsearch": hp,
                "comparison": compare(anchor, hp, direction, strict, goal),
            }
            print(report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
