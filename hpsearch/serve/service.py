"""What every route shares: the `Service` (results folder, queue, executor, access rules ...),
kept in `app.state` and handed to routes by the `service` dependency, and `ApiError`, the one
way a route answers an error (written as {"error": "one line"} by the app's handler)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request

from hpsearch import registry
from hpsearch.report import templating
from hpsearch.serve import runs
from hpsearch.serve.executor import Executor
from hpsearch.serve.jobs import JobStore
from hpsearch.serve.runfiles import Cache, NotFound, list_runs, run_path
from hpsearch.serve.search import Search, facets
from hpsearch.serve.security import BodyTooLarge, Guard, read_body
from hpsearch.serve.stream import Streams


class ApiError(Exception):
    """An error answer: `status`, its one line, and headers such as 405's Allow."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


@dataclass
class Service:
    """One results folder served: its runs, its queue and the rules for studies sent to it."""

    results: Path
    roots: list[Path]  # the data folders a submitted study may read
    guard: Guard
    store: JobStore
    executor: Executor
    allow_cluster: bool
    # the [model] factories a submitted study may name ("module:function"), none by default
    allow_factories: tuple[str, ...] = ()
    # where uploads go and what /api/data lists: the first --data-dir (None without one; not
    # $HPSEARCH_DATA_DIR, a dataset cache nobody asked this server to write into)
    data_dir: Path | None = None
    # readers polling a running study's page get the same HTML until its data change
    pages: Cache = field(default_factory=lambda: Cache(size=64))
    static: dict[str, Path] = field(default_factory=dict)
    # the runs whose pages follow their live updates (GET .../events)
    streams: Streams = field(default_factory=Streams)

    def upload_folder(self) -> Path:
        """The data folder; 404 if the server has none."""
        if self.data_dir is None:
            raise ApiError(404, "no data folder: start serve with --data-dir FOLDER")
        return self.data_dir

    def engine_choices(self) -> list[dict[str, Any]]:
        """EngineChoice of each registered engine: what the page's study form offers."""
        return [
            {
                "name": name,
                "colour": engine.colour,
                "default": engine.default,
                "trials_setting": engine.trials_setting,
            }
            for name, engine in registry.engines().items()
        ]

    def run_dir(self, study: str, run_id: str) -> Path:
        """The folder of run study/run_id; 404 if there is no such run."""
        try:
            return run_path(self.results, study, run_id)
        except NotFound:
            raise ApiError(404, f"no run {study}/{run_id} in {self.results}") from None

    def compared(self, run: str) -> Path:
        """The folder of a run named "study/run_id", as /compare's `run` gives it."""
        study, _, run_id = run.partition("/")
        return self.run_dir(study, run_id)

    def jobs_by_run(self) -> dict[str, dict[str, Any]]:
        positions = self.store.positions()
        return {j.run: j.public(positions.get(j.id)) for j in self.store.all() if j.run}

    def run_list(self, search: Search | None = None) -> dict[str, Any]:
        """RunList: every run (those `search` finds), newest first, and the queue's jobs,
        newest first; `total` and `facets` count every run, found or not."""
        jobs = self.jobs_by_run()
        positions = self.store.positions()
        listed = [
            runs.run_summary(self.results, p, jobs.get(f"{p.parent.name}/{p.name}"))
            for p in list_runs(self.results)
        ]
        return {
            "runs": [r for r in listed if search is None or search.matches(r)],
            "jobs": [j.public(positions.get(j.id)) for j in reversed(self.store.all())],
            "total": len(listed),
            "facets": facets(listed),
        }

    def detail(self, path: Path) -> dict[str, Any]:
        """RunDetail of the run in `path`, with its job and whether it can be stopped here."""
        run = f"{path.parent.name}/{path.name}"
        current = self.executor.current()
        return runs.run_detail(
            self.results,
            path,
            self.jobs_by_run().get(run),
            can_stop=current is not None and current.run == run,
        )

    def render(self, name: str, **context: Any) -> str:
        """A page's HTML, cached by its template and context."""
        key = (name, json.dumps(context, sort_keys=True, default=str))
        return self.pages.get(key, (), lambda: templating.render(name, **context))


async def typed_body(request: Request, svc: Service, media: str) -> bytes:
    """The request's body, sent as `media` (415 otherwise: not a form another site could post
    without a preflight) and at most the service's limit (413)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()  # RFC 9110
    if kind != media:
        raise ApiError(415, f"Content-Type: expected {media}, got {kind or 'none'!r}")
    try:
        return await read_body(request, svc.guard.max_body)
    except BodyTooLarge as exc:
        raise ApiError(413, str(exc)) from None


def service(request: Request) -> Service:
    """The dependency routes take the Service from."""
    service: Service = request.app.state.service
    return service


Served = Annotated[Service, Depends(service)]
