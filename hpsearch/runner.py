"""The study runner: validate, load data once, run each engine, keep every result.

What every engine shares happens here, once: the test set is held back from the engines
and scored only on each engine's final model; trials reach trials.csv and status.json as
they finish; the best model is saved; the fit store is dropped when the run finishes.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from hpsearch import interrupt, registry
from hpsearch.config import SPACE_PARAMS, Study, merge_overrides, parse_study
from hpsearch.data import Dataset, load_dataset
from hpsearch.engines.base import EngineContext, EngineResult
from hpsearch.engines.common import EnvironmentFailure, test_scores
from hpsearch.errors import AllTrialsFailed, HPSearchError, Interrupted, ResumeMismatch
from hpsearch.files import atomic_write_text, now, write_csv, write_json
from hpsearch.live import LiveRun, closed_sessions
from hpsearch.progress import Display
from hpsearch.provenance import changed_provenance, provenance
from hpsearch.report import write_report
from hpsearch.results import check_writable, new_run_dir
from hpsearch.trials import PRUNED, read_histories, read_trials

# What must be unchanged for a resumed run to continue the same search (engine settings too).
RESUME_KEYS = (
    "dataset",
    "seed",
    "engines",
    "max_train_samples",
    "max_eval_samples",
    "epochs",
    "batch_size",
    "space",
)


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
    row.update({f"param_{k}": params[k] for k in SPACE_PARAMS if k in params})
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
) -> Path:
    """Run `study` (or finish the run in `resume`) and return its run directory.

    Raises AllTrialsFailed after writing the reports when an engine had no successful
    trial, and Interrupted (with the way to resume) on Ctrl-C.
    """
    changes: dict[str, Any] = {"engines": engines, "seed": seed, "output_dir": output_dir}
    study = dataclasses.replace(study, **{k: v for k, v in changes.items() if v is not None})
    if resume is not None:
        run_dir, info = Path(resume), read_run(Path(resume))
        # The run's own command-line settings (--storage, --chief ...), then this session's.
        overrides = merge_overrides(info.get("overrides"), study.overrides)
        study = dataclasses.replace(
            parse_study(study.text, study.source, overrides),
            **{k: v for k, v in changes.items() if v is not None},
        )
        study = check_resumable(study, run_dir, info, engines, seed)
        info["overrides"] = study.overrides
        data = load_dataset(study)
        if data.fingerprint() != info["data_fingerprint"]:
            raise ResumeMismatch(
                f"{run_dir}: cannot resume: the data differ from the run's "
                f"(fingerprint {data.fingerprint()}, run has {info['data_fingerprint']})"
            )
        # Every earlier session's time, a killed one's up to its last live update.
        info["session_seconds"] = closed_sessions(run_dir, info)
        info["wall_seconds"] = round(sum(info["session_seconds"]), 1)
        info.setdefault("resumed_at", []).append(now())
        for tmp in (*run_dir.glob(".*.tmp"), *run_dir.glob("best/.*")):  # a kill -9 during an
            tmp.unlink(missing_ok=True)  # atomic write leaves its temporary file
    else:
        out = Path(study.output_dir)
        check_writable(out, study.source)
        data = load_dataset(study)  # before the run directory exists: missing data leaves nothing
        run_dir = new_run_dir(out, study.name)
        info = {
            "study": study.name,
            "source": study.source,
            "source_path": str(Path(study.source).resolve()),
            "dataset": study.dataset,
            "data_origin": data.origin,
            "data_fingerprint": data.fingerprint(),
            "sizes": data.sizes(),
            "engines": list(study.engines),
            "seed": study.seed,
            "versions": provenance(),
            "overrides": study.overrides,
            "started_at": now(),
            "argv": sys.argv,
        }
        atomic_write_text(run_dir / "study.toml", study.text)
    write_json(run_dir / "run.json", info)
    chosen = {name: registry.get(name) for name in study.engines}
    live = LiveRun(
        run_dir,
        info,
        {n: e.planned(study) for n, e in chosen.items()},
        {n: e.metric(study) for n, e in chosen.items()},
        read_trials(run_dir / "trials.csv") if resume is not None else [],
        read_histories(run_dir / "histories.csv") if resume is not None else [],
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

    def keep_time() -> None:  # run.json's wall time counts this session so far too
        info["session_seconds"] = live.session_seconds()
        info["wall_seconds"] = round(sum(info["session_seconds"]), 1)
        write_json(run_dir / "run.json", info)

    try:
        display = display or Display(quiet=True)
        for name, engine in chosen.items():
            live.start_engine(name)
            ctx = EngineContext(
                name,
                study,
                _without_test(data),
                run_dir / "state" / name,
                live.on_trial,
                session,
                verbose,
                on_history=live.on_history,
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
            write_csv(run_dir / "summary.csv", pd.DataFrame(summary))
            keep_time()
            write_report(run_dir)
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
    write_json(run_dir / "run.json", info)
    if not keep_state:  # the best models are saved; the fit store is only for resuming
        shutil.rmtree(run_dir / "state", ignore_errors=True)
    if failed:
        message = f"no usable model from {', '.join(failed)}; see {run_dir / 'trials.csv'}"
        live.finish("failed", message)
        raise AllTrialsFailed(message)
    live.finish("finished")
    return run_dir


def _without_test(data: Dataset) -> Dataset:
    """The data an engine sees: train and validation only (it selects; the runner tests)."""
    return dataclasses.replace(data, x_test=None, y_test=None)


def _finish_model(study: Study, data: Dataset, run_dir: Path, result: EngineResult) -> None:
    """Score the engine's final model on the test set (its first and only use) and save it."""
    if result.model is None:
        return
    from hpsearch.best import save_best

    assert data.x_test is not None and data.y_test is not None, "the runner's data has a test set"
    result.test = test_scores(study.task, data.y_test, result.model.predict(data.x_test))
    save_best(run_dir, result.engine, result.model)


