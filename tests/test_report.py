"""HTML reports from run directories: synthetic runs written with pandas, no training."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hpsearch.errors import HPSearchError
from hpsearch.report.analysis import score_view
from hpsearch.report.html import write_compare_report, write_report
from hpsearch.rundir.read import load_run

ROOT = Path(__file__).resolve().parents[1]
RUN_SECTIONS = {"best", "progress", "parameters", "curves", "trials"}
ERROR = 'ValueError: loss is NaN <script>alert("x")</script> & more'


class Page(HTMLParser):
    """What the tests look at: section ids, images, and the rows of each section's tables."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: list[dict[str, str]] = []
        self.rows: dict[str, list[dict]] = {}
        self._section, self._in_body, self._row = "", False, None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag == "section":
            self._section = attrs.get("id", "")
            self.sections.append(self._section)
        elif tag == "img":
            self.images.append({**attrs, "section": self._section})
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self._row = {"class": attrs.get("class", ""), "cells": []}
            self.rows.setdefault(self._section, []).append(self._row)
        elif tag == "td" and self._row is not None:
            self._row["cells"].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row is not None and self._row["cells"]:
            self._row["cells"][-1] += data


def _not_blank(png: bytes) -> None:
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert pixels.shape[0] > 50 and pixels.shape[1] > 50
    assert (pixels != pixels[0, 0]).any(), "blank image: a single color"


def check_page(path: Path, sections: set[str]) -> Page:
    """Every section present, every image an embedded PNG that decodes and is not blank."""
    text = path.read_text(encoding="utf-8")
    page = Page(text)
    assert sections <= set(page.sections), set(page.sections)
    assert "http://" not in text and "https://" not in text and "<script" not in text
    for image in page.images:
        assert image["src"].startswith("data:image/png;base64,"), image["src"][:40]
        assert image.get("alt")
        _not_blank(base64.b64decode(image["src"].split(",", 1)[1], validate=True))
    return page


# --- synthetic run directories ----------------------------------------------------------

PARAMS = [
    (1, 32, "relu", "adam", 0.003),
    (2, 64, "relu", "sgd", 0.01),
    (2, 16, "tanh", "adam", 0.001),
    (1, 48, "tanh", "sgd", 0.005),
    (3, 24, "relu", "adam", 0.0005),
]


