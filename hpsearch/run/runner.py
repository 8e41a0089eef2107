"""The study runner: validate, load data once, run each engine, keep every result.

What every engine shares happens here, once: the test set is held back from the engines
and scored only on each engine's final model; trials reach trials.csv and status.json as
they finish; the best model is saved; the fit store is dropped when the run finishes.
"""

from __future__ import annotations

import dataclasses
import functools
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from hpsearch import registry
from hpsearch.data import Dataset
from hpsearch.engines.base import EngineContext, EngineResult
from hpsearch.engines.common import EnvironmentFailure, test_scores
from hpsearch.errors import AllTrialsFailed, HPSearchError, Interrupted
from hpsearch.files import now, write_csv, write_json
from hpsearch.model.labels import LabelledClassifier
from hpsearch.report.best import save_best
from hpsearch.report.html import write_report
from hpsearch.run.opening import open_run
from hpsearch.run.progress import Display
from hpsearch.rundir.folder import HISTORIES, RUN, STATE, SUMMARY, TRIALS
from hpsearch.rundir.live import LiveRun
from hpsearch.runtime import interrupt
from hpsearch.study.config import Study
from hpsearch.study.trials import PRUNED, TrialRecord, read_histories, read_trials
from hpsearch.track import mlflow as mlflow_track
from hpsearch.track.background import tracking


def summary_row(study: Study, result: EngineResult) -> dict[str, Any]:
    """One line per engine: its best trial, its test score, what it spent."""
    records, best = result.records, result.best
    metric, direction = registry.get(result.engine).metric(study)
    row: dict[str, Any] = {
        "study": study.name,
        "dataset": study.dataset,
        "engine": result.engine,
        "status": ("ok" if not result.error else "refit failed") if best else "failed",
        "n_trials": len(records),
        "n_failed": sum(r.failed for r in records),
        "n_pruned": sum(r.status == PRUNED for r in records),
        "metric": metric,
        "direction": direction,
        "best_trial": best.trial if best else "",
        "best_val_score": best.val_score if best else None,
        "best_cv_std": best.cv_std if best else None,
    }
    params = best.params if best else {}
    row.update({f"param_{k}": v for k, v in params.items()})  # a factory's own ones too
    row.update(result.test)
    row["epochs_run_total"] = sum(
        r.epochs_run * r.n_fits for r in records if r.epochs_run == r.epochs_run
    )
    row["fit_seconds_total"] = round(
        sum(r.fit_seconds for r in records if r.fit_seconds == r.fit_seconds), 2
    )
    row["engine_seconds"] = round(result.seconds, 2)  # this session's, for a resumed run
    row["error"] = result.error
    return row


def run_study(
    study: Study,
    *,
    engines: tuple[str, ...] | None = None,
    seed: int | None = None,
    output_dir: str | None = None,
    resume: str | Path | None = None,
    verbose: int = 0,
    display: Display | None = None,
    keep_state: bool = False,
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr),
    mlflow: str | None = None,
    tensorboard: str | None = None,
) -> Path:
    """Run `study` (or finish the run in `resume`) and return its run directory.

    `mlflow`: a tracking URI to log the run to as it goes (over the study's [track] mlflow;
    a resumed run keeps the one it had); `tensorboard`: a log folder, the same way. Raises AllTrialsFailed after writing the reports
    when an engine had no successful trial, and Interrupted (with the way to resume) on Ctrl-C.
    """
    changes: dict[str, Any] = {"engines": engines, "seed": seed, "output_dir": output_dir}
    study = dataclasses.replace(study, **{k: v for k, v in changes.items() if v is not None})
    if mlflow or study.track.get("mlflow"):
        mlflow_track.require()  # before the run folder is made: nothing half-written
    study, run_dir, info, data = open_run(study, resume, engines, seed, changes)
    if mlflow:  # run.json keeps it: a resume tracks where the run began
        info["mlflow"] = mlflow
    uri = mlflow or study.track.get("mlflow") or info.get("mlflow")
    if uri:
        mlflow_track.require()
    logdir = tensorboard or study.track.get("tensorboard") or info.get("tensorboard")
    if logdir:  # absolute in run.json: a resume from elsewhere writes to the same folder
        info["tensorboard"] = logdir = str(Path(logdir).resolve())
    write_json(run_dir / RUN, info)
    targets = {"mlflow": uri, "tensorboard": logdir}
    with tracking(run_dir, {k: v for k, v in targets.items() if v}, log) as wake:
        return _run_engines(
            study, run_dir, info, data, resume, verbose, display, keep_state, log, wake
        )


