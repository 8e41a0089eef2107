"""What the serve pages promise, checked in-process (FastAPI's test client; the browser's view
is in test_serve_browser.py): download names, a Stop from the page said as such, the queue's
record of a resumed job, the paste box's example study, cleaned upload names, no favicon 404
in the static reports."""

from __future__ import annotations

import json
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hpsearch.report.html import write_compare_report, write_report
from hpsearch.serve import runs
from hpsearch.serve.app import create_app
from hpsearch.serve.jobs import QUEUE, STOPPED_FROM_PAGE, STOPPING, clean_filename
from hpsearch.serve.models import JobReply
from hpsearch.study.config import parse_study

from test_report import make_run

LOCAL = "http://127.0.0.1:8765"
RUN = "study/20260101-100000-aaaa"
GOOD = """[study]
name = "tiny"
dataset = "california_housing"
engines = ["optuna"]
[optuna]
n_trials = 2
"""
# A stand-in for `python -m hpsearch run|resume` that writes status.json as the runner does:
# a run stops on SIGINT saying Ctrl-C (all the runner can know), a resume finishes at once.
FAKE = f"""#!{sys.executable}
import json, os, signal, socket, sys, time, tomllib
from pathlib import Path
kind, target = sys.argv[3], Path(sys.argv[4])
if kind == "run":
    name = tomllib.loads(target.read_text())["study"]["name"]
    run = Path(sys.argv[6]) / name / "20260101-000000-fake"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({{"source_path": str(target.resolve()),
                                              "engines": ["optuna"], "dataset": "california_housing"}}))
else:
    run = target
def status(state, message=""):
    (run / "status.tmp").write_text(json.dumps({{"state": state, "message": message,
        "pid": os.getpid(), "host": socket.gethostname(), "engines": {{}}, "engine_order": []}}))
    (run / "status.tmp").replace(run / "status.json")
def stop(*_):
    status("interrupted", "stopped by Ctrl-C or SIGTERM")
    print(f"hpsearch: error: interrupted; finished fits are kept in {{run}}. Resume with: "
          f"python -m hpsearch resume {{run}}", file=sys.stderr, flush=True)
    sys.exit(130)
signal.signal(signal.SIGINT, stop)
status("running")
time.sleep(60 if kind == "run" else 0.3)
status("finished")
"""


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    make_run(root, RUN.split("/")[1])
    return root


def client(results: Path, **options) -> TestClient:
    return TestClient(
        create_app(results, run_queue=False, **options),
        base_url=LOCAL,
        headers={"Content-Type": "application/toml"},
    )