def make_run(
    root: Path,
    name: str,
    task: str = "classification",
    *,
    n: int = 5,
    fail: int | None = 1,
    all_failed: str | None = None,
    sklearn_val: bool = True,
) -> Path:
    """A run directory shaped like the runner's: trials, summary, histories, run.json."""
    rng = np.random.default_rng(len(name))
    run_dir = root / "study" / name
    run_dir.mkdir(parents=True)
    classification = task == "classification"
    metrics = {
        "sklearn": "accuracy" if classification else "root_mean_squared_error",
        "keras_tuner": "val_accuracy" if classification else "val_root_mean_squared_error",
    }
    keras_metric = "accuracy" if classification else "root_mean_squared_error"
    trials, histories, summary = [], [], []
    clock = pd.Timestamp("2026-01-01T10:00:00Z")
    for engine in ("sklearn", "keras_tuner"):
        rows = []
        for i in range(n):
            trial = f"{i:03d}"
            failed = engine == all_failed or (
                fail is not None and i == fail and engine == "sklearn"
            )
            quality = rng.uniform(0.5, 0.9)
            score = quality if classification else 1.2 - quality
            epochs = int(rng.integers(3, 9))
            start, clock = clock, clock + pd.Timedelta(seconds=float(rng.uniform(2, 6)))
            h, w, a, o, lr = PARAMS[i % len(PARAMS)]
            rows.append(
                {
                    "engine": engine,
                    "trial": trial,
                    "status": "failed" if failed else "ok",
                    "param_n_hidden": h,
                    "param_n_neurons": w,
                    "param_activation": a,
                    "param_optimizer": o,
                    "param_learning_rate": lr,
                    "metric": metrics[engine],
                    "direction": "maximize" if classification else "minimize",
                    "val_score": None if failed else score,
                    "cv_mean": score if engine == "sklearn" and not failed else None,
                    "cv_std": 0.01 if engine == "sklearn" and not failed else None,
                    "epochs_run": None if failed else float(epochs),
                    "fit_seconds": (clock - start).total_seconds(),
                    "started_at": start.isoformat(),
                    "finished_at": clock.isoformat(),
                    "error": ERROR if failed else "",
                }
            )
            if failed:
                continue
            fits = ["0", "1"] + (["refit"] if i == 0 else []) if engine == "sklearn" else ["0"]
            with_val = engine == "keras_tuner" or sklearn_val
            for fit in fits:
                for epoch in range(1, epochs + 1):
                    loss = 1.0 / epoch + rng.uniform(0, 0.1)
                    values = {"loss": loss, keras_metric: quality * (1 - 0.5 / epoch)}
                    if with_val:
                        values.update(
                            val_loss=loss + 0.1 + 0.02 * max(0, epoch - 4),
                            **{f"val_{keras_metric}": quality * (1 - 0.6 / epoch)},
                        )
                    histories += [
                        {
                            "engine": engine,
                            "trial": trial,
                            "fit": fit,
                            "epoch": epoch,
                            "metric": m,
                            "value": v,
                        }
                        for m, v in values.items()
                    ]
        trials += rows
        frame = pd.DataFrame(rows)
        ok = frame[frame["status"] == "ok"]
        best = (
            ok.loc[ok["val_score"].idxmax() if classification else ok["val_score"].idxmin()]
            if not ok.empty
            else None
        )
        row = {
            "study": "study",
            "dataset": "fashion_mnist" if classification else "california_housing",
            "engine": engine,
            "status": "ok" if best is not None else "failed",
            "n_trials": n,
            "n_failed": n - len(ok),
            "metric": metrics[engine],
            "direction": "maximize" if classification else "minimize",
            "best_trial": best["trial"] if best is not None else "",
            "best_val_score": best["val_score"] if best is not None else None,
            "best_cv_std": best["cv_std"] if best is not None else None,
        }
        row.update(
            {c: (best[c] if best is not None else None) for c in frame if c.startswith("param_")}
        )
        if best is not None:
            row.update(
                {"test_accuracy": 0.8} if classification else {"test_rmse": 0.6, "test_r2": 0.7}
            )
        row.update(
            epochs_run_total=frame["epochs_run"].sum(),
            fit_seconds_total=frame["fit_seconds"].sum(),
            engine_seconds=frame["fit_seconds"].sum() + 1,
        )
        summary.append(row)
    pd.DataFrame(trials).to_csv(run_dir / "trials.csv", index=False)
    pd.DataFrame(summary).to_csv(run_dir / "summary.csv", index=False)
    pd.DataFrame(histories, columns=["engine", "trial", "fit", "epoch", "metric", "value"]).to_csv(
        run_dir / "histories.csv", index=False
    )
    (run_dir / "run.json").write_text(
        json.dumps(
            {
                "study": "study",
                "dataset": summary[0]["dataset"],
                "seed": 1,
                "engines": ["sklearn", "keras_tuner"],
                "started_at": "2026-01-01T10:00:00+00:00",
                "finished_at": clock.isoformat(),
                "wall_seconds": 61.5,
            }
        )
    )
    return run_dir


# --- tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("task,sklearn_val", [("classification", True), ("regression", False)])
def test_run_report_has_every_section_and_real_plots(
    tmp_path: Path, task: str, sklearn_val: bool
) -> None:
    run_dir = make_run(tmp_path, f"run-{task}", task, sklearn_val=sklearn_val)
    path = write_report(run_dir)
    assert path == run_dir / "report.html"
    page = check_page(path, RUN_SECTIONS)
    assert {i["section"] for i in page.images} == {"progress", "parameters", "curves"}
    assert len(page.images) == 4
    trials = pd.read_csv(run_dir / "trials.csv", dtype={"trial": str})
    rows = page.rows["trials"]
    assert len(rows) == len(trials) == 10
    assert [r["cells"][1] for r in rows] == list(trials["trial"])  # "000" stays "000"
    failed = [r for r in rows if "failed" in r["class"]]
    assert len(failed) == 1 and ERROR in failed[0]["cells"]  # the error, escaped then parsed back
    assert "<script>alert" not in path.read_text()
    text = path.read_text()
    assert "study / run-" + task in text and "61.5 s" in text
    assert ("test_accuracy" if task == "classification" else "test_rmse") in text
    assert not list(run_dir.glob(".report.html.*"))  # the temp file was renamed


def test_engine_with_all_trials_failed(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, "failed", all_failed="keras_tuner")
    page = check_page(write_report(run_dir), RUN_SECTIONS)
    assert len(page.images) == 4
    text = (run_dir / "report.html").read_text()
    assert "every trial failed" in text and "No successful trial to draw for: keras_tuner" in text
    assert sum("failed" in r["class"] for r in page.rows["trials"]) == 6


def test_every_engine_failed(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, "allfailed", all_failed="sklearn", fail=None)
    trials = pd.read_csv(run_dir / "trials.csv")
    trials["status"], trials["val_score"] = "failed", None
    trials.to_csv(run_dir / "trials.csv", index=False)
    (run_dir / "histories.csv").write_text("")
    page = check_page(write_report(run_dir), RUN_SECTIONS)
    assert {i["section"] for i in page.images} == {"progress"}
    assert len(page.rows["trials"]) == 10


