"""Managing runs: delete one to the trash, list and restore the trash, empty it; a run's tags
and note. Refusals answer 404 (no such run), 409 (running, or a name taken) and 422 (bad tags
or note), each one line."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from hpsearch.rundir.meta import MAX_NOTE, MAX_TAGS, TAG, write_meta
from hpsearch.serve import models, runs, trash
from hpsearch.serve.openapi import documented
from hpsearch.serve.runfiles import NotFound
from hpsearch.serve.service import ApiError, Served, typed_body

router = APIRouter(tags=["manage"])
LIVE = ("running", "queued")  # a run in these states keeps its folder
META_BODY = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {
                "tags": {
                    "type": "array",
                    "maxItems": MAX_TAGS,
                    "items": {"type": "string", "pattern": TAG.pattern.removesuffix(r"\Z") + "$"},
                },
                "note": {"type": "string", "maxLength": MAX_NOTE},
            },
            "additionalProperties": False,
        },
        "example": {"tags": ["baseline", "lr-sweep"], "note": "the one to beat"},
    }
}


@router.post("/api/runs/{study}/{run_id}/delete", responses=documented(models.Trashed, 404, 409))
def api_delete(study: str, run_id: str, svc: Served) -> JSONResponse:
    """Move a run that is not running or queued to the trash (restorable until emptied)."""
    path = svc.run_dir(study, run_id)
    run = f"{path.parent.name}/{path.name}"
    # the queue's lock: no resume of this run can be queued or started between look and move
    with svc.store.lock:
        state = runs.run_summary(svc.results, path, svc.jobs_by_run().get(run))["state"]
        current = svc.executor.current()
        if state in LIVE or (current is not None and current.run == run):
            raise ApiError(
                409, f"{run}: expected a run that is not running or queued, found one {state}"
            )
        try:
            trashed = trash.trash_run(svc.results, path, state)
        except trash.Taken as exc:
            raise ApiError(409, str(exc)) from None
    return JSONResponse({"trashed": trashed})


@router.get("/api/trash", responses=documented(models.TrashList))
def api_trash(svc: Served) -> JSONResponse:
    """The deleted runs, the last deleted first."""
    return JSONResponse({"runs": trash.listing(svc.results)})


@router.post("/api/trash/{study}/{run_id}/restore", responses=documented(models.Restored, 404, 409))
def api_restore(study: str, run_id: str, svc: Served) -> JSONResponse:
    """Move a deleted run back to its place; 409 if a run holds that name now."""
    try:
        path = trash.restore(svc.results, study, run_id)
    except NotFound:
        raise ApiError(404, f"no run {study}/{run_id} in the trash of {svc.results}") from None
    except trash.Taken as exc:
        raise ApiError(409, str(exc)) from None
    return JSONResponse({"run": runs.run_summary(svc.results, path)})


@router.post("/api/trash/empty", responses=documented(models.Emptied))
def api_empty_trash(svc: Served) -> JSONResponse:
    """Remove every deleted run for good."""
    return JSONResponse({"removed": trash.empty(svc.results)})


@router.put(
    "/api/runs/{study}/{run_id}/meta",
    responses=documented(models.RunMeta, 404, 413, 415, 422),
    openapi_extra={"requestBody": {"required": True, "content": META_BODY}},
)
async def api_meta(study: str, run_id: str, request: Request, svc: Served) -> JSONResponse:
    """Set a run's tags and note (either left out stays as it was); a running run too."""
    path = svc.run_dir(study, run_id)
    body = await typed_body(request, svc, "application/json")
    try:
        given = json.loads(body)
    except ValueError:  # UnicodeDecodeError too
        raise ApiError(
            422, "body: expected a JSON object with tags and/or note, got no JSON"
        ) from None
    meta = write_meta(path, given)  # a bad field: InputError, 422 through the app's handler
    return JSONResponse({"run": f"{path.parent.name}/{path.name}", **meta})
