"""`search = "random"`: UniqueRandomizedSearchCV over the pipeline, each candidate reported as
its folds finish; its records and histories read back from sklearn's results and the fit store."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from hpsearch.engines.base import EngineContext
from hpsearch.engines.common import history_rows
from hpsearch.engines.sklearn.fits import (
    PREFIX,
    STEP,
    FitIndex,
    SearchEngine,
    canonical_candidate,
    fit_slots,
    fits_by_candidate,
    n_workers,
    record_params,
)
from hpsearch.study.trials import TrialRecord, best_trial, trial_id

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from hpsearch.engines.sklearn.fitstore import FitStore
    from hpsearch.study.config import Study
    from hpsearch.study.trials import TrialRecord


def search(
    engine: SearchEngine,
    ctx: EngineContext,
    pipeline: Pipeline,
    X: Any,
    y: Any,
    cv: Any,
    store: FitStore,
) -> tuple[list[TrialRecord], TrialRecord | None]:
    """UniqueRandomizedSearchCV: every candidate's record (reported as its folds finish)
    and the best one."""
    import numpy as np

    from hpsearch.engines.sklearn.fitcache import (
        NanForFailedFits,
        UniqueRandomizedSearchCV,
        epochs_run,
    )  # lazy: loads scikeras, SciPy, scikit-learn
    from hpsearch.study.space import sklearn_distributions  # lazy: loads SciPy, scikit-learn

    study, settings = ctx.study, ctx.settings
    search = UniqueRandomizedSearchCV(
        pipeline,
        sklearn_distributions(study.space, PREFIX, STEP),
        n_iter=settings.n_iter,
        cv=cv,
        scoring={"score": NanForFailedFits(engine.scoring(study)), "epochs": epochs_run},
        refit=False,
        n_jobs=None,  # fit_slots sets it, "auto" decided
        error_score=np.nan,
        random_state=engine.random_state(study),
    )

    index = FitIndex(store, len(X), study)

    def on_batch(results: dict[str, Any], indices: range) -> None:
        fits = index()
        for i in indices:
            record = record_from(engine, study, i, results["params"][i], fits, results)
            ctx.report(record, histories(engine, study, [record], fits))

    search.on_batch = on_batch
    tasks = settings.n_iter * engine.folds(study)  # fits at a time, when batches have grown
    with fit_slots(
        settings, store.directory, X, y, tasks, ctx.chose, study.factory, study.epochs
    ) as n_jobs:
        search.n_jobs = n_jobs  # "auto" decided; the cluster's threads with Dask
        # Enough candidates per batch (x folds) to keep every worker busy; one when
        # sequential, so that each trial is reported the moment its folds finish. A batch
        # ends when its slowest fit does: on a cluster, two rounds of fits per batch
        # halve those waits (reports come a batch at a time).
        rounds = 2 if settings.backend == "dask" else 1
        search.batch = max(1, rounds * -(-n_workers(search.n_jobs) // engine.folds(study)))
        search.fit(X, y)
    fits = fits_by_candidate(store, len(X), study)
    records = [
        record_from(engine, study, i, p, fits, search.cv_results_)
        for i, p in enumerate(search.cv_results_["params"])
    ]
    return records, best_trial(records)


def histories(
    engine: SearchEngine, study: Study, records: list[TrialRecord], fits: dict[str, list]
) -> list[dict[str, Any]]:
    """Each candidate's fold fits as history rows ("0", "1", ...), its refit as "refit"."""
    rows: list[dict[str, Any]] = []
    for record in records:
        for fold, fit in enumerate(fits.get(canonical_candidate(record.params, study), [])):
            name = "refit" if fit["refit"] else str(fold)
            rows += history_rows(engine.name, record.trial, name, fit.get("history"))
    return rows


def record_from(
    engine: SearchEngine,
    study: Study,
    i: int,
    raw: dict[str, Any],
    fits: dict[str, list],
    res: dict[str, Any],
) -> TrialRecord:
    """Candidate i as a trial: scores from sklearn's results, times and failure reasons from
    its fold fits' records (its refit, if any, left out)."""

    params = record_params(raw)
    folds = [f for f in fits.get(canonical_candidate(params, study), []) if not f["refit"]]
    metric, direction = engine.metric(study)
    sign = -1.0 if engine.scoring(study).startswith("neg_") else 1.0
    mean = sign * float(res["mean_test_score"][i])
    ok = math.isfinite(mean)
    with_cv = engine.folds(study) > 1
    errors = list(dict.fromkeys(f["error"] for f in folds if f["status"] != "ok"))
    times = (
        {
            "started_at": min(f["started_at"] for f in folds),
            "finished_at": max(f.get("finished_at", "") for f in folds),
        }
        if folds
        else {}
    )
    epochs = float(res["mean_test_epochs"][i])
    return TrialRecord(
        engine=engine.name,
        trial=trial_id(i),
        status="ok" if ok else "failed",
        params=params,
        metric=metric,
        direction=direction,
        val_score=mean,
        cv_mean=mean if with_cv else math.nan,
        cv_std=float(res["std_test_score"][i]) if with_cv else math.nan,
        n_fits=len(folds) or 1,
        epochs_run=epochs if math.isfinite(epochs) else math.nan,
        fit_seconds=sum(f.get("fit_seconds", 0.0) for f in folds) if folds else math.nan,
        error="" if ok else ("; ".join(errors) or "scoring failed"),
        **times,
    )
