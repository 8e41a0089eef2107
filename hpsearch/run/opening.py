"""Open a run: make a new run folder for a study, or take up a stopped one after the resume
checks. Either way the run has its study, folder, run.json contents and data."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

from hpsearch.data import Dataset, load_dataset
from hpsearch.errors import ResumeMismatch
from hpsearch.files import atomic_write_text, now
from hpsearch.rundir.folder import STUDY, check_writable, new_run_dir, remove_temporaries
from hpsearch.rundir.live import closed_sessions
from hpsearch.rundir.resume import check_resumable, factory_code, read_run
from hpsearch.runtime.provenance import provenance
from hpsearch.study.config import Study, merge_overrides, parse_study


def open_run(
    study: Study,
    resume: str | Path | None,
    engines: tuple[str, ...] | None,
    seed: int | None,
    changes: dict[str, Any],
) -> tuple[Study, Path, dict[str, Any], Dataset]:
    """(study, run folder, run.json contents, data). A new folder is made only once the data
    loaded: missing data leaves nothing behind. `changes` are this session's settings."""
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
        remove_temporaries(run_dir)
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
            "task": study.task,
            # what predict answers with: the file's own labels, in the order of the positions
            **({"classes": list(data.classes)} if data.classes is not None else {}),
            "engines": list(study.engines),
            "seed": study.seed,
            "model": study.factory or "hpsearch.model.mlp:build_model",
            "versions": provenance(factory_code(study)),
            "overrides": study.overrides,
            "started_at": now(),
            "argv": sys.argv,
        }
        atomic_write_text(run_dir / STUDY, study.text)
    return study, run_dir, info, data
