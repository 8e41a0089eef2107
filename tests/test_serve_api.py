"""`hpsearch serve` in-process: the JSON API, pages, downloads, the queue's records and the
access rules (FastAPI's test client; no study is trained here, see test_serve_browser.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TypeVar

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, TypeAdapter

from hpsearch.cli import dispatch
from hpsearch.serve import models
from hpsearch.serve.app import create_app
from hpsearch.serve.jobs import QUEUE

from test_report import make_run

M = TypeVar("M", bound=BaseModel)
LOCAL = "http://127.0.0.1:8765"
GOOD = """
[study]
name = "tiny"
dataset = "california_housing"
engines = ["optuna"]
max_train_samples = 300
max_eval_samples = 100
[train]
epochs = 2
[optuna]
n_trials = 2
"""


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    return two_runs(tmp_path)


def two_runs(tmp_path: Path) -> Path:
    """A results folder with a killed run (resumable) and a finished one from before status.json."""
    root = tmp_path / "results"
    killed = make_run(root, "20260101-100000-aaaa")  # killed mid-run: resumable
    info = json.loads((killed / "run.json").read_text())
    del info["finished_at"], info["wall_seconds"]
    (killed / "run.json").write_text(json.dumps(info))
    make_run(root, "20260102-100000-bbbb", task="regression")  # finished, before status.json
    return root


def client(results: Path, base: str = LOCAL, **options) -> TestClient:
    return TestClient(
        create_app(results, run_queue=False, **options),
        base_url=base,
        headers={"Content-Type": "application/toml"},
    )


def test_runs_list_detail_trials_histories_compare(results: Path) -> None:
    c = client(results)
    listing = c.get("/api/runs").json()
    assert [r["id"] for r in listing["runs"]] == [
        "study/20260102-100000-bbbb",
        "study/20260101-100000-aaaa",
    ]
    first, second = listing["runs"][1], listing["runs"][0]
    # no status.json: a run nobody is running reads as interrupted, unless it finished
    assert first["state"] == "interrupted" and first["dataset"] == "fashion_mnist"
    assert second["state"] == "finished" and second["duration_seconds"] == 61.5
    best = {b["engine"]: b for b in first["best"]}
    assert (
        best["sklearn"]["test_metric"] == "test_accuracy" and best["sklearn"]["test_score"] == 0.8
    )

    detail = c.get("/api/runs/study/20260101-100000-aaaa").json()
    assert {f["name"] for f in detail["files"]} >= {"trials.csv", "summary.csv", "histories.csv"}
    assert detail["can_resume"] and not detail["can_stop"]
    trials = c.get("/api/runs/study/20260101-100000-aaaa/trials").json()
    assert len(trials["trials"]) == 10
    failed = [t for t in trials["trials"] if t["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["val_score"] is None and failed[0]["failed"] is True
    ok = [t for t in trials["trials"] if t["engine"] == "sklearn" and t["ok"]]
    assert trials["top"]["sklearn"][0] == max(ok, key=lambda t: t["score"])["trial"]
    rows = c.get("/api/runs/study/20260101-100000-aaaa/histories").json()["rows"]
    assert len(rows["value"]) == len(rows["epoch"]) > 0 and set(rows) >= {
        "engine",
        "trial",
        "metric",
    }

    compared = c.get("/api/compare", params={"run": [r["id"] for r in listing["runs"]]}).json()
    assert len(compared["runs"]) == 2 and len(compared["table"]) == 4
    assert {p["engine"] for p in compared["progress"]} == {"sklearn", "keras_tuner"}


def test_openapi_documents_the_api(results: Path) -> None:
    doc = client(results).get("/openapi.json").json()
    assert {
        "/api/runs",
        "/api/runs/{study}/{run_id}",
        "/api/runs/{study}/{run_id}/trials",
        "/api/compare",
        "/api/studies",
        "/api/jobs/{job_id}/cancel",
        "/api/runs/{study}/{run_id}/stop",
        "/api/runs/{study}/{run_id}/resume",
    } <= set(doc["paths"])
    fields = doc["components"]["schemas"]["RunSummary"]["properties"]
    assert {"id", "state", "best", "trials_done", "duration_seconds"} <= set(fields)


def test_pages_render(results: Path) -> None:
    c = client(results)
    for url, marker in (
        ("/", 'id="runs-table"'),
        ("/runs/study/20260101-100000-aaaa", 'id="trials-table"'),
        (
            "/compare?run=study/20260101-100000-aaaa&run=study/20260102-100000-bbbb",
            'id="compare-table"',
        ),
    ):
        page = c.get(url)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert marker in page.text and "<script>" not in page.text  # scripts are files (CSP)
    assert c.get("/static/plotly.min.js").status_code == 200


def test_bad_study_gets_validates_one_line(
    results: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    text = GOOD.replace("california_housing", "mnist")
    monkeypatch.chdir(tmp_path)
    Path("bad.toml").write_text(text)
    assert dispatch(["validate", "bad.toml"]) == 2
    line = capsys.readouterr().err.strip().removeprefix("hpsearch: error: ")
    reply = client(results).post("/api/studies?filename=bad.toml", content=text)
    assert reply.status_code == 422 and reply.json() == {"error": line}
    assert not (results / QUEUE).exists()  # nothing half-written


def test_submit_cancel_and_conflicts(results: Path) -> None:
    c = client(results)
    job = c.post("/api/studies?filename=tiny.toml", content=GOOD).json()["job"]
    assert job["state"] == "queued" and job["position"] == 1 and job["study"] == "tiny"
    record = json.loads((results / QUEUE / f"{job['id']}.json").read_text())
    assert (
        record["state"] == "queued"
        and (results / QUEUE / job["id"] / "tiny.toml").read_text() == GOOD
    )
    assert c.post(f"/api/jobs/{job['id']}/cancel").json()["job"]["state"] == "cancelled"
    again = c.post(f"/api/jobs/{job['id']}/cancel")
    assert again.status_code == 409 and "expected a queued job" in again.json()["error"]
    assert c.post("/api/jobs/20260101-000000-00000000/cancel").status_code == 404
    stop = c.post("/api/runs/study/20260101-100000-aaaa/stop")
    assert stop.status_code == 409 and "running" in stop.json()["error"]
    resumed = c.post("/api/runs/study/20260101-100000-aaaa/resume")
    assert resumed.status_code == 201 and resumed.json()["job"]["kind"] == "resume"
    assert c.get("/api/runs").json()["runs"][1]["state"] == "queued"
    assert c.post("/api/runs/study/20260101-100000-aaaa/resume").status_code == 409  # queued once
    assert c.post("/api/runs/study/20260102-100000-bbbb/resume").status_code == 409  # finished


def answer(reply, model: type[M], status: int = 200) -> M:
    """The reply's body as `model`, which must name every field: the documents are open (new
    fields may come), the server's answers must not carry a field the document lacks."""
    assert reply.status_code == status, reply.text
    return model.model_validate(reply.json(), extra="forbid", strict=True)


