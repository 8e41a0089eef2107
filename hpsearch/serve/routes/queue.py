"""The queue: submit a study, cancel a job, stop and resume a run, list the jobs.

A JobConflict raised here answers 409 and an HPSearchError (a bad study) 422, through the
app's handlers."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from hpsearch.rundir.folder import RUN
from hpsearch.serve import models, openapi, runs
from hpsearch.serve.openapi import documented
from hpsearch.serve.runfiles import read_json
from hpsearch.serve.service import ApiError, Served, typed_body
from hpsearch.serve.submit import check_submission

router = APIRouter(tags=["queue"])


@router.get("/api/jobs", responses=documented(list[models.Job]))
def api_jobs(svc: Served) -> JSONResponse:
    """The queue: every job, newest first."""
    return JSONResponse(svc.run_list()["jobs"])


@router.post(
    "/api/studies",
    status_code=201,
    responses=documented(models.JobReply, 413, 415, 422, ok=201),
    openapi_extra={"requestBody": {"required": True, "content": openapi.STUDY}},
)
async def api_submit(
    request: Request,
    svc: Served,
    filename: str = Query("study.toml", description="NAME.toml, as errors and the queue name it"),
) -> JSONResponse:
    """Queue a study: the body is the TOML text; 422 with `validate`'s one line if bad."""
    body = await typed_body(request, svc, "application/toml")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(422, f"{filename}: expected UTF-8 text, got bytes that are not") from None
    study = check_submission(
        text, filename, svc.results, svc.roots, svc.allow_cluster, svc.allow_factories
    )
    job = svc.store.submit(text, filename, study.name)
    svc.executor.wake()
    return JSONResponse({"job": job.public(svc.store.positions().get(job.id))}, status_code=201)


@router.post("/api/jobs/{job_id}/cancel", responses=documented(models.JobReply, 404, 409))
def api_cancel(job_id: str, svc: Served) -> JSONResponse:
    """Cancel a queued job (a running one is stopped through its run)."""
    try:
        job = svc.store.cancel(job_id)
    except KeyError:
        raise ApiError(404, f"no job {job_id}") from None
    return JSONResponse({"job": job.public()})


@router.post(
    "/api/runs/{study}/{run_id}/stop",
    status_code=202,
    responses=documented(models.JobReply, 404, 409, ok=202),
)
def api_stop(study: str, run_id: str, svc: Served) -> JSONResponse:
    """Stop the running study cleanly (as Ctrl-C would); it can be resumed."""
    path = svc.run_dir(study, run_id)
    job = svc.executor.stop_run(f"{path.parent.name}/{path.name}")
    return JSONResponse({"job": job.public()}, status_code=202)


@router.post(
    "/api/runs/{study}/{run_id}/resume",
    status_code=201,
    responses=documented(models.JobReply, 404, 409, ok=201),
)
def api_resume(study: str, run_id: str, svc: Served) -> JSONResponse:
    """Queue an interrupted run to finish (finished trials are kept)."""
    path = svc.run_dir(study, run_id)
    state = runs.run_summary(svc.results, path)["state"]
    if not runs.resumable(state, read_json(path / RUN)):
        raise ApiError(409, f"{study}/{run_id}: expected an interrupted run, found one {state}")
    job = svc.store.resume(f"{path.parent.name}/{path.name}")
    svc.executor.wake()
    return JSONResponse({"job": job.public(svc.store.positions().get(job.id))}, status_code=201)
