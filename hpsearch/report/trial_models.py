"""Each trial's own model after a run, rebuilt from the state the run kept (`--keep-state`).

A run keeps one final model per engine; its state folder (`<run>/state/<engine>/`, dropped
at the end unless the run was started with `--keep-state`) holds what each engine saved per
trial: the sklearn engine's fit store, Keras Tuner's checkpoints, Optuna's weights. Used to
score every trial (or every new best) on the test set after the search, as the anchors
benchmark does.

    from hpsearch.report.trial_models import trial_model
    model = trial_model("results/fashion/<run-id>", "keras_tuner", "007")
    model.predict(x)
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from hpsearch import registry
from hpsearch.data import Dataset, load_dataset
from hpsearch.errors import HPSearchError
from hpsearch.model.labels import LabelledClassifier
from hpsearch.rundir.folder import RUN, STATE, TRIALS
from hpsearch.rundir.resume import stored_study
from hpsearch.study.config import SPACE_PARAMS, Choice, IntRange, Param
from hpsearch.study.trials import TrialRecord, read_trials


class NoTrialState(HPSearchError):
    """The run kept no state for the engine, or the trial is not in its tables."""

    exit_code = 2


def _integral(param: Param | None) -> bool:
    """Does a space parameter take integers only (a model factory's: by its TOML values)?"""
    if isinstance(param, IntRange):
        return True
    values = param.values if isinstance(param, Choice) else [getattr(param, "value", None)]
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def typed(record: TrialRecord, space: dict[str, Param] | None = None) -> TrialRecord:
    """The record with its parameters in their space types (a CSV column may read 64 as 64.0)."""
    params = {
        k: int(v)
        if (SPACE_PARAMS.get(k, (None,))[0] is int or _integral((space or {}).get(k)))
        and float(v).is_integer()
        else v
        for k, v in record.params.items()
    }
    return dataclasses.replace(record, params=params)


def trial_model(run_dir: str | Path, engine: str, trial: str, data: Dataset | None = None) -> Any:
    """Trial `trial` of `engine` in `run_dir` as a fitted scikit-learn estimator, or None where
    the engine keeps no model for it (a failed or pruned trial, an engine that keeps none).

    Which model: the trial's own weights (Keras Tuner's best-epoch checkpoint, Optuna's kept
    weights, the sklearn engine's fit on the training split). A candidate scored by k-fold CV
    has no single model: the sklearn engine gives it refit on train + validation. `data`: the
    run's dataset when already loaded (else it is loaded again from the stored study).
    """
    run_dir = Path(run_dir)
    info = json.loads((run_dir / RUN).read_text(encoding="utf-8"))
    workdir = run_dir / STATE / engine
    if not workdir.is_dir():
        raise NoTrialState(
            f"{workdir}: no state kept for {engine}; run the study with "
            f"--keep-state to keep each trial's model"
        )
    records = [r for r in read_trials(run_dir / TRIALS) if r.engine == engine]
    record = next((r for r in records if int(r.trial) == int(trial)), None)
    if record is None:
        raise NoTrialState(
            f"{run_dir / TRIALS}: no trial {trial!r} of {engine} (it has {len(records)})"
        )
    if not record.ok:
        return None
    study = stored_study(run_dir, info)
    data = data if data is not None else load_dataset(study)
    model = registry.get(engine).trial_model(study, workdir, typed(record, study.space), data)
    if model is not None and data.classes is not None:  # answers with the file's own labels
        return LabelledClassifier(model, data.classes)
    return model