def test_answers_match_their_models(results: Path) -> None:
    c = client(results)
    killed, done = "study/20260101-100000-aaaa", "study/20260102-100000-bbbb"
    submitted = answer(
        c.post("/api/studies?filename=tiny.toml", content=GOOD), models.JobReply, 201
    )
    answer(c.post(f"/api/jobs/{submitted.job.id}/cancel"), models.JobReply)
    answer(c.post(f"/api/runs/{killed}/resume"), models.JobReply, 201)  # a run with a job
    listing = answer(c.get("/api/runs"), models.RunList)
    assert {r.job is not None for r in listing.runs} == {True, False} and len(listing.jobs) == 2
    jobs = TypeAdapter(list[models.Job]).validate_python(
        c.get("/api/jobs").json(), extra="forbid", strict=True
    )
    assert [j.state for j in jobs] == ["queued", "cancelled"]
    for run in (killed, done):
        detail = answer(c.get(f"/api/runs/{run}"), models.RunDetail)
        assert detail.files and detail.best
        assert answer(c.get(f"/api/runs/{run}/trials"), models.Trials).trials
        assert answer(c.get(f"/api/runs/{run}/histories"), models.Histories).rows["value"]
    compared = answer(c.get("/api/compare", params={"run": [killed, done]}), models.Compare)
    assert compared.table and compared.progress


def test_errors_match_their_model(results: Path) -> None:
    c = client(results)
    killed = "study/20260101-100000-aaaa"
    for reply, status in (
        (c.get("/api/runs/study/nothing"), 404),
        (c.post("/api/jobs/nothing/cancel"), 404),
        (c.post(f"/api/runs/{killed}/stop"), 409),
        (c.post("/api/runs/study/20260102-100000-bbbb/resume"), 409),
        (c.post("/api/studies", content=GOOD, headers={"Content-Type": "text/plain"}), 415),
        (c.post("/api/studies", content="[study]"), 422),
        (c.get("/api/compare"), 422),
        (c.delete("/api/runs"), 405),
    ):
        assert "\n" not in answer(reply, models.Error, status).error  # one line


