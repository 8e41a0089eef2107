"""scikit-learn's RandomizedSearchCV over the scikeras wrappers, every fit checkpointed."""
from __future__ import annotations

import functools
import json
import math
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np
from sklearn.exceptions import FitFailedWarning
from sklearn.metrics import get_scorer
from sklearn.model_selection import PredefinedSplit, RandomizedSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from hpsearch.checkpoint import FitStore, canonical
from hpsearch.config import Study
from hpsearch.data import Dataset
from hpsearch.engines.callbacks import training_callbacks
from hpsearch.engines.common import EngineResult, history_rows, test_scores
from hpsearch.files import plain
from hpsearch.engines.fitcache import CheckpointedClassifier, CheckpointedRegressor
from hpsearch.model import build_model
from hpsearch.space import sklearn_distributions, unique_samples
from hpsearch.trials import TrialRecord, best_trial

STEP = "model__"  # the pipeline step holding the wrapper
PREFIX = STEP + "model__"  # ... then scikeras's routing to build_model


@functools.wraps(build_model)  # same signature, so scikeras routes only build_model's arguments
def fresh_build_model(*args: Any, **kwargs: Any) -> keras.Model:
    """`build_model` after releasing the previous fit's Keras state (names, graphs, memory)."""
    keras.backend.clear_session()
    return build_model(*args, **kwargs)


def epochs_run(estimator: Pipeline, X: Any, y: Any) -> float:
    """A 'scorer' that reports how many epochs the fold's fit ran (early stopping shows here)."""
    return float(len(estimator[-1].history_["loss"]))


class RecordingScorer:
    """Wraps the study's scorer and files each fold's score with its fit (for live progress)."""

    def __init__(self, scoring: str, store: FitStore) -> None:
        self.scorer, self.store = get_scorer(scoring), store

    def __call__(self, estimator: Pipeline, X: Any, y: Any) -> float:
        score = self.scorer(estimator, X, y)
        key = getattr(estimator[-1], "fit_key_", None)
        if key:
            self.store.annotate(key, "score.json", {"score": float(score)})
        return score


class UniqueRandomizedSearchCV(RandomizedSearchCV):
    """RandomizedSearchCV without repeated draws (a repeat would only re-score cached fits).

    The one change is sklearn's own seam, `_run_search`: the same seed gives the same
    candidates in the same order, so a resumed search finds its finished fits.
    """

    def _run_search(self, evaluate_candidates: Callable) -> None:
        evaluate_candidates(unique_samples(self.param_distributions, self.n_iter, self.random_state))


def candidates(study: Study) -> list[dict[str, Any]]:
    return unique_samples(sklearn_distributions(study.space, PREFIX), study.sklearn.n_iter,
                          study.sklearn_random_state)


def watch(study: Study, workdir: Path) -> tuple[int | None, Callable[[], tuple[int, float | None]]]:
    """Planned fits, and a poll giving (fits done, best fold score so far) from the fit store."""
    folds = 1 if study.sklearn.cv == "validation" else int(study.sklearn.cv)
    fits = workdir / "fits"

    def poll() -> tuple[int, float | None]:
        done = sum(1 for _ in fits.glob("[!.]*/record.json"))
        scores = []
        for path in fits.glob("[!.]*/score.json"):
            try:
                scores.append(json.loads(path.read_text())["score"])
            except (OSError, ValueError, KeyError):
                continue
        finite = [s for s in scores if math.isfinite(s)]
        return done, max(finite) if finite else None

    return len(candidates(study)) * folds + 1, poll


def search_pipeline(study: Study, checkpoint_dir: Path | None = None, verbose: int = 0) -> Pipeline:
    """The estimator searched: [scaler for regression] + scikeras wrapper around build_model."""
    settings = study.sklearn
    wrapper = CheckpointedClassifier if study.task == "classification" else CheckpointedRegressor
    fit_options: dict[str, Any] = {}
    if settings.patience > 0:
        fit_options["validation_split"] = settings.validation_fraction
    model = wrapper(model=fresh_build_model, epochs=study.epochs, batch_size=study.batch_size,
                    verbose=verbose, random_state=study.seed,
                    callbacks=training_callbacks(settings.patience),
                    checkpoint_dir=str(checkpoint_dir) if checkpoint_dir else None, **fit_options)
    steps = [("scale", StandardScaler())] if study.task == "regression" else []
    return Pipeline(steps + [("model", model)])


