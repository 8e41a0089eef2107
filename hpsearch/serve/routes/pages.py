"""Pages and files: the runs, a run, runs compared, the /api page, a run's downloads and the
static files (plotly.min.js from the plotly package)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from hpsearch.serve import openapi
from hpsearch.serve.runfiles import NotFound, download_name, download_path
from hpsearch.serve.service import ApiError, Served, Service

STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
MEDIA = {
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".toml": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}

router = APIRouter(include_in_schema=False)


def _plotly_js() -> Path:
    import plotly  # lazy: a large package, needed only when a page first asks for its script

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


def page(svc: Service, name: str, title: str, subtitle: str = "", **context: Any) -> HTMLResponse:
    context.update(title=title, subtitle=subtitle, static_url="/static")
    return HTMLResponse(svc.render(name, **context))


@router.get("/api")
def api_page(request: Request, svc: Served) -> HTMLResponse:
    # the OpenAPI document as a page, rendered here: no CDN, no script (the pages' CSP)
    doc = request.app.openapi()
    return page(
        svc,
        "api.html",
        "hpsearch API",
        f"{doc['info']['title']} {doc['info']['version']} · the same as /openapi.json",
        **openapi.api_page(doc),
    )


@router.get("/")
def runs_page(svc: Served) -> HTMLResponse:
    listing = svc.run_list()
    results = str(svc.results)
    data_dir = str(svc.data_dir) if svc.data_dir else None  # the "Your data" panel's folder
    return page(
        svc,
        "runs.html",
        "hpsearch runs",
        results,
        results_dir=results,
        data_dir=data_dir,
        **listing,
    )


@router.get("/runs/{study}/{run_id}")
def run_page(study: str, run_id: str, svc: Served) -> HTMLResponse:
    run = svc.detail(svc.run_dir(study, run_id))
    return page(
        svc,
        "run.html",
        f"{run['study']} / {run['run_id']}",
        f"dataset {run['dataset']} · engines {', '.join(run['engines'])}",
        run=run,
    )


@router.get("/compare")
def compare_page(svc: Served, run: list[str] = Query(default=[])) -> HTMLResponse:
    ids = [f"{p.parent.name}/{p.name}" for p in map(svc.compared, run)]
    return page(svc, "compare.html", f"Comparison of {len(ids)} runs", ", ".join(ids), ids=ids)


@router.get("/runs/{study}/{run_id}/files/{name:path}")
def download(study: str, run_id: str, name: str, svc: Served) -> Response:
    path = svc.run_dir(study, run_id)
    try:
        file = download_path(path, name)
    except NotFound:
        raise ApiError(404, f"no file {name} in run {study}/{run_id}") from None
    media = MEDIA.get(file.suffix, "application/octet-stream")
    inline = file.suffix == ".html"  # the report opens in the browser, the rest download
    return FileResponse(
        file, media_type=media, filename=None if inline else download_name(path, name)
    )


@router.get("/static/{name}")
def static_file(name: str, svc: Served) -> Response:
    if name == "plotly.min.js":
        return FileResponse(_plotly_js(), media_type=STATIC_TYPES[".js"])
    if name not in svc.static:
        raise ApiError(404, f"not found: /static/{name}")
    return FileResponse(svc.static[name], media_type=STATIC_TYPES[svc.static[name].suffix])
