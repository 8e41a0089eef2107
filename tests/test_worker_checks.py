"""What a worker must share with its run, checked before it trains: one line each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpsearch.data import load_dataset
from hpsearch.run.worker import WorkerError, run_worker
from hpsearch.rundir.live import LiveRun
from hpsearch.runtime.provenance import provenance
from hpsearch.study.config import load_study

from conftest import write_study

pytestmark = pytest.mark.data

STORAGE = "sqlite:///shared.db"
TINY = {
    "max_train_samples = 2000": "max_train_samples = 300",
    "max_eval_samples = 500": "max_eval_samples = 100",
}


def fake_run(tmp_path: Path, **info_changes) -> tuple[Path, Path]:
    """A run of a small Optuna study, 'running' in this very process (its status names our
    pid), coordinated through STORAGE: the study file and the run directory."""
    study_path = write_study(tmp_path, "california_housing", ["optuna"], replace=TINY)
    study = load_study(study_path, {"optuna": {"storage": STORAGE}})
    run_dir = tmp_path / "results" / "small" / "20261127-000000-abcd"
    run_dir.mkdir(parents=True)
    (run_dir / "study.toml").write_text(study.text)
    info = {
        "study": "small",
        "source": str(study_path),
        "source_path": str(study_path),
        "dataset": study.dataset,
        "engines": ["optuna"],
        "seed": study.seed,
        "data_fingerprint": load_dataset(study).fingerprint(),
        "versions": provenance(),
        "overrides": study.overrides,
        **info_changes,
    }
    (run_dir / "run.json").write_text(json.dumps(info))
    LiveRun(run_dir, info, {"optuna": 6}, {"optuna": ("val_loss", "minimize")}).start_engine(
        "optuna"
    )
    return study_path, run_dir


def join(study_path: Path, tmp_path: Path, **overrides) -> None:
    study = load_study(study_path, {"optuna": {"storage": STORAGE, **overrides}})
    run_worker(study, "optuna", STORAGE, "w1", str(tmp_path / "results"), wait=0)


def test_a_different_study_file_is_refused(tmp_path: Path) -> None:
    study_path, run_dir = fake_run(tmp_path)
    study_path.write_text(study_path.read_text().replace("epochs = 3", "epochs = 4"))
    with pytest.raises(
        WorkerError,
        match=r"cannot join .*: epochs differs from the run's "
        r"\(run: 3, worker: 4\)",
    ):
        join(study_path, tmp_path)
    study_path.write_text(
        study_path.read_text().replace("epochs = 4", "epochs = 3") + "\n[optuna]\nn_trials = 7\n"
    )
    with pytest.raises(WorkerError, match=r"\[optuna\] differs from the run's"):
        join(study_path, tmp_path)


def test_other_data_or_code_is_refused(tmp_path: Path) -> None:
    study_path, run_dir = fake_run(tmp_path, data_fingerprint="0123456789abcdef")
    with pytest.raises(WorkerError, match=r"this worker's data differ from the run's"):
        join(study_path, tmp_path)
    info = json.loads((run_dir / "run.json").read_text())
    info["data_fingerprint"] = load_dataset(load_study(study_path)).fingerprint()
    info["versions"]["model_code"] = "not-this-code"
    (run_dir / "run.json").write_text(json.dumps(info))
    with pytest.raises(
        WorkerError,
        match=r"the model code differs from the run's \(run: "
        r"not-this-code, worker: ",
    ):
        join(study_path, tmp_path)


def test_an_unwritable_run_folder_is_refused(tmp_path: Path) -> None:
    study_path, run_dir = fake_run(tmp_path)
    (run_dir / "state" / "optuna").mkdir(parents=True)
    (run_dir / "state" / "optuna" / "workers").write_text("a file where the folder goes")
    with pytest.raises(WorkerError, match=r"the run's folder is not writable here"):
        join(study_path, tmp_path)


def test_a_finished_engine_or_run_is_refused(tmp_path: Path) -> None:
    study_path, run_dir = fake_run(tmp_path)
    status = json.loads((run_dir / "status.json").read_text())
    status["engines"]["optuna"]["state"] = "finished"
    (run_dir / "status.json").write_text(json.dumps(status))
    with pytest.raises(WorkerError, match=r"its optuna engine is finished"):
        join(study_path, tmp_path)
    status["state"] = "interrupted"
    (run_dir / "status.json").write_text(json.dumps(status))
    with pytest.raises(WorkerError, match=r"no running run of study 'small' with --storage"):
        join(study_path, tmp_path)
