"""The data folder (`serve --data-dir`): its files listed and described, and a file uploaded
into it, for a study's `[data]` (the runs page's "Your data" panel makes that study)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from hpsearch.serve import datafiles, models, openapi
from hpsearch.serve.models import Error
from hpsearch.serve.openapi import documented
from hpsearch.serve.service import ApiError, Served

router = APIRouter(tags=["data"])

# What a page's fetch sends with a file. Never what a form of another site can send without a
# preflight (application/x-www-form-urlencoded, multipart/form-data, text/plain).
UPLOAD_TYPES = {
    "application/octet-stream",
    "text/csv",
    "application/vnd.apache.parquet",
    "application/x-parquet",
    "application/zip",
    "application/x-npz",
}


@router.get("/api/data", responses=documented(models.DataFiles, 404))
async def api_data(svc: Served) -> JSONResponse:
    """The data folder's CSV, Parquet and NPZ files: rows, columns and their kinds, a preview
    (an unreadable file with its `error`); and the engines a study of them may name."""
    folder = svc.upload_folder()
    # in a worker thread: a file read for the first time may take seconds
    files = await run_in_threadpool(datafiles.list_files, folder)
    return JSONResponse(
        {
            "folder": str(folder),
            "max_upload": svc.guard.max_upload,
            "files": files,
            "engines": svc.engine_choices(),
        }
    )


@router.post(
    "/api/data",
    status_code=201,
    responses={
        **documented(models.DataFile, 404, 409, 415, 422, ok=201),
        413: {"model": Error, "description": "a file over the server's --max-upload"},
    },
    openapi_extra={"requestBody": {"required": True, "content": openapi.UPLOAD}},
)
async def api_upload(
    request: Request,
    svc: Served,
    filename: str = Query(..., description="NAME.csv, NAME.parquet or NAME.npz"),
    replace: bool = Query(False, description="replace a file of that name"),
) -> JSONResponse:
    """Upload a data file (the body is its bytes) into the data folder: 409 if the name is
    taken (unless `replace`), 422 if it does not read as its format; nothing is kept then."""
    folder = svc.upload_folder()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()  # RFC 9110
    if kind not in UPLOAD_TYPES:
        raise ApiError(
            415, f"Content-Type: expected application/octet-stream, got {kind or 'none'!r}"
        )
    try:
        name = datafiles.check_name(filename)
    except ValueError as exc:
        raise ApiError(422, f"filename: expected {exc}") from None
    try:
        info = await datafiles.save_upload(
            request.stream(), folder, name, svc.guard.max_upload, replace
        )
    except datafiles.TooLarge as exc:
        raise ApiError(413, str(exc)) from None
    except FileExistsError:
        raise ApiError(
            409, f"{name}: already in the data folder (replace=true replaces it)"
        ) from None
    except datafiles.BadFile as exc:
        raise ApiError(422, f"{name}: {exc}") from None
    return JSONResponse(info, status_code=201)
