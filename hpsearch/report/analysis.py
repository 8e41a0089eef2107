"""A run directory read back for reports and the web service: its files as pandas tables,
and what the pages show of them (scores in plotting order, best so far, each engine's best).

Read leniently: a run still training, or one that was killed, has only some of its files.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from hpsearch.rundir.read import Run
from hpsearch.study.trials import MINIMIZE, PRUNED

TOP_CURVES = 3
PLOT_COLUMNS = (
    "order",
    "ok",
    "failed",
    "pruned",
    "score",
    "group",
    "higher",
    "best",
    "cum_fit",
    "elapsed",
)


def score_view(metric: str, direction: str) -> tuple[str, bool]:
    """(label, higher_is_better) of a metric: the tables carry the direction with each score."""
    return str(metric or "score"), direction != MINIMIZE


def scored_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """Trials with plotting columns: order, ok, failed, pruned, score, group, higher, best,
    cum_fit, elapsed. Pruned trials are neither ok (no best) nor failed."""
    if trials.empty:
        return trials.assign(**{c: [] for c in PLOT_COLUMNS})
    parts = []
    for _engine, sub in trials.groupby("engine", sort=False):
        sub = sub.copy()
        metrics = [m for m in sub["metric"] if m]
        directions = [d for d in sub["direction"] if d]
        label, higher = score_view(
            metrics[0] if metrics else "", directions[0] if directions else ""
        )
        sub["order"] = range(1, len(sub) + 1)
        sub["ok"] = (sub["status"] == "ok") & sub["val_score"].notna()
        sub["pruned"] = sub["status"] == PRUNED
        sub["failed"] = ~sub["ok"] & ~sub["pruned"]
        sub["score"] = sub["val_score"].where(sub["ok"])
        sub["group"] = label.removeprefix("val_")
        sub["higher"] = higher
        best = sub["score"].cummax() if higher else sub["score"].cummin()
        sub["best"] = best.ffill()
        sub["cum_fit"] = sub["fit_seconds"].fillna(0).cumsum()
        finished = pd.to_datetime(sub["finished_at"], utc=True, errors="coerce", format="ISO8601")
        started = pd.to_datetime(sub["started_at"], utc=True, errors="coerce", format="ISO8601")
        origin = started.min() if started.notna().any() else finished.min()
        sub["elapsed"] = (finished - origin).dt.total_seconds()
        parts.append(sub)
    return pd.concat(parts)


def top_trials(scored: pd.DataFrame, n: int = TOP_CURVES) -> dict[str, list[str]]:
    """The ids of the `n` best successful trials of each engine, best first."""
    top = {}
    for engine, sub in scored.groupby("engine", sort=False):
        ok = sub[sub["ok"]]
        higher = bool(sub["higher"].iloc[0])
        top[str(engine)] = list(
            ok.sort_values("score", ascending=not higher, kind="stable")["trial"][:n]
        )
    return top


def engine_summary(run: Run, scored: pd.DataFrame) -> pd.DataFrame:
    """summary.csv, plus a row derived from the trials for each engine it lacks."""
    rows = [dict(r) for r in run.summary.to_dict("records")] if not run.summary.empty else []
    known = {str(r.get("engine")) for r in rows}
    for engine, sub in scored.groupby("engine", sort=False):
        if engine in known:
            continue
        ok = sub[sub["ok"]]
        best = (
            ok.loc[ok["score"].idxmax() if sub["higher"].iloc[0] else ok["score"].idxmin()]
            if not ok.empty
            else None
        )
        row = {
            "engine": engine,
            "status": "ok" if best is not None else "failed",
            "n_trials": len(sub),
            "n_failed": int(sub["failed"].sum()),
            "n_pruned": int(sub["pruned"].sum()),
            "metric": sub["metric"].iloc[0],
            "epochs_run_total": sub["epochs_run"].sum(),
            "fit_seconds_total": round(float(sub["fit_seconds"].sum()), 2),
        }
        if best is not None:
            row.update(
                best_trial=best["trial"],
                best_val_score=best["val_score"],
                best_cv_std=best["cv_std"],
                **{c: best[c] for c in sub.columns if c.startswith("param_")},
            )
        rows.append(row)
    return pd.DataFrame(rows)


def wall_time(info: dict[str, Any]) -> str:
    """The run's wall time from run.json (every session's), or why there is none."""
    seconds = info.get("wall_seconds")
    if isinstance(seconds, (int, float)) and math.isfinite(seconds):
        sessions = 1 + len(info.get("resumed_at") or [])
        return (
            f"{seconds:.1f} s"
            + (f" ({seconds / 60:.1f} min)" if seconds >= 120 else "")
            + (f" in {sessions} sessions" if sessions > 1 else "")
            + ("" if info.get("finished_at") else " so far (not finished)")
        )
    return "not recorded (the run did not finish, or was interrupted)"
