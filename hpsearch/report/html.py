"""Self-contained HTML reports of runs, built from their CSV files alone (no retraining).

`write_report(run_dir)` writes `run_dir/report.html`; `write_compare_report(run_dirs, path)`
puts several runs side by side. This module builds each page's context (tables as plain
lists, captions, notes, plots as base64 PNGs from hpsearch.report.plots) and renders the Jinja2
templates report.html and compare_report.html (see hpsearch.report.templating; macros.html is shared
with the web pages). base.html inlines hpsearch/static/hpsearch.css: each page is one
file that needs no network and no JavaScript.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from hpsearch.errors import InputError
from hpsearch.files import atomic_write_text
from hpsearch.report import importance, plots, templating
from hpsearch.report.analysis import (
    PLOT_COLUMNS,
    TOP_CURVES,
    engine_summary,
    scored_trials,
    top_trials,
    wall_time,
)
from hpsearch.report.templating import fmt
from hpsearch.rundir.folder import REPORT
from hpsearch.rundir.read import Run, load_run
from hpsearch.study.trials import PRUNED


def _table(
    frame: pd.DataFrame,
    row_classes: list[str] | None = None,
    cell_classes: dict[str, Callable[[Any], str]] | None = None,
) -> dict[str, Any]:
    """The arguments of macros.html's `table`; `cell_classes` maps a column to value -> class."""
    rows = [list(row) for row in frame.itertuples(index=False)]
    cells = None
    if cell_classes:
        cells = [
            [cell_classes.get(c, lambda v: "")(v) for c, v in zip(frame.columns, row, strict=True)]
            for row in rows
        ]
    return {
        "columns": [str(c) for c in frame.columns],
        "rows": rows,
        "row_classes": row_classes,
        "cell_classes": cells,
    }


def _figure(png: bytes | None, alt: str, caption: str, empty: str) -> dict[str, str]:
    """The arguments of macros.html's `figure`: the PNG as base64 text ("" for none)."""
    return {
        "png": base64.b64encode(png).decode("ascii") if png else "",
        "alt": alt,
        "caption": caption,
        "empty": empty,
    }


# --- the run report ----------------------------------------------------------------------


def _best_context(run: Run, scored: pd.DataFrame) -> dict[str, Any]:
    """The run's facts, its engines' best trials side by side, a note per engine that failed."""
    info = run.info
    meta = [
        ("study", info.get("study")),
        ("dataset", info.get("dataset")),
        ("seed", info.get("seed")),
        ("engines", ", ".join(map(str, info.get("engines") or []))),
        ("started", info.get("started_at")),
        ("finished", info.get("finished_at")),
        ("resumed", ", ".join(map(str, info.get("resumed_at") or []))),
        ("wall time", wall_time(info)),
        ("sizes", ", ".join(f"{k} {v}" for k, v in (info.get("sizes") or {}).items())),
    ]
    summary = engine_summary(run, scored)
    if summary.empty:
        return {"meta": meta, "engines": None, "failed_engines": []}
    fields = [
        "status",
        "metric",
        "direction",
        "best_trial",
        "best_val_score",
        "best_cv_std",
        *[c for c in summary.columns if c.startswith("test_")],
        *[c for c in summary.columns if c.startswith("param_")],
        "n_trials",
        "n_failed",
        "n_pruned",
        "epochs_run_total",
        "fit_seconds_total",
        "engine_seconds",
    ]
    fields = [f for f in fields if f in summary.columns]
    table = pd.DataFrame(
        {"": fields, **{str(r["engine"]): [r[f] for f in fields] for _, r in summary.iterrows()}}
    )
    notes = []
    for _, row in summary.iterrows():
        if str(row.get("status", "ok")) == "failed":
            mine = scored[scored["engine"] == row["engine"]] if not scored.empty else scored
            errors = mine.loc[mine["failed"], "error"] if not mine.empty else []
            first = next((e for e in errors if e), "no error recorded")
            pruned = int(mine["pruned"].sum()) if not mine.empty else 0
            what = (
                f"no trial succeeded ({len(mine) - pruned} failed, {pruned} pruned)"
                if pruned
                else f"every trial failed ({fmt(row.get('n_trials'))} trials)"
            )
            notes.append({"engine": row["engine"], "what": what, "error": first})
    return {"meta": meta, "engines": _table(table), "failed_engines": notes}


