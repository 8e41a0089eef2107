"""A run directory read back for reports and the web service: its files as pandas tables,
and what the pages show of them (scores in plotting order, best so far, each engine's best).

Read leniently: a run still training, or one that was killed, has only some of its files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from hpsearch.errors import InputError
from hpsearch.trials import HISTORY_COLUMNS, MINIMIZE, PRUNED, TEXT_COLUMNS

TOP_CURVES = 3
TRIAL_NUMERIC = ["val_score", "cv_mean", "cv_std", "epochs_run", "fit_seconds"]
SUMMARY_NUMERIC = [
    "n_trials",
    "n_failed",
    "n_pruned",
    "best_val_score",
    "best_cv_std",
    "epochs_run_total",
    "fit_seconds_total",
    "engine_seconds",
]
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


@dataclass
class Run:
    """What a run directory holds, read leniently (missing files give empty frames)."""

    path: Path
    info: dict[str, Any]
    trials: pd.DataFrame
    summary: pd.DataFrame
    histories: pd.DataFrame

    @property
    def label(self) -> str:
        return f"{self.info.get('study') or self.path.parent.name}/{self.path.name}"


def _read_csv(path: Path, text_columns: Iterable[str]) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame()
    try:
        return pd.read_csv(path, dtype={c: str for c in text_columns})
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def _numeric(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    for column in columns:
        frame[column] = (
            pd.to_numeric(frame[column], errors="coerce") if column in frame else math.nan
        )
    return frame


def load_run(run_dir: str | Path) -> Run:
    """Read run.json and the CSVs of `run_dir`; trial and fit ids stay strings ("000")."""
    path = Path(run_dir)
    if not (path / "trials.csv").is_file() and not (path / "summary.csv").is_file():
        raise InputError(
            f"{path}: expected a run directory with trials.csv or summary.csv, found neither"
        )
    try:
        info = json.loads((path / "run.json").read_text(encoding="utf-8"))
        info = info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        info = {}
    trials = _read_csv(path / "trials.csv", TEXT_COLUMNS)
    trials = _numeric(trials, TRIAL_NUMERIC)
    if "status" not in trials:
        trials["status"] = trials["val_score"].notna().map({True: "ok", False: "failed"})
    for column in (
        "engine",
        "trial",
        "status",
        "metric",
        "direction",
        "error",
        "started_at",
        "finished_at",
    ):
        trials[column] = trials[column].fillna("").astype(str) if column in trials else ""
    summary = read_summary(path)
    histories = _read_csv(path / "histories.csv", TEXT_COLUMNS)
    if not set(HISTORY_COLUMNS) <= set(histories.columns):
        histories = pd.DataFrame(columns=HISTORY_COLUMNS)
    histories = _numeric(histories, ["epoch", "value"]).dropna(subset=["epoch", "value"])
    return Run(path, info, trials, summary, histories)


def read_summary(run_dir: str | Path) -> pd.DataFrame:
    """summary.csv alone (empty when not written yet), numbers as numbers."""
    return _numeric(_read_csv(Path(run_dir) / "summary.csv", TEXT_COLUMNS), SUMMARY_NUMERIC)


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
