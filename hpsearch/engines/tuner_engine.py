"""Keras Tuner (random, Hyperband, Bayesian) over the same `build_model`."""
from __future__ import annotations

import contextlib
import io
import json
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import keras
import keras_tuner as kt
from keras_tuner.src import config as kt_config
from sklearn.preprocessing import StandardScaler

from hpsearch import interrupt
from hpsearch.config import Param, Study
from hpsearch.data import Dataset
from hpsearch.engines.callbacks import training_callbacks
from hpsearch.engines.common import EngineResult, history_rows, last_error_line, test_scores
from hpsearch.model import build_model
from hpsearch.files import now, plain, write_json
from hpsearch.space import from_hp
from hpsearch.trials import TrialRecord, best_trial, lower_is_better

TUNERS = {"random": kt.RandomSearch, "hyperband": kt.Hyperband, "bayesian": kt.BayesianOptimization}


class SpaceHyperModel(kt.HyperModel):
    """The thin adapter: `hp` -> keyword arguments -> `build_model`."""

    def __init__(self, space: dict[str, Param], n_features: int, n_classes: int | None) -> None:
        super().__init__()
        self.space, self.n_features, self.n_classes = space, n_features, n_classes

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        return build_model(**from_hp(hp, self.space), n_features=self.n_features,
                           n_classes=self.n_classes)


class _Recording:
    """Mixin keeping what Keras Tuner drops (times, per-epoch history), one JSON per trial."""

    records_dir: Path

    def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
        histories = super().run_trial(trial, *args, **kwargs)
        last = histories[-1] if isinstance(histories, list) else histories
        if hasattr(last, "history"):
            self._history = {k: [float(x) for x in v] for k, v in last.history.items()}
        return histories

    def on_trial_begin(self, trial: Any) -> None:
        interrupt.check()
        self._history, self._started = {}, (now(), time.perf_counter())
        super().on_trial_begin(trial)

    def on_trial_end(self, trial: Any) -> None:
        # Written before the oracle saves the trial as ended: a kill in between re-runs it.
        objective = self.oracle.objective.name
        score = trial.metrics.get_best_value(objective) if trial.metrics.exists(objective) else None
        write_json(self.records_dir / f"{trial.trial_id}.json", {
            "trial": trial.trial_id, "started_at": self._started[0], "finished_at": now(),
            "fit_seconds": time.perf_counter() - self._started[1], "history": self._history,
            "score": score})
        super().on_trial_end(trial)


def watch(study: Study, workdir: Path) -> tuple[int | None, Callable[[], tuple[int, float | None]]]:
    """Planned trials (unknown for Hyperband), and a poll giving (trials done, best score so far)."""
    records = workdir / "records"
    lower = lower_is_better(study.objective)

    def poll() -> tuple[int, float | None]:
        scores, done = [], 0
        for path in records.glob("*.json"):
            done += 1
            try:
                score = json.loads(path.read_text()).get("score")
            except (OSError, ValueError):
                continue
            if isinstance(score, (int, float)) and math.isfinite(score):
                scores.append(score)
        return done, (min(scores) if lower else max(scores)) if scores else None

    total = None if study.keras_tuner.algorithm == "hyperband" else study.keras_tuner.max_trials
    return total, poll


def make_tuner(study: Study, data: Dataset, workdir: Path) -> kt.Tuner:
    """The tuner for the study's algorithm; failures never stop the study early."""
    s = study.keras_tuner
    objective = kt.Objective(study.objective, "min" if lower_is_better(study.objective) else "max")
    n_classes = data.n_outputs if study.task == "classification" else None
    hypermodel = SpaceHyperModel(study.space, data.n_features, n_classes)
    common: dict[str, Any] = dict(objective=objective, seed=study.seed, directory=str(workdir),
                                  project_name="keras_tuner", overwrite=False)
    if s.algorithm == "hyperband":
        common.update(max_epochs=s.max_epochs or study.epochs, factor=s.factor)
    else:
        common.update(max_trials=s.max_trials)
    # Keras Tuner gives up after 3 consecutive failures; we record them and go on.
    common["max_consecutive_failed_trials"] = 10**6
    # overwrite=False: a new run starts empty; a resumed one reloads its finished trials.
    cls = type(f"Recording{TUNERS[s.algorithm].__name__}", (_Recording, TUNERS[s.algorithm]), {})
    tuner = cls(hypermodel, **common)
    tuner.records_dir = workdir / "records"
    return tuner