def _progress_figures(scored: pd.DataFrame) -> list[dict[str, str]]:

    caption = (
        "Dots: each successful trial's validation score; line: best so far; red x: a failed "
        "trial; hollow grey circle: a pruned trial (stopped early by the search) at the score "
        "it stopped with, or on the bottom edge where it has none. Errors and losses are "
        "shown as positive values (lower is better)."
    )
    return [
        _figure(
            plots.progress_by_trial(scored),
            "Validation score by trial with best so far",
            caption,
            "No trials recorded.",
        ),
        _figure(
            plots.progress_by_time(scored),
            "Best so far against time",
            "Best so far against wall time from the trials' finished_at, where recorded (it "
            "includes any pause before a resume), and against cumulative fit seconds.",
            "No trials recorded.",
        ),
    ]


def _parameters_figure(scored: pd.DataFrame) -> dict[str, str]:

    params = [c for c in scored.columns if c.startswith("param_") and scored[c].notna().any()]
    return _figure(
        plots.parameters(scored, params),
        "Validation score against each hyperparameter",
        "Each successful trial's validation score against a hyperparameter (boxes: all "
        "engines together); red x: failed trials at that value; hollow grey circles: "
        "pruned trials.",
        "No successful trial with recorded hyperparameters.",
    )


def _curves_context(run: Run, scored: pd.DataFrame) -> dict[str, Any]:
    """The learning curves of each engine's best trials; the engines with none to draw."""

    top = top_trials(scored) if not scored.empty else {}
    hints = (
        {
            str(e): (str(s["metric"].iloc[0]).removeprefix("val_"), bool(s["higher"].iloc[0]))
            for e, s in scored.groupby("engine", sort=False)
        }
        if not scored.empty
        else {}
    )
    return {
        "no_curves": [str(e) for e, t in top.items() if not t],
        "curves": _figure(
            plots.curves(run.histories, top, hints),
            f"Learning curves of the best {TOP_CURVES} trials per engine",
            f"The best {TOP_CURVES} trials per engine (validation metrics where "
            "recorded, else training). Star: best epoch; black x: the last epoch, "
            "where training stopped. One line per fit (an engine with "
            "cross-validation has one per fold); dashed: a refit on all training data.",
            "No learning curves recorded (histories.csv is empty or missing).",
        ),
    }


def _status_class(status: Any) -> str:
    return "" if status == "ok" else f"status-{PRUNED}" if status == PRUNED else "status-failed"


def _trials_context(scored: pd.DataFrame) -> dict[str, Any] | None:
    """Every trial, the error next to its status, rows classed best/failed/pruned; None if none."""
    if scored.empty:
        return None
    best = {(e, t) for e, ts in top_trials(scored, 1).items() for t in ts}
    classes = [
        PRUNED if pruned else "failed" if not ok else "best" if (e, t) in best else ""
        for e, t, ok, pruned in zip(
            scored["engine"], scored["trial"], scored["ok"], scored["pruned"], strict=True
        )
    ]
    columns = [c for c in scored.columns if c not in (*PLOT_COLUMNS, "error")]
    columns[min(3, len(columns)) : min(3, len(columns))] = ["error"]  # next to the status
    table = _table(
        scored[columns],
        classes,
        {"status": _status_class, "error": lambda v: "error" if fmt(v) else ""},
    )
    return {
        "n": len(scored),
        "n_failed": int(scored["failed"].sum()),
        "n_pruned": int(scored["pruned"].sum()),
        "table": table,
    }


def _importance_context(run: Run) -> dict[str, Any]:
    """The "which hyperparameters mattered" table, or why there is none."""
    try:
        found = importance.importances(run)
    except importance.NoOptuna as exc:
        return {"table": None, "note": str(exc)}
    if not found:
        return {
            "table": None,
            "note": f"Not enough finished trials yet (fANOVA needs {importance.MIN_TRIALS} "
            f"per engine) or no parameter varies.",
        }
    return {"table": _table(importance.table(found)), "note": ""}


