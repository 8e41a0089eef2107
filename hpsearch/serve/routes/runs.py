"""The runs API: the list, one run, its trials and histories, runs compared."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from hpsearch.serve import models, runs
from hpsearch.serve.openapi import documented
from hpsearch.serve.service import Served

router = APIRouter(tags=["runs"])


@router.get("/api/runs", responses=documented(models.RunList))
def api_runs(svc: Served) -> JSONResponse:
    """Every run under the results folder (newest first) and the queue's jobs."""
    return JSONResponse(svc.run_list())


@router.get("/api/runs/{study}/{run_id}", responses=documented(models.RunDetail, 404))
def api_run(study: str, run_id: str, svc: Served) -> JSONResponse:
    """One run: its state, each engine's progress, summary.csv, its files."""
    return JSONResponse(svc.detail(svc.run_dir(study, run_id)))


@router.get("/api/runs/{study}/{run_id}/trials", responses=documented(models.Trials, 404))
def api_trials(study: str, run_id: str, svc: Served) -> Response:
    """Every trial so far (trials.csv), with plotting fields."""
    # encoded once per change of trials.csv (runs.trials caches the bytes)
    return Response(runs.trials(svc.run_dir(study, run_id)), media_type="application/json")


@router.get("/api/runs/{study}/{run_id}/histories", responses=documented(models.Histories, 404))
def api_histories(study: str, run_id: str, svc: Served) -> Response:
    """Per-epoch values of every fit (histories.csv, rewritten as each trial finishes)."""
    return Response(runs.histories(svc.run_dir(study, run_id)), media_type="application/json")


@router.get("/api/runs/{study}/{run_id}/importance", responses=documented(models.Importance, 404))
def api_importance(study: str, run_id: str, svc: Served) -> Response:
    """Which hyperparameters mattered, per engine (fANOVA over its finished trials)."""
    return Response(runs.importance(svc.run_dir(study, run_id)), media_type="application/json")


@router.get("/api/compare", responses=documented(models.Compare, 404, 422))
def api_compare(
    svc: Served,
    run: list[str] = Query(..., description="run ids study/run_id"),
) -> JSONResponse:
    """Runs side by side: what `hpsearch compare` prints, and best so far per engine."""
    return JSONResponse(runs.compare(svc.results, [svc.compared(r) for r in run]))