def read_run(run_dir: Path) -> dict[str, Any]:
    """run.json of a run to resume; one clear line if this is not a run directory."""
    try:
        info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
        missing = [k for k in ("seed", "engines", "data_fingerprint") if k not in info]
        if missing or not (run_dir / "study.toml").is_file():
            raise ValueError(f"missing {', '.join(missing) or 'study.toml'}")
    except (OSError, ValueError) as exc:
        raise ResumeMismatch(
            f"{run_dir}: expected a run directory with run.json and study.toml, "
            f"got {exc.__class__.__name__}: {exc}"
        ) from None
    if "finished_at" in info:
        raise ResumeMismatch(f"{run_dir}: cannot resume: the run finished at {info['finished_at']}")
    from hpsearch.live import read_status

    if (run_dir / "status.json").is_file() and read_status(run_dir)["state"] == "running":
        status = read_status(run_dir)
        raise ResumeMismatch(
            f"{run_dir}: cannot resume: it is still running (pid {status.get('pid')} "
            f"on {status.get('host')}); stop it first"
        )
    return info


def stored_study(
    run_dir: Path, info: dict[str, Any], overrides: dict[str, dict[str, Any]] | None = None
) -> Study:
    """The study a run was started with, read from its study.toml (paths as at the start),
    with its command-line settings (run.json) and then `overrides`."""
    source = info.get("source_path") or info.get("source") or str(run_dir / "study.toml")
    return parse_study(
        (run_dir / "study.toml").read_text(encoding="utf-8"),
        source,
        merge_overrides(info.get("overrides"), overrides),
    )


def check_resumable(
    study: Study,
    run_dir: Path,
    info: dict[str, Any],
    engines: tuple[str, ...] | None,
    seed: int | None,
) -> Study:
    """The study to resume with: the run's seed and engines, refused if anything that matters
    changed: the study, the data, the model code or a package that trains it."""
    if seed is not None and seed != info["seed"]:
        raise ResumeMismatch(
            f"{run_dir}: cannot resume with --seed {seed}: the run used seed {info['seed']}"
        )
    if engines and list(engines) != info["engines"]:
        raise ResumeMismatch(
            f"{run_dir}: cannot resume with engines {list(engines)}: the run used {info['engines']}"
        )
    for what, then, current in changed_provenance(info.get("versions", {})):
        raise ResumeMismatch(
            f"{run_dir}: cannot resume: {what} changed since the run started "
            f"(run: {then}, now: {current}); start a new run"
        )
    study = dataclasses.replace(study, seed=info["seed"], engines=tuple(info["engines"]))
    ran = dataclasses.replace(
        stored_study(run_dir, info), seed=info["seed"], engines=tuple(info["engines"])
    )
    for key in RESUME_KEYS:
        if getattr(study, key) != getattr(ran, key):
            raise ResumeMismatch(
                f"{study.source}: cannot resume {run_dir}: {key} changed "
                f"(run: {getattr(ran, key)!r}, now: {getattr(study, key)!r})"
            )
    for name in study.engines:
        engine = registry.get(name)
        if engine.resume_view(study.settings[name]) != engine.resume_view(ran.settings[name]):
            raise ResumeMismatch(
                f"{study.source}: cannot resume {run_dir}: {name} changed "
                f"(run: {ran.settings[name]!r}, now: {study.settings[name]!r})"
            )
    return study


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
