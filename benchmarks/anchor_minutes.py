"""`anchors.py --peers`: hpsearch's side, then each peer (anchor_peers.py) with its wall time
as their budget; each side's best-so-far test score minute by minute, the goal, a plot.

A side's score at time t is the test score of the model it would hand its user then: of its
points ready by t (each new best by validation, each final model), each engine's latest, and
of those the best by validation (a final model carries its engine's best validation score).
The test set never picks a model. The goal: hpsearch's score at or above each peer's at every
tick (for RMSE, at or below); hpsearch with no model yet while a peer has one misses it.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from anchor_run import HERE, MAXIMIZE, _env, _run, aligned, better, run_hpsearch

PEERS = ("optuna", "kt-hyperband")  # anchor_peers.py's sides, in the order they run


def score_at(points: list[dict[str, Any]], t: float, direction: str) -> float | None:
    """The test score of the model a side hands its user at `t` seconds (None: no model yet).
    Each point: group, elapsed, test_score, and val_score (None for a final model)."""
    latest: dict[str, dict[str, Any]] = {}
    best_val: dict[str, float] = {}
    # finals after events at the same time: a final model supersedes its engine's last trial
    for p in sorted(points, key=lambda p: (p["elapsed"], p.get("val_score") is None)):
        if p["elapsed"] > t:
            break
        group, val = p.get("group", ""), p.get("val_score")
        latest[group] = p
        finite = val is not None and math.isfinite(val)
        if finite and (group not in best_val or better(val, best_val[group], direction)):
            best_val[group] = val
    if not latest:
        return None
    worst = -math.inf if direction == MAXIMIZE else math.inf

    def key(group: str) -> float:  # the engine with the best validation score, first one on ties
        val = best_val.get(group, worst)
        return val if direction == MAXIMIZE else -val

    group = max(latest, key=key)
    return float(latest[group]["test_score"])


def ticks(end: float, tick: float = 60.0) -> list[float]:
    """Every whole `tick` up to `end`, then `end` itself."""
    times = [tick * k for k in range(1, int(end // tick) + 1)]
    return times + [end] if not times or times[-1] < end else times


def per_minute(
    sides: dict[str, list[dict[str, Any]]], direction: str, end: float, tick: float = 60.0
) -> list[dict[str, Any]]:
    """One row per tick: {"seconds": t, SIDE: its best-so-far test score or None, ...}."""
    return [
        {"seconds": t, **{name: score_at(points, t, direction) for name, points in sides.items()}}
        for t in ticks(end, tick)
    ]


def goal(rows: list[dict[str, Any]], ours: str, peers: list[str], direction: str) -> dict:
    """For each peer: the first tick where `ours` is not at or above it (None: met)."""
    missed: dict[str, float | None] = {}
    for peer in peers:
        missed[peer] = None
        for row in rows:
            theirs, mine = row[peer], row[ours]
            if theirs is not None and (mine is None or better(theirs, mine, direction)):
                missed[peer] = row["seconds"]
                break
    return missed


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def minutes_table(rows: list[dict[str, Any]], names: list[str]) -> list[str]:
    """The per-tick rows as aligned text."""
    table = [("minute", *names)] + [
        (f"{row['seconds'] / 60:.2f}", *(_cell(row[n]) for n in names)) for row in rows
    ]
    return aligned(table)


def goal_lines(missed: dict[str, float | None], direction: str) -> list[str]:
    word = "at or above" if direction == MAXIMIZE else "at or below"
    return [
        f"goal vs {peer}: hpsearch {word} it at every minute: "
        + ("met" if at is None else f"MISSED, first at minute {at / 60:.2f}")
        for peer, at in missed.items()
    ]


def plot(
    sides: dict[str, list[dict[str, Any]]],
    direction: str,
    end: float,
    metric: str,
    title: str,
    path: str,
) -> None:
    """Each side's best-so-far test score against minutes, as a PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, points in sides.items():
        times = sorted({p["elapsed"] for p in points if p["elapsed"] <= end} | {end})
        xs, ys = [], []
        for t in times:
            score = score_at(points, t, direction)
            if score is not None:
                xs.append(t / 60)
                ys.append(score)
        ax.step(xs, ys, where="post", marker="o", markersize=3, label=name)
    ax.set_xlabel("minutes (each side's own clock)")
    ax.set_ylabel(f"best-so-far test {metric}")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def peers_report(result: dict[str, Any]) -> str:
    """The plain-text report of one `--peers` run."""
    from machine import header_lines

    hp, metric, direction = result["hpsearch"], result["metric"], result["direction"]
    names = ["hpsearch", *result["peers"]]
    sides = {"hpsearch": hp, **result["peers"]}
    lines = [
        f"== anchors: {result['benchmark']} --peers{' (quick)' if result['quick'] else ''} ==",
        *header_lines(result["machine"]),
        f"study:   {result['study']} (engines: {', '.join(hp['engines'])}); data "
        f"{hp['sizes']['train']} train / {hp['sizes']['val']} val / {hp['sizes']['test']} test, "
        "the same split, space, epochs cap and backend on every side",
        f"budget:  {result['budget']:.1f} s for each peer (hpsearch's wall time unless --budget)",
        "goal:    hpsearch's best-so-far test "
        f"{metric} {'at or above' if direction == MAXIMIZE else 'at or below'} each peer's "
        "at every minute",
        "",
    ]
    # the model each side hands its user at the end, picked as the minute table picks it
    rows = [("side", "backend", "wall s", "trials", f"final test {metric}")]
    for name in names:
        side = sides[name]
        final = score_at(side["events"] + side["finals"], math.inf, direction)
        rows.append(
            (
                f"{name}: {side['label']}",
                side["backend"],
                f"{side['wall_seconds']:.1f}",
                str(side["n_trials"]),
                _cell(final),
            )
        )
    lines += aligned(rows)
    lines += [
        "",
        f"best-so-far test {metric}: the model each side would hand its user then (the best by "
        "validation so far; test scores computed after each search)",
        *minutes_table(result["minutes"], names),
        "",
        *[f"note: {n}" for name in names for n in sides[name]["notes"]],
        "",
        *goal_lines(result["goal"], direction),
    ]
    if result.get("plot"):
        lines.append(f"plot:    {result['plot']}")
    return "\n".join(lines)