@pytest.mark.parametrize("histories", ["", "engine,trial,fit,epoch,metric,value\n"])
def test_single_trial_no_histories_missing_columns(tmp_path: Path, histories: str) -> None:
    run_dir = make_run(tmp_path, "one", n=1, fail=None)
    (run_dir / "histories.csv").write_text(histories)
    (run_dir / "run.json").unlink()
    trials = pd.read_csv(run_dir / "trials.csv", dtype={"trial": str})
    trials.drop(
        columns=["cv_std", "started_at", "finished_at", "param_activation", "fit_seconds"]
    ).to_csv(run_dir / "trials.csv", index=False)
    summary = pd.read_csv(run_dir / "summary.csv")
    summary.drop(columns=["engine_seconds", "best_cv_std"]).to_csv(
        run_dir / "summary.csv", index=False
    )
    page = check_page(write_report(run_dir), RUN_SECTIONS)
    assert len(page.rows["trials"]) == 2
    text = (run_dir / "report.html").read_text()
    assert "No learning curves recorded" in text and "not recorded" in text


def test_header_only_trials_and_missing_status_column(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, "empty")
    trials = pd.read_csv(run_dir / "trials.csv", dtype={"trial": str})
    trials.iloc[:0].to_csv(run_dir / "trials.csv", index=False)
    (run_dir / "histories.csv").unlink()
    page = check_page(write_report(run_dir), RUN_SECTIONS)
    assert page.images == [] and "trials" not in page.rows
    trials.drop(columns=["status"]).to_csv(
        run_dir / "trials.csv", index=False
    )  # status from val_score
    page = check_page(write_report(run_dir), RUN_SECTIONS)
    assert sum("failed" in r["class"] for r in page.rows["trials"]) == 1


def test_report_without_summary_derives_the_best(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, "nosummary", "regression")
    (run_dir / "summary.csv").unlink()
    page = check_page(write_report(run_dir), RUN_SECTIONS)
    best = {r["cells"][0]: r["cells"][1:] for r in page.rows["best"]}
    trials = pd.read_csv(run_dir / "trials.csv", dtype={"trial": str})
    sk = trials[(trials["engine"] == "sklearn") & (trials["status"] == "ok")]
    kt = trials[trials["engine"] == "keras_tuner"]
    assert best["best_trial"] == [
        sk.loc[sk["val_score"].idxmin(), "trial"],  # RMSE: lowest
        kt.loc[kt["val_score"].idxmin(), "trial"],
    ]
    # The direction column decides, not the engine's name: flip it and the best flips.
    trials["direction"] = "maximize"
    trials.to_csv(run_dir / "trials.csv", index=False)
    page = check_page(write_report(run_dir), RUN_SECTIONS)
    best = {r["cells"][0]: r["cells"][1:] for r in page.rows["best"]}
    assert best["best_trial"] == [
        sk.loc[sk["val_score"].idxmax(), "trial"],
        kt.loc[kt["val_score"].idxmax(), "trial"],
    ]


def _with_pruned(run_dir: Path) -> pd.DataFrame:
    """Keras Tuner's trials 001 (no score, as Optuna records one) and 003 (its score at the stop,
    as successive halving does) marked pruned; sklearn keeps its one failed trial."""
    trials = pd.read_csv(run_dir / "trials.csv", dtype={"trial": str})
    pruned = (trials["engine"] == "keras_tuner") & trials["trial"].isin(["001", "003"])
    trials.loc[pruned, ["status", "error"]] = ["pruned", "pruned at epoch 2"]
    trials.loc[pruned & (trials["trial"] == "001"), "val_score"] = None
    trials.to_csv(run_dir / "trials.csv", index=False)
    return trials


def test_pruned_trials_are_grey_and_counted_apart_from_failed_ones(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, "pruned")
    _with_pruned(run_dir)
    (run_dir / "summary.csv").unlink()  # the counts derived from the trials
    page = check_page(write_report(run_dir), RUN_SECTIONS)
    rows = page.rows["trials"]
    assert [(r["cells"][0], r["cells"][1]) for r in rows if r["class"] == "pruned"] == [
        ("keras_tuner", "001"),
        ("keras_tuner", "003"),
    ]
    assert sum(r["class"] == "failed" for r in rows) == 1  # sklearn's, not the pruned ones
    text = (run_dir / "report.html").read_text()
    assert "10 trials, 1 failed (red, with their error), 2 pruned" in text
    assert '<td class="status-pruned">pruned</td>' in text
    best = {r["cells"][0]: r["cells"][1:] for r in page.rows["best"]}
    assert best["n_failed"] == ["1", "0"] and best["n_pruned"] == ["0", "2"]
    assert best["status"] == ["ok", "ok"]