def _wait(condition, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


class _Attrs(HTMLParser):
    """The attributes of every start tag, by tag name."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(html: str, tag: str) -> list[dict[str, str | None]]:
    parser = _Attrs()
    parser.feed(html)
    return [a for t, a in parser.tags if t == tag]


def test_downloads_are_named_study_run_file(results: Path) -> None:
    best = results / RUN / "best"
    best.mkdir()
    (best / "optuna.keras").write_bytes(b"PK")
    c = client(results)
    reply = c.get(f"/runs/{RUN}/files/best/optuna.keras")
    assert (
        reply.headers["content-disposition"]
        == 'attachment; filename="study-20260101-100000-aaaa-optuna.keras"'
    )
    trials = c.get(f"/runs/{RUN}/files/trials.csv")
    assert trials.headers["content-disposition"].endswith(
        'filename="study-20260101-100000-aaaa-trials.csv"'
    )
    files = {f["name"]: f for f in c.get(f"/api/runs/{RUN}").json()["files"]}
    assert files["best/optuna.keras"]["download"] == "study-20260101-100000-aaaa-optuna.keras"
    links = {a["href"]: a for a in _tags(c.get(f"/runs/{RUN}").text, "a")}
    assert (
        links[f"/runs/{RUN}/files/best/optuna.keras"]["download"]
        == "study-20260101-100000-aaaa-optuna.keras"
    )


def test_the_paste_boxs_example_is_a_valid_study(results: Path) -> None:
    (box,) = [
        a for a in _tags(client(results).get("/").text, "textarea") if a.get("id") == "study-text"
    ]
    study = parse_study(box["placeholder"], "placeholder.toml")  # raises StudyError if not
    assert study.name == "fashion"


@pytest.mark.parametrize(
    "name, cleaned",
    [
        ("my study.toml", "my-study.toml"),
        ("Étude (2).TOML", "Etude-2.toml"),
        ("study.txt", "study.txt.toml"),
        ("-x-.toml", "x.toml"),
        ("../x.toml", "../x.toml"),  # a path stays as it is: refused
    ],
)
def test_upload_names_are_cleaned(name: str, cleaned: str) -> None:
    assert clean_filename(name) == cleaned


def test_a_name_with_spaces_is_queued_under_its_cleaned_name(results: Path) -> None:
    c = client(results)
    reply = c.post("/api/studies", params={"filename": "my study (copy).toml"}, content=GOOD)
    assert reply.status_code == 201, reply.text
    job = reply.json()["job"]
    assert (results / QUEUE / job["id"] / "my-study-copy.toml").read_text() == GOOD
    assert c.post("/api/studies", params={"filename": "../x.toml"}, content=GOOD).status_code == 422


def test_stop_from_the_page_then_resume(results: Path, tmp_path: Path) -> None:
    """The run's status.json says Ctrl-C; the API and pages say the page stopped it. Once
    resumed and finished, the stopped job's record says so, not "Resume with"."""
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE)
    fake.chmod(0o755)
    app = create_app(results, run_queue=True)
    app.state.executor.python = str(fake)
    with TestClient(app, base_url=LOCAL, headers={"Content-Type": "application/toml"}) as c:
        first = c.post("/api/studies?filename=tiny.toml", content=GOOD).json()["job"]
        run = "tiny/20260101-000000-fake"
        _wait(
            lambda: (
                (results / run / "status.json").is_file()
                and c.get(f"/api/runs/{run}").json()["can_stop"]
            ),
            "the run to start",
        )
        stopped = c.post(f"/api/runs/{run}/stop")
        assert stopped.status_code == 202
        job = JobReply.model_validate(stopped.json(), extra="forbid", strict=True).job
        assert job.id == first["id"]
        _wait(
            lambda: (
                {j["id"]: j for j in c.get("/api/jobs").json()}[first["id"]]["state"] != "running"
            ),
            "the stop",
        )
        assert json.loads((results / run / "status.json").read_text())["message"].startswith(
            "stopped by Ctrl-C"
        )
        detail = c.get(f"/api/runs/{run}").json()
        assert detail["state"] == "interrupted" and detail["message"] == STOPPED_FROM_PAGE
        listed = {r["id"]: r for r in c.get("/api/runs").json()["runs"]}
        assert listed[run]["message"] == STOPPED_FROM_PAGE
        assert STOPPED_FROM_PAGE in c.get(f"/runs/{run}").text
        jobs = {j["id"]: j for j in c.get("/api/jobs").json()}
        assert jobs[first["id"]]["state"] == "interrupted"
        assert jobs[first["id"]]["message"] == STOPPED_FROM_PAGE

        resumed = c.post(f"/api/runs/{run}/resume").json()["job"]
        _wait(
            lambda: (
                {j["id"]: j for j in c.get("/api/jobs").json()}[resumed["id"]]["state"]
                == "finished"
            ),
            "the resume",
        )
        jobs = {j["id"]: j for j in c.get("/api/jobs").json()}
        assert jobs[first["id"]]["state"] == "finished"
        assert jobs[first["id"]]["message"] == f"resumed as job {resumed['id']}: finished"
        assert "Resume with" not in c.get("/").text
        assert c.get(f"/api/runs/{run}").json()["state"] == "finished"


def test_a_run_stopping_from_the_page_says_so_until_the_queue_notices(results: Path) -> None:
    """Its process has ended (status.json: interrupted by Ctrl-C), the job still runs."""
    path = (results / RUN).resolve()
    (path / "status.json").write_text(
        json.dumps(
            {"state": "interrupted", "engines": {}, "message": "stopped by Ctrl-C or SIGTERM"}
        )
    )
    job = {"id": "20260101-000000-00000000", "state": "running", "kind": "run", "message": STOPPING}
    out = runs.run_detail(results.resolve(), path, job, can_stop=True)
    assert out["state"] == "interrupted" and out["message"] == STOPPED_FROM_PAGE
    assert not out["can_stop"] and not out["can_resume"]


def test_static_reports_ask_for_no_favicon(tmp_path: Path) -> None:
    """No <link rel=icon>: the browser asks for /favicon.ico, a 404 next to a report file."""
    first, second = make_run(tmp_path, "a", n=2), make_run(tmp_path, "b", n=2)
    for page in (
        write_report(first),
        write_compare_report([first, second], tmp_path / "compare.html"),
    ):
        icons = [a for a in _tags(page.read_text(), "link") if a.get("rel") == "icon"]
        assert icons == [{"rel": "icon", "href": "data:,"}], page