def run_peers(study: Path, work: Path, budget: float) -> dict[str, dict[str, Any]]:
    """Each peer in its own JAX subprocess, one after the other, each given `budget` seconds."""
    peers = {}
    for name in PEERS:
        out = work / f"peer-{name}.json"
        cmd = [
            sys.executable,
            str(HERE / "anchor_peers.py"),
            name,
            "--study",
            str(study),
            "--budget",
            f"{budget:.3f}",
            "--work",
            str(work / f"peer-{name}"),
            "--out",
            str(out),
        ]
        _, seconds = _run(cmd, _env("jax"), f"the {name} peer")
        peers[name] = json.loads(out.read_text())
        peers[name]["process_seconds"] = seconds
    return peers


def peers_main(common: dict[str, Any], used: Path, work: Path, args: Any) -> dict[str, Any]:
    """hpsearch's side, then the peers with its wall time (or --budget) as their budget; the
    per-minute table, the goal and the plot. `common`: the result's benchmark, quick, machine,
    study, metric and direction."""
    hp = run_hpsearch(used, work)
    budget = args.budget or hp["wall_seconds"]
    peers = run_peers(used, work, budget)
    direction = common["direction"]
    sides = {"hpsearch": hp["events"] + hp["finals"]}
    sides.update({name: peer["events"] for name, peer in peers.items()})
    end = max(budget, hp["wall_seconds"])
    rows = per_minute(sides, direction, end, tick=10.0 if common["quick"] else 60.0)
    name = f"anchors_{common['benchmark']}_peers{'_quick' if common['quick'] else ''}.png"
    path = args.plot or str(HERE / "results" / name)
    title = f"{common['benchmark']}: best-so-far test {common['metric']}, the same budget on JAX"
    plot(sides, direction, end, common["metric"], title, path)
    return {
        **common,
        "budget": budget,
        "hpsearch": hp,
        "peers": peers,
        "minutes": rows,
        "goal": goal(rows, "hpsearch", list(peers), direction),
        "plot": path,
    }