def write_report(run_dir: str | Path) -> Path:
    """Write `run_dir/report.html` (atomically) from the run's CSV files; return its path."""
    run = load_run(run_dir)
    scored = scored_trials(run.trials)
    study = run.info.get("study") or run.path.parent.name
    page = templating.render(
        "report.html",
        title=f"hpsearch report: {study} / {run.path.name}",
        subtitle=f"run {run.path.name} · dataset {run.info.get('dataset', '?')} · {run.path}",
        **_best_context(run, scored),
        progress=_progress_figures(scored),
        parameters=_parameters_figure(scored),
        **_curves_context(run, scored),
        trials=_trials_context(scored),
        importance=_importance_context(run),
    )
    out = run.path / REPORT
    atomic_write_text(out, page)
    return out


# --- several runs side by side -------------------------------------------------------------


def write_compare_report(run_dirs: Iterable[str | Path], output_path: str | Path) -> Path:
    """Write one HTML page comparing the runs' best scores, budgets and progress; return its path."""

    runs = [load_run(d) for d in run_dirs]
    if not runs:
        raise InputError("compare: expected at least one run directory, got none")
    labels = [r.label for r in runs]
    labels = [f"{x} ({i + 1})" if labels.count(x) > 1 else x for i, x in enumerate(labels)]
    summaries, scored_all = [], []
    for run, label in zip(runs, labels, strict=True):
        scored = scored_trials(run.trials)
        summary = engine_summary(run, scored)
        summary.insert(0, "run", label)
        summary["wall_seconds"] = run.info.get("wall_seconds")
        summaries.append(summary)
        if not scored.empty:
            scored_all.append(scored.assign(run=label, series=label + " · " + scored["engine"]))
    summary = pd.concat(summaries, ignore_index=True)
    shown = ("dataset", "engine", "status", "metric", "direction", "best_trial", "best_val_score")
    for column in shown:
        if column not in summary:
            summary[column] = None
    summary["run · engine"] = summary["run"] + " · " + summary["engine"].astype(str)
    tests = [c for c in summary.columns if c.startswith("test_")]
    best_cols = ["run", *shown, *tests]
    budget_cols = [
        "run",
        "engine",
        "n_trials",
        "n_failed",
        "n_pruned",
        "epochs_run_total",
        "fit_seconds_total",
        "engine_seconds",
        "wall_seconds",
    ]
    colors = [plots.engine_color(str(e)) for e in summary["engine"]]
    titles = {
        c: c
        + (" (lower is better)" if c.endswith(("rmse", "loss", "error")) else " (higher is better)")
        for c in tests
    }
    scored = pd.concat(scored_all) if scored_all else scored_trials(pd.DataFrame())
    page = templating.render(
        "compare_report.html",
        title=f"hpsearch comparison of {len(runs)} runs",
        subtitle=", ".join(labels),
        runs=_table(
            pd.DataFrame(
                {
                    "run": labels,
                    "directory": [str(r.path) for r in runs],
                    "dataset": [r.info.get("dataset", "") for r in runs],
                    "seed": [r.info.get("seed", "") for r in runs],
                    "wall time": [wall_time(r.info) for r in runs],
                }
            )
        ),
        best=_table(summary[[c for c in best_cols if c in summary]]),
        best_figure=_figure(
            plots.bars(summary, "run · engine", tests, colors, titles),
            "Test score of the best model per run and engine",
            "Test-set score of each engine's best model (one color per engine).",
            "No test scores recorded.",
        ),
        budget=_table(summary[[c for c in budget_cols if c in summary]]),
        budget_figure=_figure(
            plots.bars(summary, "run · engine", ["epochs_run_total", "fit_seconds_total"], colors),
            "Epochs and fit seconds spent per run and engine",
            "Total epochs trained and total fit seconds per run and engine.",
            "No budget recorded.",
        ),
        progress=_figure(
            plots.compare_progress(scored),
            "Best so far of every run and engine",
            "Best validation score so far against cumulative fit seconds, one line per "
            "run and engine (one line style per engine).",
            "No successful trials to draw.",
        ),
    )
    out = Path(output_path)
    atomic_write_text(out, page)
    return out
