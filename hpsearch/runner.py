"""The study runner: validate, load data once, run each engine, write the reports."""
from __future__ import annotations

import dataclasses
import json
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from hpsearch import interrupt
from hpsearch.config import SPACE_PARAMS, Study, parse_study
from hpsearch.data import load_dataset
from hpsearch.engines import EngineResult, run_engine, watch_engine
from hpsearch.progress import Display
from hpsearch.report import write_report
from hpsearch.errors import AllTrialsFailed, Interrupted, ResumeMismatch
from hpsearch.files import atomic_write_text, now, write_csv, write_json
from hpsearch.results import check_writable, new_run_dir
from hpsearch.trials import HISTORY_COLUMNS, trials_dataframe

# What must be unchanged for a resumed run to continue the same search.
RESUME_KEYS = ("dataset", "seed", "engines", "max_train_samples", "max_eval_samples", "epochs",
               "batch_size", "space", "sklearn", "keras_tuner")
# ... except settings that change speed, not results (fewer workers after running out of memory).
RESUME_FREE = {"sklearn": ("n_jobs",)}
PACKAGES = ("keras", "tensorflow", "jax", "scikeras", "scikit-learn", "keras-tuner", "pandas", "numpy")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    import keras

    found["keras_backend"] = keras.backend.backend()
    return found


def summary_row(study: Study, result: EngineResult) -> dict[str, Any]:
    """One line per engine: its best trial, its test score, what it spent."""
    records, best = result.records, result.best
    row: dict[str, Any] = {
        "study": study.name, "dataset": study.dataset, "engine": result.engine,
        "status": ("ok" if not result.error else "refit failed") if best else "failed",
        "n_trials": len(records),
        "n_failed": sum(r.status != "ok" for r in records),
        "metric": best.metric if best else (records[0].metric if records else ""),
        "best_trial": best.trial if best else "", "best_val_score": best.val_score if best else None,
        "best_cv_std": best.cv_std if best else None,
    }
    params = best.params if best else {}
    row.update({f"param_{k}": params[k] for k in SPACE_PARAMS if k in params})
    row.update(result.test)
    row["epochs_run_total"] = sum(r.epochs_run * r.n_fits for r in records if r.epochs_run == r.epochs_run)
    row["fit_seconds_total"] = round(sum(r.fit_seconds for r in records
                                         if r.fit_seconds == r.fit_seconds), 2)
    row["engine_seconds"] = round(result.seconds, 2)  # this session's, for a resumed run
    row["error"] = result.error
    return row


def run_study(study: Study, *, engines: tuple[str, ...] | None = None, seed: int | None = None,
              output_dir: str | None = None, resume: str | Path | None = None, verbose: int = 0,
              display: Display | None = None,
              log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr)) -> Path:
    """Run `study` (or finish the run in `resume`) and return its run directory.

    Raises AllTrialsFailed after writing the reports when an engine had no successful
    trial, and Interrupted (with the way to resume) on Ctrl-C.
    """
    changes: dict[str, Any] = {"engines": engines, "seed": seed, "output_dir": output_dir}
    study = dataclasses.replace(study, **{k: v for k, v in changes.items() if v is not None})
    if resume is not None:
        run_dir, info = Path(resume), read_run(Path(resume))
        study = check_resumable(study, run_dir, info, engines, seed)
        data = load_dataset(study)
        if data.fingerprint() != info["data_fingerprint"]:
            raise ResumeMismatch(f"{run_dir}: cannot resume: the data differ from the run's "
                                 f"(fingerprint {data.fingerprint()}, run has {info['data_fingerprint']})")
        info.setdefault("resumed_at", []).append(now())
    else:
        out = Path(study.output_dir)
        check_writable(out, study.source)
        data = load_dataset(study)  # before the run directory exists: missing data leaves nothing
        _seed_everything(study.seed)
        run_dir = new_run_dir(out, study.name)
        info = {"study": study.name, "source": study.source, "dataset": study.dataset,
                "data_origin": data.origin, "data_fingerprint": data.fingerprint(),
                "sizes": {"train": len(data.x_train), "val": len(data.x_val), "test": len(data.x_test)},
                "engines": list(study.engines), "seed": study.seed, "versions": versions(),
                "started_at": now(), "argv": sys.argv}
        atomic_write_text(run_dir / "study.toml", study.text)
    write_json(run_dir / "run.json", info)
    _seed_everything(study.seed)  # again for a resume; cheap
    log(f"{study.name}: {len(data.x_train)} train / {len(data.x_val)} val / {len(data.x_test)} test "
        f"from {data.origin}; writing to {run_dir}")
    records, summary, histories, failed = [], [], [], []
    started = time.perf_counter()
    try:
        display = display or Display(quiet=True)
        for engine in study.engines:
            workdir = run_dir / "state" / engine
            with display.engine(engine, *watch_engine(engine, study, workdir)):
                result = run_engine(engine, study, data, workdir, verbose)
            interrupt.check()
            records += result.records
            histories += result.histories
            summary.append(summary_row(study, result))
            write_csv(run_dir / "trials.csv", trials_dataframe(records))
            write_csv(run_dir / "summary.csv", pd.DataFrame(summary))
            write_csv(run_dir / "histories.csv", pd.DataFrame(histories, columns=HISTORY_COLUMNS))
            write_report(run_dir)
            log(_one_line(result))
            if result.best is None:
                failed.append(engine)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted; finished fits are kept in {run_dir}. Resume with: "
                          f"python -m hpsearch run {study.source} --resume {run_dir}") from None
    # A resumed run adds this session's time to what the earlier sessions spent.
    wall = info.get("wall_seconds", 0.0) + time.perf_counter() - started
    info.update(finished_at=now(), wall_seconds=round(wall, 1))
    write_json(run_dir / "run.json", info)
    write_report(run_dir)  # again, now that run.json has the wall time
    if failed:
        raise AllTrialsFailed(f"every trial of {', '.join(failed)} failed; see {run_dir / 'trials.csv'}")
    return run_dir


