"""The web service: pages, the JSON API and downloads over one results folder.

`create_app(results_dir, ...)` wires the application together; `hpsearch serve` runs it with
uvicorn. The routes live in hpsearch/serve/routes/ (runs API, queue, pages and files) and
share one `Service` (service.py); reading goes through runs.py and runfiles.py, the queue
through jobs.py and executor.py, the access rules through security.py.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hpsearch.errors import HPSearchError
from hpsearch.report import templating
from hpsearch.serve import openapi
from hpsearch.serve.executor import KEEP_JOBS_DAYS, Executor
from hpsearch.serve.jobs import JobConflict, JobStore
from hpsearch.serve.routes import data, manage, pages, queue, runs
from hpsearch.serve.security import MAX_BODY, MAX_UPLOAD, Guard, GuardMiddleware, error, is_loopback
from hpsearch.serve.service import ApiError, Service


def create_app(
    results_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    data_roots: list[Path] | None = None,
    max_body: int | None = None,
    max_upload: int | None = None,
    allow_cluster: bool = False,
    allow_factories: tuple[str, ...] = (),
    run_queue: bool = True,
    executor_args: tuple[str, ...] = (),
    keep_jobs_days: float = KEEP_JOBS_DAYS,
) -> FastAPI:
    """The application over `results_dir`; `run_queue=False` leaves queued studies alone
    (tests of the API alone); `allow_cluster` lets submitted studies use cluster settings,
    `allow_factories` the model factories named there;
    the first of `data_roots` (given, not from $HPSEARCH_DATA_DIR) takes uploaded data files
    of up to `max_upload` bytes; jobs that ended over `keep_jobs_days` ago are pruned at
    start and hourly (0 keeps them)."""
    results = Path(results_dir).resolve()
    results.mkdir(parents=True, exist_ok=True)
    env_data = os.environ.get("HPSEARCH_DATA_DIR")
    roots = [
        Path(p).resolve()
        for p in (data_roots if data_roots is not None else ([env_data] if env_data else []))
    ]
    store = JobStore(results)
    svc = Service(
        results=results,
        roots=roots,
        guard=Guard(
            loopback=is_loopback(host),
            token=token,
            max_body=max_body or MAX_BODY,
            port=port,
            max_upload=max_upload or MAX_UPLOAD,
        ),
        store=store,
        executor=Executor(store, results, extra_args=executor_args, keep_jobs_days=keep_jobs_days),
        allow_cluster=allow_cluster,
        allow_factories=tuple(allow_factories),
        data_dir=roots[0] if data_roots else None,
        static={p.name: p for p in templating.STATIC.iterdir() if p.suffix in pages.STATIC_TYPES},
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if run_queue:
            svc.executor.start()
        yield
        if run_queue:
            svc.executor.shutdown()

    app = FastAPI(
        title="hpsearch",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,  # their pages load scripts from a CDN
        description=openapi.DESCRIPTION,
    )
    svc.executor.prune()  # at start; the queue's thread prunes hourly after
    app.state.service = svc
    # server.py and tests reach these directly
    app.state.results, app.state.store, app.state.executor = results, store, svc.executor
    app.add_middleware(GuardMiddleware, guard=svc.guard)
    _handle_errors(app)
    for router in (runs.router, queue.router, data.router, manage.router, pages.router):
        app.include_router(router)

    openapi.finish(app.openapi())  # built once, here; every later request gets this one
    return app


def _handle_errors(app: FastAPI) -> None:
    """Every error answers {"error": "one line"}. A crash's 500 is answered by GuardMiddleware,
    inside FastAPI's handler for Exception, so that it carries the security headers too."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error(exc.status, exc.message, **exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # raised by the framework: no route matched, or a method the path does not have
        headers = dict(exc.headers or {})  # 405's Allow, 401's WWW-Authenticate
        detail = exc.detail
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"not found: {request.url.path}"
        elif exc.status_code == 405:  # Starlette's Allow lists a set: sorted, the same each time
            methods = set(headers.get("Allow", "").replace(" ", "").split(","))
            if "GET" in methods:  # HEAD reaches the routes as GET (GuardMiddleware)
                methods.add("HEAD")
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
        return error(422, str(exc))  # e.g. a study that does not validate, or compared too early

    @app.exception_handler(JobConflict)
    async def conflict(request: Request, exc: JobConflict) -> JSONResponse:
        return error(409, str(exc))  # e.g. cancelling a job that already runs
