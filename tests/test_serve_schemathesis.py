"""`hpsearch serve`'s API fuzzed from its own OpenAPI document (schemathesis, in-process): no
server error, every answer's status documented, its body and Content-Type as documented, and
405s with Allow. Bounded (50 examples per operation and phase, no deadline: ~10 s, some 500
requests, on a slow 2-core machine); the queue is idle (run_queue=False): no study is trained."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import schemathesis  # the `test` extra
from schemathesis.specs.openapi import checks

from hpsearch.serve.app import create_app

from test_report import make_run

RUNS = ("20260101-100000-aaaa", "20260102-100000-bbbb")
CHECKS = [
    schemathesis.checks.not_a_server_error,
    checks.status_code_conformance,
    checks.response_schema_conformance,
    checks.content_type_conformance,
    checks.unsupported_method,
]


def config(jobs: list[str]) -> schemathesis.Config:
    """Seeded, 50 examples per operation and phase; half the generated path parameters and
    compared runs (and uploaded files) name real ones, so that reads answer 200 and writes
    200/201/409, not only 404."""
    return schemathesis.Config.from_dict(
        {
            "base-url": "http://127.0.0.1:8765",  # a loopback Host, as the server expects
            "seed": 1,
            "generation": {"max-examples": 50, "database": "none"},  # nothing replayed
            "dictionaries": {
                "study": {"values": ["study"]},
                "run": {"values": list(RUNS)},
                "ids": {"values": [f"study/{r}" for r in RUNS]},
                "job": {"values": jobs},
                "files": {"values": ["rows.csv", "new.csv", "t.toml"]},
            },
            "parameters": {
                "path.study": {"dictionary": "study", "probability": 0.5},
                "path.run_id": {"dictionary": "run", "probability": 0.5},
                "query.run": {"dictionary": "ids", "probability": 0.5},
                "path.job_id": {"dictionary": "job", "probability": 0.5},
                # a data file's name that passes, so that uploads answer 201/409/422, not only 422
                "query.filename": {"dictionary": "files", "probability": 0.5},
            },
        }
    )


@schemathesis.serializer("application/toml")
def _toml(ctx: object, value: object) -> bytes:
    """The study as sent: generated text as is; other values (negative cases) as JSON."""
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


def _app() -> tuple[object, list[str]]:
    """The app over a results folder with an interrupted run, a finished one, a queued job
    and a cancelled one, and a data folder; and the jobs' ids. Built at import: schemathesis's fixture-based
    loader does not run under pytest 9 (`_nodeid`)."""
    results = Path(_FOLDER.name) / "results"
    killed = make_run(results, RUNS[0])  # stopped mid-run: resumable (201, then 409)
    info = json.loads((killed / "run.json").read_text())
    del info["finished_at"], info["wall_seconds"]
    (killed / "run.json").write_text(json.dumps(info))
    make_run(results, RUNS[1], task="regression")
    data = results.parent / "data"  # listed and uploaded into (a readable file, a broken one)
    data.mkdir()
    (data / "rows.csv").write_text("a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
    (data / "broken.parquet").write_bytes(b"not parquet")
    app = create_app(results, run_queue=False, data_roots=[data])
    store = app.state.store
    queued, cancelled = (store.submit("[study]\n", "s.toml", "s") for _ in range(2))
    store.cancel(cancelled.id)  # no place in the queue: position null
    return app, [queued.id, cancelled.id]


_FOLDER = tempfile.TemporaryDirectory(prefix="hpsearch-schemathesis-")  # removed at exit
_APP, _JOBS = _app()
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", _APP, headers={"Host": "127.0.0.1"}, config=config(_JOBS)
)


@schema.parametrize()
def test_api_answers_as_documented(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)