def test_pruned_trials_are_hollow_grey_marks_in_the_plots(tmp_path: Path, monkeypatch) -> None:
    """Every trial plot draws the pruned trials as hollow grey circles (at their score where
    they have one), and only the failed one as a red x."""
    from matplotlib.colors import to_rgba

    from hpsearch.report import plots
    from hpsearch.report.analysis import scored_trials

    figures = []
    from hpsearch.report.plots import runs as run_plots  # where these figures become PNGs

    monkeypatch.setattr(run_plots, "_png", lambda fig: figures.append(fig) or b"png")
    run_dir = make_run(tmp_path, "marks")
    _with_pruned(run_dir)
    scored = scored_trials(load_run(run_dir).trials)
    plots.progress_by_trial(scored)
    plots.progress_by_time(scored)
    params = ["param_n_hidden", "param_activation"]  # a numeric panel and a categorical one
    plots.parameters(scored, params)
    panels = [ax for fig in figures for ax in fig.axes if ax.get_visible() and ax.collections]
    assert len(panels) == 1 + 2 + 2
    for ax in panels:
        marks = {}
        for c in ax.collections:
            if c.get_gid():
                marks[c.get_gid()] = marks.get(c.get_gid(), 0) + len(c.get_offsets())
        assert marks == {"failed": 1, "pruned": 1, "pruned-scored": 1}, ax.get_title()
        for c in ax.collections:
            if str(c.get_gid()).startswith("pruned"):
                assert len(c.get_facecolors()) == 0 or c.get_facecolors()[0][3] == 0  # hollow
                assert tuple(c.get_edgecolors()[0]) == to_rgba(plots.PRUNED_COLOR)
        labels = ax.get_legend_handles_labels()[1]
        assert "pruned trial" in labels and "failed trial" in labels


def test_not_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(HPSearchError, match="expected a run directory"):
        write_report(tmp_path)


def test_load_run_keeps_ids_as_strings_and_score_direction(tmp_path: Path) -> None:
    run = load_run(make_run(tmp_path, "ids"))
    assert run.trials["trial"].iloc[0] == "000" and set(run.histories["fit"]) == {"0", "1", "refit"}
    assert run.summary["best_trial"].map(type).eq(str).all()
    assert score_view("root_mean_squared_error", "minimize") == ("root_mean_squared_error", False)
    assert score_view("accuracy", "maximize") == ("accuracy", True)
    assert set(run.trials["direction"]) == {"maximize"} and set(run.summary["direction"]) == {
        "maximize"
    }


def test_compare_report(tmp_path: Path) -> None:
    runs = [
        make_run(tmp_path, "a", "classification"),
        make_run(tmp_path, "b", "regression", sklearn_val=False),
    ]
    out = write_compare_report(runs, tmp_path / "out" / "compare.html")
    page = check_page(out, {"runs", "best", "budget", "progress"})
    assert {i["section"] for i in page.images} == {"best", "budget", "progress"}
    assert len(page.rows["best"]) == len(page.rows["budget"]) == 4  # 2 runs x 2 engines
    assert len(page.rows["runs"]) == 2
    text = out.read_text()
    assert "study/a" in text and "study/b" in text and "test_rmse" in text
    with pytest.raises(HPSearchError):
        write_compare_report([], tmp_path / "none.html")


def test_report_inlines_the_stylesheet_verbatim(tmp_path: Path) -> None:
    from hpsearch.report.templating import STATIC

    text = write_report(make_run(tmp_path, "css")).read_text(encoding="utf-8")
    # escaped, its quoted font names ("Segoe UI" -> &#34;) would drop the font-family rule
    assert "<style>" + (STATIC / "hpsearch.css").read_text(encoding="utf-8") + "</style>" in text


def test_importing_report_loads_no_keras_nor_matplotlib() -> None:
    code = (
        "import sys, hpsearch.report.html; heavy = [m for m in ('keras', 'tensorflow', 'jax', "
        "'matplotlib') if m in sys.modules]; print(heavy); sys.exit(bool(heavy))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(
    shutil.which("chromium") is None and not os.environ.get("HPSEARCH_REQUIRE_CHROMIUM"),
    reason="chromium not installed (apt-get install chromium) - headless render skipped",
)
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    """CI installs Chromium and sets HPSEARCH_REQUIRE_CHROMIUM: there this never skips."""
    report = write_report(make_run(tmp_path, "browser"))
    shot = tmp_path / "shot.png"
    profile = tmp_path / "profile"
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--screenshot={shot}",
            "--window-size=1280,2000",
            report.as_uri(),
        ],
        capture_output=True,
        timeout=90,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert shot.is_file(), "chromium wrote no screenshot"
    _not_blank(shot.read_bytes())
