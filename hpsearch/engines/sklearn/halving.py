"""Successive halving in the sklearn engine (`[sklearn] search = "halving"`).

scikit-learn's own HalvingRandomSearchCV with the wrapper's `epochs` as the resource: every
candidate trains `min_resources` epochs, the best 1/`factor` of them `factor` times as many,
and so on up to [train] epochs. A rung's fit is a fit like any other, keyed by its parameters
(epochs included) and checkpointed, so a resumed search retrains nothing that finished.

Records: one trial per candidate, in draw order. A candidate eliminated at a rung is
"pruned", scored at that rung; those that reach the last rung are "ok", scored there (the
best is among them, as sklearn's `best_index_`). Each keeps its rung history in `rungs`.
Rungs are numbered from 0, as sklearn's `iter`. This module loads scikit-learn only in
`search`, so that validating a study stays fast.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from hpsearch.engines.common import history_rows
from hpsearch.engines.sklearn.fits import (
    PREFIX,
    STEP,
    SearchEngine,
    canonical_candidate,
    fit_slots,
    fits_by_candidate,
    record_params,
)

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from hpsearch.engines.base import EngineContext
    from hpsearch.engines.sklearn.fitstore import FitStore
    from hpsearch.study.config import Study
    from hpsearch.study.trials import TrialRecord

RESOURCE = STEP + "epochs"  # the wrapper's epochs, as a pipeline parameter
Rung = tuple[int, int, float, float]  # (rung, epochs, mean score, std) in sklearn's sign


def first_rung(settings: Any, epochs: int) -> int:
    """Candidates drawn for the first rung: `n_candidates`, or for "exhaust" as many as let
    the last rung reach [train] epochs (scikit-learn's rule)."""
    n = settings.n_candidates
    return epochs // settings.min_resources if n == "exhaust" else int(n)


def search(
    engine: SearchEngine,
    ctx: EngineContext,
    pipeline: Pipeline,
    X: Any,
    y: Any,
    cv: Any,
    store: FitStore,
) -> tuple[list[TrialRecord], TrialRecord | None]:
    """Run the halving search: every candidate's record (reported as its last rung ends) and
    the best one (sklearn's choice among the last rung; None if none of it scored)."""
    import numpy as np

    from hpsearch.engines.sklearn.fitcache import (  # lazy: loads pandas, scikeras, SciPy, scikit-learn
        NanForFailedFits,
        UniqueHalvingRandomSearchCV,
    )
    from hpsearch.study.space import (
        sklearn_distributions,  # lazy: loads pandas, SciPy, scikit-learn
    )

    study, settings = ctx.study, ctx.settings
    search = UniqueHalvingRandomSearchCV(
        pipeline,
        sklearn_distributions(study.space, PREFIX, STEP),
        n_candidates=settings.n_candidates,
        factor=settings.factor,
        resource=RESOURCE,
        min_resources=settings.min_resources,
        max_resources=study.epochs,
        cv=cv,
        scoring=NanForFailedFits(engine.scoring(study)),
        refit=False,
        error_score=np.nan,
        return_train_score=False,
        n_jobs=None,  # fit_slots sets it, "auto" decided
        random_state=engine.random_state(study),
    )

    def records(
        results: dict[str, Any],
        indices: list[int],
        survived: bool,
        fits: dict[str, list] | None = None,
    ) -> list[TrialRecord]:
        fits = fits if fits is not None else fits_by_candidate(store, len(X), study)
        rungs = rungs_of(results, search)
        return [
            record_of(engine, study, i, search.candidates_[i], rungs[i], fits, survived)
            for i in indices
        ]

    def on_rung(results: dict[str, Any], indices: list[int], survived: bool) -> None:
        fits = fits_by_candidate(store, len(X), study)
        for record in records(results, sorted(indices), survived, fits):
            ctx.report(record, histories(engine, study, [record], fits))

    search.on_rung = on_rung
    tasks = first_rung(settings, study.epochs) * engine.folds(study)  # the widest rung's fits
    with fit_slots(
        settings, store.directory, X, y, tasks, ctx.chose, study.factory, study.epochs
    ) as n_jobs:
        search.n_jobs = n_jobs  # the cluster's threads with Dask: a rung's fits run at once
        search.fit(X, y)
    results = search.cv_results_
    last = max(results["iter"])
    reached = {i for i, rungs in rungs_of(results, search).items() if rungs[-1][0] == last}
    everyone = records(
        results, [i for i in range(len(search.candidates_)) if i not in reached], False
    ) + records(results, sorted(reached), True)
    everyone.sort(key=lambda r: int(r.trial))
    best = everyone[search.candidate_of(results["params"][search.best_index_])]
    return everyone, best if best.ok else None


def rungs_of(results: dict[str, Any], search: Any) -> dict[int, list[Rung]]:
    """Each evaluated candidate's rungs, in order, from the search's (cumulative) results."""
    rungs: dict[int, list[Rung]] = {}
    for row, params in enumerate(results["params"]):
        rungs.setdefault(search.candidate_of(params), []).append(
            (
                int(results["iter"][row]),
                int(results["n_resources"][row]),
                float(results["mean_test_score"][row]),
                float(results["std_test_score"][row]),
            )
        )
    return {i: sorted(r) for i, r in rungs.items()}


def record_of(
    engine: SearchEngine,
    study: Study,
    i: int,
    raw: dict[str, Any],
    rungs: list[Rung],
    fits: dict[str, list],
    survived: bool,
) -> TrialRecord:
    """Candidate i as a trial: scored at its last rung; "ok" if that was the search's last,
    else "pruned" (or "failed" where its fits failed)."""
    from hpsearch.study.trials import TrialRecord, trial_id  # lazy: loads pandas

    params = record_params(raw)
    epochs_at = {epochs for _, epochs, _, _ in rungs}
    mine = [
        f
        for f in fits.get(canonical_candidate(params, study), [])
        if not f["refit"] and f["params"]["epochs"] in epochs_at
    ]
    rung, epochs, mean, std = rungs[-1]
    sign = -1.0 if engine.scoring(study).startswith("neg_") else 1.0
    score = sign * mean
    if not math.isfinite(score):
        errors = [
            f["error"] for f in mine if f["status"] != "ok" and f["params"]["epochs"] == epochs
        ]
        status, error = "failed", "; ".join(dict.fromkeys(errors)) or "scoring failed"
    elif survived:
        status, error = "ok", ""
    else:
        status, error = "pruned", f"pruned after rung {rung} ({epochs} epoch{'s' * (epochs != 1)})"
    with_cv = engine.folds(study) > 1
    metric, direction = engine.metric(study)
    trained = [f["epochs"] for f in mine if f["status"] == "ok"]
    times = (
        {
            "started_at": min(f["started_at"] for f in mine),
            "finished_at": max(f.get("finished_at", "") for f in mine),
        }
        if mine
        else {}
    )
    return TrialRecord(
        engine=engine.name,
        trial=trial_id(i),
        status=status,
        params=params,
        metric=metric,
        direction=direction,
        val_score=score,
        cv_mean=score if with_cv else math.nan,
        cv_std=std if with_cv else math.nan,
        n_fits=len(mine) or 1,
        # Of all its fits, every rung's: epochs_run is their mean (x n_fits = the epochs it
        # trained, as the summary counts them), fit_seconds their sum.
        epochs_run=sum(trained) / len(trained) if trained else math.nan,
        fit_seconds=sum(f.get("fit_seconds", 0.0) for f in mine) if mine else math.nan,
        error=error,
        rungs=" ".join(f"{e}:{sign * m:.4f}" for _, e, m, _ in rungs),
        **times,
    )


def rung_epochs(record: TrialRecord) -> list[int]:
    """The epochs of each rung a trial reached, from its `rungs` ("1:0.7712 3:0.8120")."""
    return [int(part.split(":")[0]) for part in record.rungs.split()]


def histories(
    engine: SearchEngine, study: Study, records: list[TrialRecord], fits: dict[str, list]
) -> list[dict[str, Any]]:
    """Every rung's fits as history rows, named by rung ("r1", or "r1f0" with folds), then
    the refit of the best ("refit")."""
    folds = engine.folds(study)
    rows: list[dict[str, Any]] = []
    for record in records:
        mine = fits.get(canonical_candidate(record.params, study), [])
        for rung, epochs in enumerate(rung_epochs(record)):
            at = [f for f in mine if not f["refit"] and f["params"]["epochs"] == epochs]
            for fold, fit in enumerate(at):
                name = f"r{rung}" if folds == 1 else f"r{rung}f{fold}"
                rows += history_rows(engine.name, record.trial, name, fit.get("history"))
        for fit in (f for f in mine if f["refit"]):
            rows += history_rows(engine.name, record.trial, "refit", fit.get("history"))
    return rows
