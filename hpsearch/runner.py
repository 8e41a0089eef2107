"""The study runner: validate, load data once, run each engine, write the reports."""
from __future__ import annotations

import dataclasses
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from hpsearch.config import SPACE_PARAMS, Study
from hpsearch.data import load_dataset
from hpsearch.engines import ENGINES, EngineResult
from hpsearch.errors import AllTrialsFailed
from hpsearch.results import atomic_write_text, check_writable, new_run_dir, now, write_csv, write_json
from hpsearch.trials import trials_dataframe

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
        "status": "ok" if best else "failed", "n_trials": len(records),
        "n_failed": sum(r.status != "ok" for r in records),
        "metric": best.metric if best else (records[0].metric if records else ""),
        "best_trial": best.trial if best else "", "best_val_score": best.val_score if best else None,
        "best_cv_std": best.cv_std if best else None,
    }
    params = best.params if best else {}
    row.update({f"param_{k}": params[k] for k in SPACE_PARAMS if k in params})
    row.update(result.test)
    row["epochs_run_total"] = sum(r.epochs_run for r in records if r.epochs_run == r.epochs_run)
    row["fit_seconds_total"] = round(sum(r.fit_seconds for r in records
                                         if r.fit_seconds == r.fit_seconds), 2)
    row["engine_seconds"] = round(result.seconds, 2)
    return row


def run_study(study: Study, *, engines: tuple[str, ...] | None = None, seed: int | None = None,
              output_dir: str | None = None, verbose: int = 0,
              log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr)) -> Path:
    """Run `study` and return its run directory; raises AllTrialsFailed after writing reports."""
    changes: dict[str, Any] = {}
    if engines:
        changes["engines"] = engines
    if seed is not None:
        changes["seed"] = seed
    if output_dir is not None:
        changes["output_dir"] = output_dir
    study = dataclasses.replace(study, **changes)
    out = Path(study.output_dir)
    check_writable(out, study.source)
    data = load_dataset(study)  # before the run directory exists: missing data leaves nothing behind
    run_dir = new_run_dir(out, study.name)
    _seed_everything(study.seed)
    info = {"study": study.name, "source": study.source, "dataset": study.dataset,
            "data_origin": data.origin, "data_fingerprint": data.fingerprint(),
            "sizes": {"train": len(data.x_train), "val": len(data.x_val), "test": len(data.x_test)},
            "engines": list(study.engines), "seed": study.seed, "versions": versions(),
            "started_at": now(), "argv": sys.argv}
    atomic_write_text(run_dir / "study.toml", study.text)
    write_json(run_dir / "run.json", info)
    log(f"{study.name}: {len(data.x_train)} train / {len(data.x_val)} val / {len(data.x_test)} test "
        f"from {data.origin}; writing to {run_dir}")
    records, summary, failed = [], [], []
    started = time.perf_counter()
    for engine in study.engines:
        result = ENGINES[engine](study, data, run_dir / "state" / engine, verbose)
        records += result.records
        summary.append(summary_row(study, result))
        write_csv(run_dir / "trials.csv", trials_dataframe(records))
        write_csv(run_dir / "summary.csv", pd.DataFrame(summary))
        log(_one_line(result))
        if result.best is None:
            failed.append(engine)
    info.update(finished_at=now(), wall_seconds=round(time.perf_counter() - started, 1))
    write_json(run_dir / "run.json", info)
    if failed:
        raise AllTrialsFailed(f"every trial of {', '.join(failed)} failed; see {run_dir / 'trials.csv'}")
    return run_dir


def _one_line(result: EngineResult) -> str:
    if result.best is None:
        return f"{result.engine}: all {len(result.records)} trials failed"
    tests = ", ".join(f"{k} {v:.4f}" for k, v in result.test.items())
    return (f"{result.engine}: {len(result.records)} trials in {result.seconds:.0f} s, best "
            f"{result.best.metric} {result.best.val_score:.4f} (trial {result.best.trial}); {tests}")


def _seed_everything(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))