@pytest.mark.parametrize(
    "url",
    [
        "/api/runs/%2e%2e/%2e%2e",
        "/api/runs/study/%2e%2e",
        "/api/runs/.queue/x",
        "/runs/study/20260101-100000-aaaa/files/%2e%2e/%2e%2e/x.csv",
        "/runs/study/20260101-100000-aaaa/files/best/%2e%2e/run.json",
        "/runs/study/20260101-100000-aaaa/files/state/x",
        "/runs/study/link/files/trials.csv",
        "/runs/study/20260101-100000-aaaa/files/notes.txt",  # in the run, but not a download
        "/api/compare?run=study/%2e%2e",
        "/static/%2e%2e%2fcli.py",
        "/static/base.html",
    ],
)
def test_paths_outside_the_results_folder_are_404(results: Path, tmp_path: Path, url: str) -> None:
    outside = make_run(tmp_path / "elsewhere", "secret")
    (results / "study" / "link").symlink_to(outside)
    (results / "study" / "20260101-100000-aaaa" / "notes.txt").write_text("private")
    c = client(results)
    reply = c.get(url)
    assert reply.status_code == 404 and "error" in reply.json()
    assert "study/link" not in {r["id"] for r in c.get("/api/runs").json()["runs"]}


def test_downloads_are_attachments_of_the_runs_files(results: Path) -> None:
    c = client(results)
    reply = c.get("/runs/study/20260101-100000-aaaa/files/trials.csv")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/csv")
    assert "attachment" in reply.headers["content-disposition"]
    assert reply.text == (results / "study" / "20260101-100000-aaaa" / "trials.csv").read_text()
    best = results / "study" / "20260101-100000-aaaa" / "best"
    best.mkdir()
    (best / "sklearn.keras").write_bytes(b"model")
    assert c.get("/runs/study/20260101-100000-aaaa/files/best/sklearn.keras").content == b"model"


def test_security_headers(results: Path) -> None:
    reply = client(results).get("/api/runs")
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["cache-control"] == "no-store"
    assert reply.headers["content-type"] == "application/json"
    assert "script-src 'self'" in reply.headers["content-security-policy"]


