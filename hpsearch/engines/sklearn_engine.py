"""scikit-learn's RandomizedSearchCV over the scikeras wrappers."""
from __future__ import annotations

import math
import time
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import ParameterSampler, PredefinedSplit, RandomizedSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from hpsearch.config import Study
from hpsearch.data import Dataset
from hpsearch.engines.callbacks import training_callbacks
from hpsearch.engines.common import EngineResult, last_error_line, python_value, test_scores
from hpsearch.model import build_model
from hpsearch.space import sklearn_distributions
from hpsearch.trials import TrialRecord, best_trial
from hpsearch.wrappers import KerasClassifier, KerasRegressor

PREFIX = "model__model__"  # pipeline step "model", then scikeras's routing to build_model


def fresh_build_model(**kwargs: Any) -> keras.Model:
    """`build_model` after releasing the previous fit's Keras state (names, graphs, memory)."""
    keras.backend.clear_session()
    for routed_but_unused in ("compile_kwargs", "params"):  # scikeras passes these to **kwargs
        kwargs.pop(routed_but_unused, None)
    return build_model(**kwargs)


def epochs_run(estimator: Pipeline, X: Any, y: Any) -> float:
    """A 'scorer' that reports how many epochs the fold's fit ran (early stopping shows here)."""
    return float(len(estimator[-1].history_["loss"]))


def make_pipeline(study: Study, verbose: int = 0) -> Pipeline:
    """The estimator searched: [scaler for regression] + scikeras wrapper around build_model."""
    settings = study.sklearn
    wrapper = KerasClassifier if study.task == "classification" else KerasRegressor
    fit_options: dict[str, Any] = {}
    if settings.patience > 0:
        fit_options["validation_split"] = settings.validation_fraction
    model = wrapper(model=fresh_build_model, epochs=study.epochs, batch_size=study.batch_size,
                    verbose=verbose, random_state=study.seed,
                    callbacks=training_callbacks(settings.patience), **fit_options)
    steps = [("scale", StandardScaler())] if study.task == "regression" else []
    return Pipeline(steps + [("model", model)])


def _error_lines(message: str) -> str:
    """The distinct `Type: message` lines in sklearn's report of failed fits."""
    reasons: list[str] = []
    for block in message.split("-" * 80):
        if "Traceback" in block:
            line = last_error_line(block)
            if line not in reasons:
                reasons.append(line)
    return "; ".join(reasons) or "fit failed"


def run_sklearn(study: Study, data: Dataset, workdir: Path, verbose: int = 0) -> EngineResult:
    """Search over train+validation: k folds, or the fixed validation split when cv = 'validation'."""
    settings, started = study.sklearn, time.perf_counter()
    X = np.concatenate([data.x_train, data.x_val])
    y = np.concatenate([data.y_train, data.y_val])
    if settings.cv == "validation":
        cv: Any = PredefinedSplit(np.r_[np.full(len(data.x_train), -1), np.zeros(len(data.x_val))])
    else:
        cv = settings.cv  # StratifiedKFold for classifiers: our wrappers carry the right tags
    search = RandomizedSearchCV(
        make_pipeline(study, verbose), sklearn_distributions(study.space, PREFIX),
        n_iter=settings.n_iter, cv=cv, scoring={"score": study.scoring, "epochs": epochs_run},
        refit="score", n_jobs=settings.n_jobs, error_score=np.nan,
        random_state=study.seed if settings.random_state is None else settings.random_state,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FitFailedWarning)
        try:
            search.fit(X, y)
        except ValueError as exc:
            if not hasattr(search, "cv_results_"):  # every fit failed: no refit possible
                return _all_failed(study, search, str(exc), time.perf_counter() - started)
            raise
    reason = _error_lines("".join(str(w.message) for w in caught
                                  if issubclass(w.category, FitFailedWarning)))
    records = _records(study, search.cv_results_, reason, with_cv=settings.cv != "validation")
    best = best_trial(records)
    test = {}
    if best is not None and hasattr(search, "best_estimator_"):
        test = test_scores(study.task, data.y_test, search.best_estimator_.predict(data.x_test))
    keras.backend.clear_session()
    return EngineResult("sklearn", records, best, test, time.perf_counter() - started)


def _records(study: Study, res: dict[str, Any], reason: str, with_cv: bool) -> list[TrialRecord]:
    records = []
    n_splits = sum(1 for k in res if k.startswith("split") and k.endswith("_test_score"))
    for i, params in enumerate(res["params"]):
        mean = float(res["mean_test_score"][i])
        ok = math.isfinite(mean)
        records.append(TrialRecord(
            engine="sklearn", trial=f"{i:03d}", status="ok" if ok else "failed",
            params={k.removeprefix(PREFIX): python_value(v) for k, v in params.items()},
            metric=study.scoring, val_score=mean,
            cv_mean=mean if with_cv else math.nan,
            cv_std=float(res["std_test_score"][i]) if with_cv else math.nan,
            epochs_run=float(res["mean_test_epochs"][i]),
            fit_seconds=float(res["mean_fit_time"][i]) * n_splits,
            error="" if ok else reason,
        ))
    return records


def _all_failed(study: Study, search: RandomizedSearchCV, message: str, seconds: float) -> EngineResult:
    """Every fit failed: sklearn raised before building cv_results_, so list the candidates ourselves."""
    sampler = ParameterSampler(search.param_distributions, study.sklearn.n_iter,
                               random_state=search.random_state)
    reason = _error_lines(message)
    records = [TrialRecord(engine="sklearn", trial=f"{i:03d}", status="failed", metric=study.scoring,
                           params={k.removeprefix(PREFIX): python_value(v) for k, v in p.items()},
                           error=reason)
               for i, p in enumerate(sampler)]
    return EngineResult("sklearn", records, None, {}, seconds)