def read_run(run_dir: Path) -> dict[str, Any]:
    """run.json of a run to resume; one clear line if this is not a run directory."""
    try:
        info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
        missing = [k for k in ("seed", "engines", "data_fingerprint") if k not in info]
        if missing or not (run_dir / "study.toml").is_file():
            raise ValueError(f"missing {', '.join(missing) or 'study.toml'}")
    except (OSError, ValueError) as exc:
        raise ResumeMismatch(f"{run_dir}: expected a run directory with run.json and study.toml, "
                             f"got {exc.__class__.__name__}: {exc}") from None
    return info


def check_resumable(study: Study, run_dir: Path, info: dict[str, Any],
                    engines: tuple[str, ...] | None, seed: int | None) -> Study:
    """The study to resume with: the run's seed and engines, refused if anything that matters changed."""
    if seed is not None and seed != info["seed"]:
        raise ResumeMismatch(f"{run_dir}: cannot resume with --seed {seed}: the run used seed {info['seed']}")
    if engines and list(engines) != info["engines"]:
        raise ResumeMismatch(f"{run_dir}: cannot resume with engines {list(engines)}: "
                             f"the run used {info['engines']}")
    study = dataclasses.replace(study, seed=info["seed"], engines=tuple(info["engines"]))
    ran = parse_study((run_dir / "study.toml").read_text(encoding="utf-8"), str(run_dir / "study.toml"))
    ran = dataclasses.replace(ran, seed=info["seed"], engines=tuple(info["engines"]))
    for key in RESUME_KEYS:
        now_, then = getattr(study, key), getattr(ran, key)
        if key in RESUME_FREE:
            free = {k: None for k in RESUME_FREE[key]}
            now_, then = dataclasses.replace(now_, **free), dataclasses.replace(then, **free)
        if now_ != then:
            raise ResumeMismatch(f"{study.source}: cannot resume {run_dir}: {key} changed "
                                 f"(run: {getattr(ran, key)!r}, now: {getattr(study, key)!r})")
    return study


def _one_line(result: EngineResult) -> str:
    if result.best is None:
        return f"{result.engine}: all {len(result.records)} trials failed"
    if result.error:
        return f"{result.engine}: {len(result.records)} trials; best {result.best.trial}; {result.error}"
    tests = ", ".join(f"{k} {v:.4f}" for k, v in result.test.items())
    return (f"{result.engine}: {len(result.records)} trials in {result.seconds:.0f} s, best "
            f"{result.best.metric} {result.best.val_score:.4f} (trial {result.best.trial}); {tests}")


def _seed_everything(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)

