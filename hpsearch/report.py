"""Self-contained HTML reports of runs, built from their CSV files alone (no retraining).

`write_report(run_dir)` writes `run_dir/report.html`; `write_compare_report(run_dirs, path)`
puts several runs side by side. Plots are PNGs embedded as base64 (see hpsearch.plots);
the pages need no network and no JavaScript.
"""
from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from hpsearch.analysis import (PLOT_COLUMNS, TOP_CURVES, Run, engine_summary, load_run,
                               scored_trials, top_trials, wall_time)
from hpsearch.errors import InputError
from hpsearch.files import atomic_write_text
from hpsearch.trials import PRUNED

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5rem auto;
max-width:1200px;padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.2rem;border-bottom:1px solid #ddd;
padding-bottom:.2rem;margin-top:2rem}.sub{color:#666;margin-top:0}
img{max-width:100%;height:auto;display:block;margin:.5rem 0}figure{margin:0 0 1rem}
figcaption,.note{color:#555;font-size:.9rem}.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}tbody tr:nth-child(even){background:#fafafa}
tr.best td{background:#e7f5e9}tr.failed td{background:#fdecec}
tr.pruned td{background:#f2f2f2;color:#555}td.status-failed{color:#b00020;font-weight:bold}
td.status-pruned{color:#555;font-style:italic}td.error{color:#b00020;min-width:16rem;max-width:32rem;
white-space:pre-wrap;word-break:break-word}tr.pruned td.error{color:#555}dl{display:grid;grid-template-columns:max-content auto;
gap:.15rem 1rem;font-size:.9rem}dt{font-weight:bold}dd{margin:0}
"""


# --- HTML pieces -------------------------------------------------------------------------

def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    """A cell's text: blank for missing, short floats, whole numbers without ".0"."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.1f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)


def html_table(frame: pd.DataFrame, row_classes: list[str] | None = None,
               cell_classes: dict[str, Any] | None = None) -> str:
    """An escaped HTML table; `cell_classes` maps a column to a function value -> class."""
    head = "".join(f"<th>{_esc(c)}</th>" for c in frame.columns)
    body = []
    for i, row in enumerate(frame.itertuples(index=False)):
        cells = []
        for column, value in zip(frame.columns, row):
            cls = (cell_classes or {}).get(column, lambda v: "")(value)
            cells.append((f'<td class="{_esc(cls)}">' if cls else "<td>") + f"{_esc(_fmt(value))}</td>")
        cls = row_classes[i] if row_classes else ""
        body.append((f'<tr class="{_esc(cls)}">' if cls else "<tr>") + "".join(cells) + "</tr>")
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _img(png: bytes | None, alt: str, caption: str, empty: str) -> str:
    if not png:
        return f'<p class="note">{_esc(empty)}</p>'
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{_esc(alt)}">'
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


def _section(key: str, title: str, body: str) -> str:
    return f'<section id="{_esc(key)}">\n<h2>{_esc(title)}</h2>\n{body}\n</section>'


def _page(title: str, subtitle: str, sections: list[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{_esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            f"<h1>{_esc(title)}</h1>\n<p class=\"sub\">{_esc(subtitle)}</p>\n"
            + "\n".join(sections) + "\n</body>\n</html>\n")


def _dl(items: list[tuple[str, Any]]) -> str:
    rows = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(_fmt(v))}</dd>" for k, v in items if _fmt(v) != "")
    return f"<dl>{rows}</dl>"


# --- the run report ----------------------------------------------------------------------

def _best_section(run: Run, scored: pd.DataFrame) -> str:
    info = run.info
    meta = _dl([("study", info.get("study")), ("dataset", info.get("dataset")),
                ("seed", info.get("seed")), ("engines", ", ".join(map(str, info.get("engines") or []))),
                ("started", info.get("started_at")), ("finished", info.get("finished_at")),
                ("resumed", ", ".join(map(str, info.get("resumed_at") or []))),
                ("wall time", wall_time(info)),
                ("sizes", ", ".join(f"{k} {v}" for k, v in (info.get("sizes") or {}).items()))])
    summary = engine_summary(run, scored)
    if summary.empty:
        return meta + '<p class="note">No engine results recorded.</p>'
    fields = ["status", "metric", "direction", "best_trial", "best_val_score", "best_cv_std",
              *[c for c in summary.columns if c.startswith("test_")],
              *[c for c in summary.columns if c.startswith("param_")],
              "n_trials", "n_failed", "n_pruned", "epochs_run_total", "fit_seconds_total", "engine_seconds"]
    fields = [f for f in fields if f in summary.columns]
    table = pd.DataFrame({"": fields, **{str(r["engine"]): [r[f] for f in fields]
                                         for _, r in summary.iterrows()}})
    notes = []
    for _, row in summary.iterrows():
        if str(row.get("status", "ok")) == "failed":
            mine = scored[scored["engine"] == row["engine"]] if not scored.empty else scored
            errors = mine.loc[mine["failed"], "error"] if not mine.empty else []
            first = next((e for e in errors if e), "no error recorded")
            pruned = int(mine["pruned"].sum()) if not mine.empty else 0
            what = (f"no trial succeeded ({len(mine) - pruned} failed, {pruned} pruned)" if pruned
                    else f"every trial failed ({_esc(_fmt(row.get('n_trials')))} trials)")
            notes.append(f'<p class="note"><strong>{_esc(row["engine"])}</strong>: {what}; '
                         f"first error: {_esc(first)}</p>")
    return (meta + "<p>Best trial per engine (chosen on validation), its test-set score and "
            "hyperparameters, and what each engine spent:</p>" + html_table(table) + "".join(notes))


def _progress_section(scored: pd.DataFrame) -> str:
    from hpsearch import plots

    caption = ("Dots: each successful trial's validation score; line: best so far; red x: a failed "
               "trial; hollow grey circle: a pruned trial (stopped early by the search) at the score "
               "it stopped with, or on the bottom edge where it has none. Errors and losses are "
               "shown as positive values (lower is better).")
    return (_img(plots.progress_by_trial(scored), "Validation score by trial with best so far",
                 caption, "No trials recorded.")
            + _img(plots.progress_by_time(scored), "Best so far against time",
                   "Best so far against wall time from the trials' finished_at, where recorded (it "
                   "includes any pause before a resume), and against cumulative fit seconds.",
                   "No trials recorded."))


def _parameters_section(scored: pd.DataFrame) -> str:
    from hpsearch import plots

    params = [c for c in scored.columns if c.startswith("param_") and scored[c].notna().any()]
    return _img(plots.parameters(scored, params), "Validation score against each hyperparameter",
                "Each successful trial's validation score against a hyperparameter (boxes: all "
                "engines together); red x: failed trials at that value; hollow grey circles: "
                "pruned trials.",
                "No successful trial with recorded hyperparameters.")


def _curves_section(run: Run, scored: pd.DataFrame) -> str:
    from hpsearch import plots

    top = top_trials(scored) if not scored.empty else {}
    hints = {str(e): (str(s["metric"].iloc[0]).removeprefix("val_"), bool(s["higher"].iloc[0]))
             for e, s in scored.groupby("engine", sort=False)} if not scored.empty else {}
    missing = [e for e, t in top.items() if not t]
    note = (f'<p class="note">No successful trial to draw for: {_esc(", ".join(missing))}.</p>'
            if missing else "")
    return note + _img(plots.curves(run.histories, top, hints),
                       f"Learning curves of the best {TOP_CURVES} trials per engine",
                       f"The best {TOP_CURVES} trials per engine (validation metrics where recorded, "
                       "else training). Star: best epoch; black x: the last epoch, where training stopped. "
                       "One line per fit (an engine with cross-validation has one per fold); "
                       "dashed: a refit on all training data.",
                       "No learning curves recorded (histories.csv is empty or missing).")


def _status_class(status: Any) -> str:
    return "" if status == "ok" else f"status-{PRUNED}" if status == PRUNED else "status-failed"


def _trials_section(scored: pd.DataFrame) -> str:
    if scored.empty:
        return '<p class="note">No trials recorded.</p>'
    best = {(e, t) for e, ts in top_trials(scored, 1).items() for t in ts}
    classes = [PRUNED if pruned else "failed" if not ok else "best" if (e, t) in best else ""
               for e, t, ok, pruned in zip(scored["engine"], scored["trial"], scored["ok"],
                                           scored["pruned"])]
    columns = [c for c in scored.columns if c not in (*PLOT_COLUMNS, "error")]
    columns[min(3, len(columns)):min(3, len(columns))] = ["error"]  # next to the status
    n_failed, n_pruned = int(scored["failed"].sum()), int(scored["pruned"].sum())
    return (f"<p>{len(scored)} trials, {n_failed} failed (red, with their error), {n_pruned} pruned "
            "(grey: stopped early by the search, not a failure); green: the best trial of each "
            "engine.</p>"
            + html_table(scored[columns], classes,
                         {"status": _status_class,
                          "error": lambda v: "error" if _fmt(v) else ""}))


def write_report(run_dir: str | Path) -> Path:
    """Write `run_dir/report.html` (atomically) from the run's CSV files; return its path."""
    run = load_run(run_dir)
    scored = scored_trials(run.trials)
    sections = [
        _section("best", "Best model per engine", _best_section(run, scored)),
        _section("progress", "Search progress", _progress_section(scored)),
        _section("parameters", "Hyperparameters against score", _parameters_section(scored)),
        _section("curves", "Learning curves", _curves_section(run, scored)),
        _section("trials", "All trials", _trials_section(scored)),
    ]
    study = run.info.get("study") or run.path.parent.name
    subtitle = f"run {run.path.name} · dataset {run.info.get('dataset', '?')} · {run.path}"
    out = run.path / "report.html"
    atomic_write_text(out, _page(f"hpsearch report: {study} / {run.path.name}", subtitle, sections))
    return out


# --- several runs side by side -------------------------------------------------------------

def write_compare_report(run_dirs: Iterable[str | Path], output_path: str | Path) -> Path:
    """Write one HTML page comparing the runs' best scores, budgets and progress; return its path."""
    from hpsearch import plots

    runs = [load_run(d) for d in run_dirs]
    if not runs:
        raise InputError("compare: expected at least one run directory, got none")
    labels = [r.label for r in runs]
    labels = [f"{x} ({i + 1})" if labels.count(x) > 1 else x for i, x in enumerate(labels)]
    summaries, scored_all = [], []
    for run, label in zip(runs, labels):
        scored = scored_trials(run.trials)
        summary = engine_summary(run, scored)
        summary.insert(0, "run", label)
        summary["wall_seconds"] = run.info.get("wall_seconds")
        summaries.append(summary)
        if not scored.empty:
            scored_all.append(scored.assign(run=label, series=label + " · " + scored["engine"]))
    summary = pd.concat(summaries, ignore_index=True)
    for column in ("dataset", "engine", "status", "metric", "direction", "best_trial",
                   "best_val_score"):
        if column not in summary:
            summary[column] = None
    summary["run · engine"] = summary["run"] + " · " + summary["engine"].astype(str)
    tests = [c for c in summary.columns if c.startswith("test_")]
    best_cols = ["run", "dataset", "engine", "status", "metric", "direction", "best_trial",
                 "best_val_score", *tests]
    budget_cols = ["run", "engine", "n_trials", "n_failed", "n_pruned", "epochs_run_total", "fit_seconds_total",
                   "engine_seconds", "wall_seconds"]
    colors = [plots.engine_color(str(e)) for e in summary["engine"]]
    titles = {c: c + (" (lower is better)" if c.endswith(("rmse", "loss", "error")) else
                      " (higher is better)") for c in tests}
    scored = pd.concat(scored_all) if scored_all else scored_trials(pd.DataFrame())
    sections = [
        _section("runs", "Runs", html_table(pd.DataFrame(
            {"run": labels, "directory": [str(r.path) for r in runs],
             "dataset": [r.info.get("dataset", "") for r in runs],
             "seed": [r.info.get("seed", "") for r in runs],
             "wall time": [wall_time(r.info) for r in runs]}))),
        _section("best", "Best score per run and engine",
                 html_table(summary[[c for c in best_cols if c in summary]])
                 + _img(plots.bars(summary, "run · engine", tests, colors, titles),
                        "Test score of the best model per run and engine",
                        "Test-set score of each engine's best model (one color per engine).",
                        "No test scores recorded.")),
        _section("budget", "Budget spent",
                 html_table(summary[[c for c in budget_cols if c in summary]])
                 + _img(plots.bars(summary, "run · engine", ["epochs_run_total", "fit_seconds_total"],
                                   colors), "Epochs and fit seconds spent per run and engine",
                        "Total epochs trained and total fit seconds per run and engine.",
                        "No budget recorded.")),
        _section("progress", "Best so far against fit time",
                 _img(plots.compare_progress(scored), "Best so far of every run and engine",
                      "Best validation score so far against cumulative fit seconds, one line per "
                      "run and engine (one line style per engine).",
                      "No successful trials to draw.")),
    ]
    out = Path(output_path)
    atomic_write_text(out, _page(f"hpsearch comparison of {len(runs)} runs", ", ".join(labels), sections))
    return out