def run_keras_tuner(study: Study, data: Dataset, workdir: Path, verbose: int = 0) -> EngineResult:
    """Train on train, select on validation (early stopping restores the best epoch), test once."""
    started = time.perf_counter()
    x_train, x_val, x_test = data.x_train, data.x_val, data.x_test
    if study.task == "regression":  # fitted on training data only
        scaler = StandardScaler().fit(x_train)
        x_train, x_val, x_test = (scaler.transform(x) for x in (x_train, x_val, x_test))
    debug = kt_config.DEBUG
    kt_config.DEBUG = verbose > 0  # else Keras Tuner prints each failed trial's traceback
    try:  # Keras Tuner prints ("Reloading Tuner ...") on stdout, which holds only the run dir
        with contextlib.redirect_stdout(sys.stderr if verbose else io.StringIO()):
            tuner = make_tuner(study, data, workdir)
            tuner.search(x_train, data.y_train, validation_data=(x_val, data.y_val),
                         epochs=study.epochs, batch_size=study.batch_size, verbose=verbose,
                         callbacks=training_callbacks(study.keras_tuner.patience))
    finally:
        kt_config.DEBUG = debug
    saved = {p.stem: json.loads(p.read_text()) for p in tuner.records_dir.glob("*.json")}
    records, histories = [], []
    # start_order, not trials (a reloaded oracle fills that in file-listing order)
    for trial_id in tuner.oracle.start_order:
        trial, extra = tuner.oracle.trials[trial_id], saved.get(trial_id, {})
        records.append(_record(study, trial, extra))
        histories += history_rows("keras_tuner", trial_id, "0", extra.get("history"))
    lower = tuner.oracle.objective.direction == "min"
    best = best_trial(records, higher_is_better=not lower)
    test = {}
    if best is not None:
        with warnings.catch_warnings():  # the checkpoint's optimizer state is not needed to predict
            warnings.simplefilter("ignore", UserWarning)
            model = tuner.load_model(tuner.oracle.trials[best.trial])
        predictions = model.predict(x_test, verbose=0, batch_size=1024)
        if study.task == "classification":
            predictions = predictions.argmax(axis=1)
        test = test_scores(study.task, data.y_test, predictions)
    keras.backend.clear_session()
    return EngineResult("keras_tuner", records, best, test, time.perf_counter() - started, histories)


def _record(study: Study, trial: Any, saved: dict[str, Any]) -> TrialRecord:
    ok = trial.status == "COMPLETED" and trial.score is not None and math.isfinite(trial.score)
    # A trial still RUNNING after search() was cut off by a kill and never retried.
    message = "interrupted" if trial.status == "RUNNING" else trial.message
    values = trial.hyperparameters.values
    epochs = len(saved.get("history", {}).get("loss", []))
    return TrialRecord(
        engine="keras_tuner", trial=trial.trial_id, status="ok" if ok else "failed",
        params={k: plain(values[k]) for k in study.space if k in values},
        metric=study.objective, val_score=float(trial.score) if ok else math.nan,
        epochs_run=float(epochs) if epochs else math.nan,
        fit_seconds=saved.get("fit_seconds", math.nan),
        started_at=saved.get("started_at", ""), finished_at=saved.get("finished_at", ""),
        error="" if ok else last_error_line(message or f"trial {trial.status.lower()}"),
    )
