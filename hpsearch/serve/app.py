"""The web service: pages, the JSON API and downloads over one results folder.

`create_app(results_dir, ...)` builds the FastAPI application; `hpsearch serve` runs it
with uvicorn. Reading goes through hpsearch/serve/runs.py, the queue through jobs.py and
executor.py, the access rules through security.py.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from hpsearch import templating
from hpsearch.errors import HPSearchError
from hpsearch.serve import models, openapi
from hpsearch.serve import runfiles as files
from hpsearch.serve import runs as data
from hpsearch.serve.executor import Executor
from hpsearch.serve.jobs import JobConflict, JobStore
from hpsearch.serve.security import BodyTooLarge, Guard, GuardMiddleware, error, read_body
from hpsearch.serve.submit import check_submission

STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
MEDIA = {
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".toml": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}


def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


def create_app(
    results_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    data_roots: list[Path] | None = None,
    max_body: int | None = None,
    allow_cluster: bool = False,
    run_queue: bool = True,
    executor_args: tuple[str, ...] = (),
) -> FastAPI:
    """The application over `results_dir`; `run_queue=False` leaves queued studies alone
    (tests of the API alone); `allow_cluster` lets submitted studies use cluster settings."""
    from hpsearch.serve.security import MAX_BODY, is_loopback

    results = Path(results_dir).resolve()
    results.mkdir(parents=True, exist_ok=True)
    env_data = os.environ.get("HPSEARCH_DATA_DIR")
    roots = [
        Path(p).resolve()
        for p in (data_roots if data_roots is not None else ([env_data] if env_data else []))
    ]
    guard = Guard(loopback=is_loopback(host), token=token, max_body=max_body or MAX_BODY, port=port)
    store = JobStore(results)
    executor = Executor(store, results, extra_args=executor_args)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if run_queue:
            executor.start()
        yield
        if run_queue:
            executor.shutdown()

    app = FastAPI(
        title="hpsearch",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,  # their pages load scripts from a CDN
        description=openapi.DESCRIPTION,
    )
    app.state.results, app.state.store, app.state.executor = results, store, executor
    app.add_middleware(GuardMiddleware, guard=guard)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})  # 405's Allow, 401's WWW-Authenticate
        detail = exc.detail
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"not found: {request.url.path}"
        elif exc.status_code == 405:  # Starlette's Allow lists a set: sorted, the same each time
            methods = headers.get("Allow", "").replace(" ", "").split(",")
            allow = headers["Allow"] = ", ".join(sorted(methods))
            detail = f"method: expected {allow} on {request.url.path}, got {request.method}"
        return error(exc.status_code, str(detail), **headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error(422, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(HPSearchError)
    async def bad_input(request: Request, exc: HPSearchError) -> JSONResponse:
        return error(422, str(exc))  # e.g. comparing a run that has no table yet

    # A crash's 500 is answered by GuardMiddleware, inside FastAPI's handler for Exception,
    # so that it carries the security headers too.

    def jobs_by_run() -> dict[str, dict[str, Any]]:
        positions = store.positions()
        return {j.run: j.public(positions.get(j.id)) for j in store.all() if j.run}

    def run_dir(study: str, run_id: str) -> Path:
        try:
            return files.run_path(results, study, run_id)
        except files.NotFound:
            raise StarletteHTTPException(404, f"no run {study}/{run_id} in {results}") from None

    def detail(path: Path) -> dict[str, Any]:
        run = f"{path.parent.name}/{path.name}"
        current = executor.current()
        return data.run_detail(
            results,
            path,
            jobs_by_run().get(run),
            can_stop=current is not None and current.run == run,
        )

    def run_list() -> dict[str, Any]:
        jobs = jobs_by_run()
        positions = store.positions()
        listed = [
            data.run_summary(results, p, jobs.get(f"{p.parent.name}/{p.name}"))
            for p in files.list_runs(results)
        ]
        return {
            "runs": listed,
            "jobs": [j.public(positions.get(j.id)) for j in reversed(store.all())],
        }

    # --- JSON API ----------------------------------------------------------------------------

    @app.get("/api/runs", responses=openapi.documented(models.RunList), tags=["runs"])
    def api_runs() -> JSONResponse:
        """Every run under the results folder (newest first) and the queue's jobs."""
        return JSONResponse(run_list())

    @app.get(
        "/api/runs/{study}/{run_id}",
        responses=openapi.documented(models.RunDetail, 404),
        tags=["runs"],
    )
    def api_run(study: str, run_id: str) -> JSONResponse:
        """One run: its state, each engine's progress, summary.csv, its files."""
        return JSONResponse(detail(run_dir(study, run_id)))

    @app.get(
        "/api/runs/{study}/{run_id}/trials",
        responses=openapi.documented(models.Trials, 404),
        tags=["runs"],
    )
    def api_trials(study: str, run_id: str) -> Response:
        """Every trial so far (trials.csv), with plotting fields."""
        return Response(data.trials(run_dir(study, run_id)), media_type="application/json")

    @app.get(
        "/api/runs/{study}/{run_id}/histories",
        responses=openapi.documented(models.Histories, 404),
        tags=["runs"],
    )
    def api_histories(study: str, run_id: str) -> Response:
        """Per-epoch values of every fit (histories.csv, rewritten as each trial finishes)."""
        return Response(data.histories(run_dir(study, run_id)), media_type="application/json")

    @app.get("/api/compare", responses=openapi.documented(models.Compare, 404, 422), tags=["runs"])
    def api_compare(
        run: list[str] = Query(..., description="run ids study/run_id"),
    ) -> JSONResponse:
        """Runs side by side: what `hpsearch compare` prints, and best so far per engine."""
        return JSONResponse(data.compare(results, [_compared(r) for r in run]))

    def _compared(run: str) -> Path:
        study, _, run_id = run.partition("/")
        return run_dir(study, run_id)

    @app.get("/api/jobs", responses=openapi.documented(list[models.Job]), tags=["queue"])
    def api_jobs() -> JSONResponse:
        """The queue: every job, newest first."""
        return JSONResponse(run_list()["jobs"])

    @app.post(
        "/api/studies",
        status_code=201,
        responses=openapi.documented(models.JobReply, 413, 415, 422, ok=201),
        tags=["queue"],
        openapi_extra={"requestBody": {"required": True, "content": openapi.STUDY}},
    )
    async def api_submit(
        request: Request,
        filename: str = Query(
            "study.toml", description="NAME.toml, as errors and the queue name it"
        ),
    ) -> JSONResponse:
        """Queue a study: the body is the TOML text; 422 with `validate`'s one line if bad."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()  # RFC 9110
        if kind != "application/toml":  # not a form another site could post (no preflight)
            return error(415, f"Content-Type: expected application/toml, got {kind or 'none'!r}")
        try:
            body = await read_body(request, guard.max_body)
        except BodyTooLarge as exc:
            return error(413, str(exc))
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            return error(422, f"{filename}: expected UTF-8 text, got bytes that are not")
        try:
            study = check_submission(text, filename, results, roots, allow_cluster)
        except HPSearchError as exc:
            return error(422, str(exc))
        job = store.submit(text, filename, study.name)
        executor.wake()
        return JSONResponse({"job": job.public(store.positions().get(job.id))}, status_code=201)

    @app.post(
        "/api/jobs/{job_id}/cancel",
        responses=openapi.documented(models.JobReply, 404, 409),
        tags=["queue"],
    )
    def api_cancel(job_id: str) -> JSONResponse:
        """Cancel a queued job (a running one is stopped through its run)."""
        try:
            return JSONResponse({"job": store.cancel(job_id).public()})
        except KeyError:
            return error(404, f"no job {job_id}")
        except JobConflict as exc:
            return error(409, str(exc))

    @app.post(
        "/api/runs/{study}/{run_id}/stop",
        status_code=202,
        responses=openapi.documented(models.JobReply, 404, 409, ok=202),
        tags=["queue"],
    )
    def api_stop(study: str, run_id: str) -> JSONResponse:
        """Stop the running study cleanly (as Ctrl-C would); it can be resumed."""
        path = run_dir(study, run_id)
        try:
            job = executor.stop_run(f"{path.parent.name}/{path.name}")
        except JobConflict as exc:
            return error(409, str(exc))
        return JSONResponse({"job": job.public()}, status_code=202)

    @app.post(
        "/api/runs/{study}/{run_id}/resume",
        status_code=201,
        responses=openapi.documented(models.JobReply, 404, 409, ok=201),
        tags=["queue"],
    )
    def api_resume(study: str, run_id: str) -> JSONResponse:
        """Queue an interrupted run to finish (finished trials are kept)."""
        path = run_dir(study, run_id)
        state = data.run_summary(results, path)["state"]
        if not data.resumable(state, files.read_json(path / "run.json")):
            return error(409, f"{study}/{run_id}: expected an interrupted run, found one {state}")
        try:
            job = store.resume(f"{path.parent.name}/{path.name}")
        except JobConflict as exc:
            return error(409, str(exc))
        executor.wake()
        return JSONResponse({"job": job.public(store.positions().get(job.id))}, status_code=201)

    # --- pages and files -----------------------------------------------------------------------

    rendered = files.Cache(size=64)

    def page(name: str, title: str, subtitle: str = "", **context: Any) -> HTMLResponse:
        # readers polling a running study's page get the same HTML until its data change
        context.update(title=title, subtitle=subtitle, static_url="/static")
        key = (name, json.dumps(context, sort_keys=True, default=str))
        return HTMLResponse(rendered.get(key, (), lambda: templating.render(name, **context)))

    @app.get("/api", include_in_schema=False)
    def api_page() -> HTMLResponse:
        # the OpenAPI document as a page, rendered here: no CDN, no script (the pages' CSP)
        doc = app.openapi()
        return page(
            "api.html",
            "hpsearch API",
            f"{doc['info']['title']} {doc['info']['version']} · the same as /openapi.json",
            **openapi.api_page(doc),
        )

    @app.get("/", include_in_schema=False)
    def runs_page() -> HTMLResponse:
        listing = run_list()
        return page("runs.html", "hpsearch runs", str(results), results_dir=str(results), **listing)

    @app.get("/runs/{study}/{run_id}", include_in_schema=False)
    def run_page(study: str, run_id: str) -> HTMLResponse:
        run = detail(run_dir(study, run_id))
        return page(
            "run.html",
            f"{run['study']} / {run['run_id']}",
            f"dataset {run['dataset']} · engines {', '.join(run['engines'])}",
            run=run,
        )

    @app.get("/compare", include_in_schema=False)
    def compare_page(run: list[str] = Query(default=[])) -> HTMLResponse:
        ids = [f"{p.parent.name}/{p.name}" for p in map(_compared, run)]
        return page("compare.html", f"Comparison of {len(ids)} runs", ", ".join(ids), ids=ids)

    @app.get("/runs/{study}/{run_id}/files/{name:path}", include_in_schema=False)
    def download(study: str, run_id: str, name: str) -> Response:
        path = run_dir(study, run_id)
        try:
            file = files.download_path(path, name)
        except files.NotFound:
            return error(404, f"no file {name} in run {study}/{run_id}")
        media = MEDIA.get(file.suffix, "application/octet-stream")
        inline = file.suffix == ".html"
        return FileResponse(
            file, media_type=media, filename=None if inline else files.download_name(path, name)
        )

    static = {p.name: p for p in templating.STATIC.iterdir() if p.suffix in STATIC_TYPES}

    @app.get("/static/{name}", include_in_schema=False)
    def static_file(name: str) -> Response:
        if name == "plotly.min.js":
            return FileResponse(_plotly_js(), media_type=STATIC_TYPES[".js"])
        if name not in static:
            return error(404, f"not found: /static/{name}")
        return FileResponse(static[name], media_type=STATIC_TYPES[static[name].suffix])

    # The document is built here, once, before every GET also answers HEAD (FastAPI's routes
    # do not, Starlette's do): it lists each operation once, not a HEAD twin of each GET.
    openapi.finish(app.openapi())
    for route in app.routes:
        if isinstance(route, APIRoute) and route.methods and "GET" in route.methods:
            route.methods.add("HEAD")
    return app