def _run_engines(
    study: Study,
    run_dir: Path,
    info: dict[str, Any],
    data: Dataset,
    resume: str | Path | None,
    verbose: int,
    display: Display | None,
    keep_state: bool,
    log: Callable[[str], None],
    wake: Callable[[], None],
) -> Path:
    """Each engine in turn, its trials into the live files (`wake`: the trackers too)."""
    chosen = {name: registry.get(name) for name in study.engines}
    live = LiveRun(
        run_dir,
        info,
        {n: e.planned(study) for n, e in chosen.items()},
        {n: e.metric(study) for n, e in chosen.items()},
        read_trials(run_dir / TRIALS) if resume is not None else [],
        read_histories(run_dir / HISTORIES) if resume is not None else [],
        sessions=info.get("session_seconds") or [],
    )
    resume_hint = f"python -m hpsearch resume {run_dir}"
    sizes = data.sizes()
    log(
        f"{study.name}: {sizes['train']} train / {sizes['val']} val / {sizes['test']} test "
        f"from {data.origin}; writing to {run_dir} (if stopped: {resume_hint})"
    )
    session = f"{now()}-{uuid.uuid4().hex[:8]}"
    summary, failed = [], []

    def on_trial(record: TrialRecord) -> None:
        live.on_trial(record)
        wake()

    def on_choice(engine: str, setting: str, value: Any, why: str) -> None:
        # this session's: a resume decides anew, on the machine it runs on
        info.setdefault("chosen", {}).setdefault(engine, {})[setting] = {"value": value, "why": why}
        write_json(run_dir / RUN, info)
        log(f"{engine}: {setting} = {value} ({why})")

    def keep_time() -> None:  # run.json's wall time counts this session so far too
        info["session_seconds"] = live.session_seconds()
        info["wall_seconds"] = round(sum(info["session_seconds"]), 1)
        write_json(run_dir / RUN, info)

    try:
        display = display or Display(quiet=True)
        for name, engine in chosen.items():
            live.start_engine(name)
            ctx = EngineContext(
                name,
                study,
                data.without_test(),
                run_dir / STATE / name,
                on_trial,
                session,
                verbose,
                on_history=live.on_history,
                on_choice=functools.partial(on_choice, name),
            )
            with display.engine(name, engine.planned(study), functools.partial(live.poll, name)):
                engine_started = time.perf_counter()
                result = engine.run(ctx)
                interrupt.check()
                _finish_model(study, data, run_dir, result)
                result.seconds = time.perf_counter() - engine_started
            ok = result.model is not None
            live.finish_engine(
                name, result.records, "finished" if ok else "failed", result.histories
            )
            summary.append(summary_row(study, result))
            write_csv(run_dir / SUMMARY, pd.DataFrame(summary))
            keep_time()
            write_report(run_dir)
            wake()
            log(_one_line(result))
            if not ok:  # every trial failed, or the best one's final refit did
                failed.append(f"{name} ({result.error or 'every trial failed'})")
    except KeyboardInterrupt:
        live.finish("interrupted", "stopped by Ctrl-C or SIGTERM")
        keep_time()
        raise Interrupted(
            f"interrupted; finished fits are kept in {run_dir}. Resume with: {resume_hint}"
        ) from None
    except (
        EnvironmentFailure,
        OSError,
        MemoryError,
    ) as exc:  # the machine's failure, not the study's
        what = (
            f"the machine failed a fit ({exc})"
            if isinstance(exc, EnvironmentFailure)
            else f"the machine failed ({type(exc).__name__}: {exc})"
        )
        try:
            live.finish("interrupted", what[:300])
            keep_time()
        except OSError:
            pass  # a full disk may refuse status.json too; the one line below still says it
        raise HPSearchError(
            f"{what}; finished work is kept in {run_dir}. Resume with: {resume_hint}"
        ) from None
    except BaseException as exc:
        if interrupt.requested():  # a library turned our KeyboardInterrupt into its own error
            live.finish("interrupted", "stopped by Ctrl-C or SIGTERM")
            keep_time()
            raise Interrupted(
                f"interrupted; finished fits are kept in {run_dir}. Resume with: {resume_hint}"
            ) from None
        live.finish("failed", f"{type(exc).__name__}: {exc}"[:300])
        keep_time()
        raise
    keep_time()  # a resumed run's time is every session's
    write_report(run_dir)  # again, now that run.json has the wall time
    # finished_at last: a kill before this point leaves a run that `resume` still accepts.
    info["finished_at"] = now()
    write_json(run_dir / RUN, info)
    if not keep_state:  # the best models are saved; the fit store is only for resuming
        shutil.rmtree(run_dir / STATE, ignore_errors=True)
    if failed:
        message = f"no usable model from {', '.join(failed)}; see {run_dir / 'trials.csv'}"
        live.finish("failed", message)
        raise AllTrialsFailed(message)
    live.finish("finished")
    return run_dir


def _finish_model(study: Study, data: Dataset, run_dir: Path, result: EngineResult) -> None:
    """Score the engine's final model on the test set (its first and only use) and save it."""
    if result.model is None:
        return

    assert data.x_test is not None and data.y_test is not None, "the runner's data has a test set"
    result.test = test_scores(study.task, data.y_test, result.model.predict(data.x_test))
    model = result.model
    if data.classes is not None:  # saved to answer "Adelie", not the position it trained on
        model = LabelledClassifier(model, data.classes)
    save_best(run_dir, result.engine, model)


def _one_line(result: EngineResult) -> str:
    if result.best is None:
        return f"{result.engine}: all {len(result.records)} trials failed"
    if result.error:
        return f"{result.engine}: {len(result.records)} trials; best {result.best.trial}; {result.error}"
    tests = ", ".join(f"{k} {v:.4f}" for k, v in result.test.items())
    return (
        f"{result.engine}: {len(result.records)} trials in {result.seconds:.0f} s, best "
        f"{result.best.metric} {result.best.val_score:.4f} (trial {result.best.trial}); {tests}"
    )