def test_token_off_loopback(results: Path) -> None:
    token = "t" * 24
    c = client(results, "http://10.1.2.3:8765", host="0.0.0.0", token=token)
    for method, url in (("get", "/api/runs"), ("get", "/"), ("post", "/api/studies")):
        reply = getattr(c, method)(url)
        assert reply.status_code == 401 and "token missing" in reply.json()["error"]
    assert c.get("/api/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/api/runs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    # the page's ?token= becomes a cookie and leaves the address
    opened = c.get(f"/?token={token}", follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == "/"
    cookie = opened.headers["set-cookie"].lower()
    assert (
        cookie.startswith("hpsearch_token_8765=")
        and "httponly" in cookie
        and "samesite=strict" in cookie
    )
    assert c.get("/api/runs").status_code == 200  # the client kept the cookie


def test_token_on_loopback_guards_writes_only(results: Path) -> None:
    c = client(results, token="s" * 24)
    assert c.get("/api/runs").status_code == 200
    assert c.post("/api/studies", content=GOOD).status_code == 401
    assert (
        c.post(
            "/api/studies", content=GOOD, headers={"Authorization": "Bearer " + "s" * 24}
        ).status_code
        == 201
    )


def test_host_and_origin_checks(results: Path) -> None:
    assert client(results, "http://evil.example:8765").get("/api/runs").status_code == 400
    c = client(results)
    refused = c.post("/api/studies", content=GOOD, headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403 and "Origin" in refused.json()["error"]
    assert c.post("/api/studies", content=GOOD, headers={"Origin": LOCAL}).status_code == 201
    cross = c.post("/api/studies", content=GOOD, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    # a form another site can post without asking first (text/plain) is not a study here
    form = c.post("/api/studies", content=GOOD, headers={"Content-Type": "text/plain"})
    assert form.status_code == 415 and "application/toml" in form.json()["error"]


def test_oversized_bodies(results: Path) -> None:
    c = client(results, max_body=1000)
    big = GOOD + "#" * 2000
    reply = c.post("/api/studies", content=big)
    assert reply.status_code == 413 and "at most 1000 bytes" in reply.json()["error"]
    chunked = c.post("/api/studies", content=iter([big.encode()]))  # no Content-Length
    assert chunked.status_code == 413
    assert not (results / QUEUE).exists()


@pytest.mark.parametrize(
    "extra, field",
    [
        ('output_dir = "/tmp"', "study.output_dir"),
        ('data_dir = "/etc"', "study.data_dir"),
        ('data_dir = "../../.."', "study.data_dir"),
    ],
)
def test_study_paths_must_stay_in_the_servers_folders(
    results: Path, extra: str, field: str
) -> None:
    text = GOOD.replace('engines = ["optuna"]', f'engines = ["optuna"]\n{extra}')
    reply = client(results).post("/api/studies?filename=tiny.toml", content=text)
    assert reply.status_code == 422 and f"tiny.toml: {field}: expected" in reply.json()["error"]
    assert not (results / QUEUE).exists()


@pytest.mark.parametrize(
    "extra",
    [
        '[optuna]\nstorage = "sqlite+pysqlite:////tmp/elsewhere.db"',  # a file anywhere
        '[optuna]\nstorage = "journal:results/.queue/x.json"',  # appends to any file
        '[sklearn]\nbackend = "dask"\nscheduler = "tcp://203.0.113.5:8786"',  # it sends pickles
        '[keras_tuner]\nchief = "0.0.0.0:9000"',  # an open port
    ],
)
def test_cluster_settings_are_refused_unless_allowed(results: Path, extra: str) -> None:
    text = GOOD.replace("[optuna]\nn_trials = 2", "") + extra + "\n"
    reply = client(results).post("/api/studies?filename=tiny.toml", content=text)
    assert reply.status_code == 422 and "no cluster setting" in reply.json()["error"]
    allowed = client(results, allow_cluster=True).post(
        "/api/studies?filename=tiny.toml", content=text
    )
    assert allowed.status_code == 201, allowed.text


@pytest.mark.data
def test_data_dir_inside_the_servers_data_folders_is_accepted(results: Path) -> None:
    data = os.environ["HPSEARCH_DATA_DIR"]
    text = GOOD.replace('engines = ["optuna"]', f'engines = ["optuna"]\ndata_dir = "{data}"')
    reply = client(results, data_roots=[Path(data)]).post(
        "/api/studies?filename=t.toml", content=text
    )
    assert reply.status_code == 201, reply.text


def own_data(train: str) -> str:
    return GOOD.replace('dataset = "california_housing"\n', "").replace(
        "[train]", f'[data]\ntrain = "{train}"\ntarget = "y"\n\n[train]'
    )


@pytest.mark.parametrize("train", ["/etc/passwd.csv", "../../secret.csv", "rows.csv"])
def test_own_data_files_must_be_absolute_inside_the_data_folders(
    results: Path, tmp_path: Path, train: str
) -> None:
    secret = tmp_path / "secret.csv"  # outside the data folder: never opened, never named back
    secret.write_text("password,y\nhunter2,1\nx,0\n")
    text = own_data(str(secret) if train == "/etc/passwd.csv" else train)
    reply = client(results, data_roots=[tmp_path / "data"]).post(
        "/api/studies?filename=t.toml", content=text
    )
    error = reply.json()["error"]
    assert (
        reply.status_code == 422 and "t.toml: data.train: expected an absolute path inside" in error
    )
    assert "password" not in error and not (results / QUEUE).exists()


def test_own_data_inside_the_data_folder_is_accepted(results: Path, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    rows = tmp_path / "data" / "rows.csv"
    rows.write_text("a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(40)))
    reply = client(results, data_roots=[tmp_path / "data"]).post(
        "/api/studies?filename=t.toml", content=own_data(str(rows))
    )
    assert reply.status_code == 201, reply.text


def test_odd_filenames_are_refused(results: Path) -> None:
    reply = client(results).post("/api/studies?filename=../x.toml", content=GOOD)
    assert reply.status_code == 422 and reply.json()["error"].startswith("filename: expected")


def test_a_run_whose_resume_is_starting_reads_as_running(results: Path) -> None:
    """Its process is still loading the data; status.json says how the last one ended."""
    from hpsearch.serve import runs

    path = (results / "study" / "20260101-100000-aaaa").resolve()
    job = {"id": "20260101-000000-00000000", "state": "running", "kind": "resume"}
    out = runs.run_detail(results.resolve(), path, job, can_stop=False)
    assert out["state"] == "running" and out["message"].startswith("starting")
    assert not out["can_resume"]
