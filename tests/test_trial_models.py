"""trial_model: each trial's own model after a run, from the state kept by --keep-state."""

from __future__ import annotations

import numpy as np
import pytest

from hpsearch.data import load_dataset
from hpsearch.report.trial_models import NoTrialState, trial_model
from hpsearch.run.runner import run_study
from hpsearch.study.config import load_study
from hpsearch.study.trials import read_trials

from conftest import write_study

pytestmark = pytest.mark.data


def test_each_trials_model_scores_its_own_validation_score(tmp_path):
    """The rebuilt model is the trial's own (not a retrained one): its accuracy on the
    validation split is the score the engine recorded for it."""
    path = write_study(
        tmp_path,
        "fashion_mnist",
        ["sklearn", "keras_tuner", "optuna"],
        n=2,
        replace={
            "cv = 2": 'cv = "validation"',
            "[keras_tuner]": "[optuna]\nn_trials = 2\n\n[keras_tuner]",
        },
    )
    study = load_study(path)
    run_dir = run_study(
        study, output_dir=str(tmp_path / "out"), keep_state=True, log=lambda m: None
    )
    data = load_dataset(study)
    records = [r for r in read_trials(run_dir / "trials.csv") if r.ok]
    assert {r.engine for r in records} == {"sklearn", "keras_tuner", "optuna"}
    for record in records:
        model = trial_model(run_dir, record.engine, record.trial, data)
        accuracy = float(np.mean(model.predict(data.x_val) == data.y_val))
        assert accuracy == pytest.approx(record.val_score, abs=1e-6), (record.engine, record.trial)


def test_without_kept_state_one_clear_error(tmp_path):
    """A run without --keep-state dropped its state folder: say how to keep it."""
    (tmp_path / "run.json").write_text("{}")
    with pytest.raises(NoTrialState, match="no state kept for sklearn.*--keep-state"):
        trial_model(tmp_path, "sklearn", "000")
