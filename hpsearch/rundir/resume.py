"""What a resume checks before it continues a run: the folder is a run that stopped, and nothing
that matters changed (the study, its engines' settings, the seed, the model code, the packages).
Workers read a run back the same way."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from hpsearch import registry
from hpsearch.errors import ResumeMismatch
from hpsearch.rundir.folder import RUN, STATUS, STUDY
from hpsearch.rundir.live import read_status
from hpsearch.runtime.provenance import changed_provenance
from hpsearch.study.config import Study, merge_overrides, parse_study
from hpsearch.study.factory import source_hash

# What must be unchanged for a resumed run to continue the same search (engine settings too).
RESUME_KEYS = (
    "dataset",
    "data",
    "seed",
    "engines",
    "max_train_samples",
    "max_eval_samples",
    "epochs",
    "batch_size",
    "space",
    "factory",
)


def read_run(run_dir: Path) -> dict[str, Any]:
    """run.json of a run to resume; one clear line if this is not a run directory."""
    try:
        info = json.loads((run_dir / RUN).read_text(encoding="utf-8"))
        missing = [k for k in ("seed", "engines", "data_fingerprint") if k not in info]
        if missing or not (run_dir / STUDY).is_file():
            raise ValueError(f"missing {', '.join(missing) or 'study.toml'}")
    except (OSError, ValueError) as exc:
        raise ResumeMismatch(
            f"{run_dir}: expected a run directory with run.json and study.toml, "
            f"got {exc.__class__.__name__}: {exc}"
        ) from None
    if "finished_at" in info:
        raise ResumeMismatch(f"{run_dir}: cannot resume: the run finished at {info['finished_at']}")
    if (run_dir / STATUS).is_file() and read_status(run_dir)["state"] == "running":
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
    source = info.get("source_path") or info.get("source") or str(run_dir / STUDY)
    return parse_study(
        (run_dir / STUDY).read_text(encoding="utf-8"),
        source,
        merge_overrides(info.get("overrides"), overrides),
    )


def factory_code(study: Study) -> str:
    """The hash of the study's own model factory's source ("" for hpsearch's MLP)."""
    return source_hash(study.factory, study.factory_path) if study.factory else ""


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
    for what, then, current in changed_provenance(info.get("versions", {}), factory_code(study)):
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