def run_sklearn(study: Study, data: Dataset, workdir: Path, verbose: int = 0) -> EngineResult:
    """Search over train+validation: k folds, or the fixed validation split when cv = 'validation'.

    The result is a real fitted RandomizedSearchCV (`cv_results_`, `best_estimator_`); if the
    final refit fails, the trials still stand and the failure is reported instead of a test score.
    """
    settings, started = study.sklearn, time.perf_counter()
    X = np.concatenate([data.x_train, data.x_val])
    y = np.concatenate([data.y_train, data.y_val])
    if settings.cv == "validation":
        cv: Any = PredefinedSplit(np.r_[np.full(len(data.x_train), -1), np.zeros(len(data.x_val))])
    else:
        cv = settings.cv  # StratifiedKFold for classifiers: our wrappers carry the right tags
    store = FitStore(workdir / "fits")
    store.clean()
    search = UniqueRandomizedSearchCV(
        search_pipeline(study, store.directory, verbose), sklearn_distributions(study.space, PREFIX),
        n_iter=settings.n_iter, cv=cv,
        scoring={"score": RecordingScorer(study.scoring, store), "epochs": epochs_run},
        refit="score", n_jobs=settings.n_jobs, error_score=np.nan,
        random_state=study.sklearn_random_state,
    )
    error = ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitFailedWarning)  # failures are in the fit records
        try:
            search.fit(X, y)
        except Exception as exc:
            if not any(f["status"] == "ok" for f in store.records()):
                fits = _fits_by_candidate(store, len(X))  # every fit failed: sklearn kept no table
                records = [_record(study, i, p, fits) for i, p in enumerate(candidates(study))]
                return EngineResult("sklearn", records, None, {}, time.perf_counter() - started)
            # The refit failed (sklearn builds cv_results_ only after it): score again without
            # it; every CV fit is in the store, so nothing is retrained.
            error = f"refit of the best candidate failed: {type(exc).__name__}: {exc}"[:300]
            search.set_params(refit=False)
            search.fit(X, y)
    fits = _fits_by_candidate(store, len(X))
    records = [_record(study, i, p, fits, search.cv_results_, settings.cv != "validation")
               for i, p in enumerate(search.cv_results_["params"])]
    best = best_trial(records)
    test, histories = {}, []
    if best is not None and not error:
        test = test_scores(study.task, data.y_test, search.best_estimator_.predict(data.x_test))
    for record in records:
        for fold, fit in enumerate(fits.get(_candidate_key(record.params), [])):
            name = "refit" if fit["refit"] else str(fold)
            histories += history_rows("sklearn", record.trial, name, fit.get("history"))
    keras.backend.clear_session()
    return EngineResult("sklearn", records, best, test, time.perf_counter() - started, histories,
                        error)


def _candidate_key(params: dict[str, Any]) -> str:
    return canonical({f"model__{k}": v for k, v in params.items()})


def _fits_by_candidate(store: FitStore, n_all: int) -> dict[str, list[dict[str, Any]]]:
    """Fit records grouped by candidate (fold fits in start order, the refit last)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for fit in store.records():
        model_params = {k: v for k, v in fit["params"].items() if k.startswith("model__")}
        groups.setdefault(canonical(model_params), []).append(fit)
    for fits in groups.values():
        for fit in fits:
            fit["refit"] = fit["n_samples"] == n_all  # CV folds always hold fewer rows
        fits.sort(key=lambda f: (f["refit"], f["started"]))
    return groups


def _record(study: Study, i: int, raw: dict[str, Any], fits: dict[str, list],
            res: dict[str, Any] | None = None, with_cv: bool = False) -> TrialRecord:
    """Candidate i as a trial: scores from cv_results_ (None when every fit failed), times
    and failure reasons from its fold fits' records (its refit, if any, left out)."""
    params = {k.removeprefix(PREFIX): plain(v) for k, v in raw.items()}
    folds = [f for f in fits.get(_candidate_key(params), []) if not f["refit"]]
    mean = float(res["mean_test_score"][i]) if res is not None else math.nan
    ok = math.isfinite(mean)
    errors = list(dict.fromkeys(f["error"] for f in folds if f["status"] != "ok"))
    times = {"started_at": min(f["started_at"] for f in folds),
             "finished_at": max(f.get("finished_at", "") for f in folds)} if folds else {}
    return TrialRecord(
        engine="sklearn", trial=f"{i:03d}", status="ok" if ok else "failed", params=params,
        metric=study.scoring, val_score=mean, cv_mean=mean if with_cv else math.nan,
        cv_std=float(res["std_test_score"][i]) if with_cv and res is not None else math.nan,
        n_fits=len(folds) or 1,
        epochs_run=float(res["mean_test_epochs"][i]) if res is not None else math.nan,
        fit_seconds=sum(f.get("fit_seconds", 0.0) for f in folds) if folds else math.nan,
        error="" if ok else ("; ".join(errors) or "scoring failed"), **times,
    )
