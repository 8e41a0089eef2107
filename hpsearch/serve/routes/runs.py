"""The runs API: the list, one run, its trials and histories, runs compared."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from hpsearch.serve import models, runs, stream
from hpsearch.serve.openapi import documented
from hpsearch.serve.search import Search
from hpsearch.serve.security import HEAD_ASKED
from hpsearch.serve.service import Served

router = APIRouter(tags=["runs"])
# A client polling (the pages follow pushed events): one that sends the ETag it holds gets a 304 if unchanged.
NOT_MODIFIED: dict[int | str, Any] = {
    304: {"description": "unchanged: If-None-Match holds this answer's ETag"}
}


def conditional(request: Request, found: runs.Encoded) -> Response:
    """The answer with its ETag, or 304 without a body when the client holds it already."""
    headers = {"ETag": found.etag}
    held = {
        tag.strip().removeprefix("W/")
        for tag in request.headers.get("if-none-match", "").split(",")
    }
    if found.etag in held or "*" in held:
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type="application/json", headers=headers)


@router.get("/api/runs", responses=documented(models.RunList, 422))
def api_runs(
    svc: Served,
    q: str = Query("", description="words found in the study, run id, tags or note (any case)"),
    state: str = Query("", description="running, queued, finished, interrupted or failed"),
    engine: str = Query("", description="runs of this engine"),
    tag: list[str] = Query([], description="runs with this tag (repeatable: all of them)"),
) -> JSONResponse:
    """Every run under the results folder (newest first), or those the query finds, and the
    queue's jobs."""
    return JSONResponse(svc.run_list(Search(q, state, engine, tuple(tag))))


@router.get(
    "/api/runs/{study}/{run_id}", responses={**documented(models.RunDetail, 404), **NOT_MODIFIED}
)
def api_run(study: str, run_id: str, request: Request, svc: Served) -> Response:
    """One run: its state, each engine's progress, summary.csv, its files."""
    return conditional(request, runs.encoded(svc.detail(svc.run_dir(study, run_id))))


@router.get(
    "/api/runs/{study}/{run_id}/trials",
    responses={**documented(models.Trials, 404), **NOT_MODIFIED},
)
def api_trials(study: str, run_id: str, request: Request, svc: Served) -> Response:
    """Every trial so far (trials.csv), with plotting fields."""
    # encoded once per change of trials.csv (runs.trials caches the bytes and their ETag)
    return conditional(request, runs.trials(svc.run_dir(study, run_id)))


@router.get(
    "/api/runs/{study}/{run_id}/histories",
    responses={**documented(models.Histories, 404), **NOT_MODIFIED},
)
def api_histories(study: str, run_id: str, request: Request, svc: Served) -> Response:
    """Per-epoch values of every fit (histories.csv, growing as each trial finishes)."""
    return conditional(request, runs.histories(svc.run_dir(study, run_id)))


@router.get(
    "/api/runs/{study}/{run_id}/importance",
    responses={**documented(models.Importance, 404), **NOT_MODIFIED},
)
def api_importance(study: str, run_id: str, request: Request, svc: Served) -> Response:
    """Which hyperparameters mattered, per engine (fANOVA over its finished trials)."""
    return conditional(request, runs.importance(svc.run_dir(study, run_id)))


EVENTS: dict[int | str, Any] = {
    200: {
        "description": "Server-Sent Events: detail, trials, histories and importance (each the "
        "JSON of its GET route) as they change, then end (the state) once the run is no longer "
        "queued or running. Last-Event-ID: only what changed since.",
        "content": {
            "text/event-stream": {
                "schema": {  # one event
                    "type": "object",
                    "properties": {
                        "event": {"enum": [*stream.KINDS, "end"]},
                        "id": {"type": "string", "description": "the ETags the page now holds"},
                        "data": {"type": "string", "description": "JSON"},
                    },
                    "required": ["event", "data"],
                }
            }
        },
    },
    **documented(None, 404),
}


@router.get("/api/runs/{study}/{run_id}/events", responses=EVENTS, response_class=Response)
async def api_events(study: str, run_id: str, request: Request, svc: Served) -> Response:
    """The run's live updates, pushed: what the page would poll for, sent once per change."""
    path = svc.run_dir(study, run_id)
    if request.scope.get(HEAD_ASKED):  # the headers only: a live run's stream would not end
        return Response(media_type="text/event-stream")
    events = svc.streams.follow(
        path,
        stream.reader(lambda: svc.detail(path), path),
        request.headers.get("last-event-id", ""),
    )
    # no buffering in a proxy between: an event is useful now or not at all
    return StreamingResponse(
        events, media_type="text/event-stream", headers={"X-Accel-Buffering": "no"}
    )


@router.get("/api/compare", responses=documented(models.Compare, 404, 422))
def api_compare(
    svc: Served,
    run: list[str] = Query(..., description="run ids study/run_id"),
) -> JSONResponse:
    """Runs side by side: what `hpsearch compare` prints, and best so far per engine."""
    return JSONResponse(runs.compare(svc.results, [svc.compared(r) for r in run]))
