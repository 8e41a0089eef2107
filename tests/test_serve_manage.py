"""Managing runs through `hpsearch serve`'s API (FastAPI's test client, no study trained):
delete to the trash and restore, refusals while a run runs, emptying the trash, tags and notes,
search and filters over the runs list, and the queue's old job records pruned."""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hpsearch.cli import dispatch
from hpsearch.rundir.folder import META
from hpsearch.serve import executor, trash
from hpsearch.serve.app import create_app
from hpsearch.serve.jobs import Job, JobStore

from test_report import make_run

OLD, NEW = "20260101-100000-aaaa", "20260102-100000-bbbb"
LOCAL = "http://127.0.0.1:8765"


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    make_run(root, OLD)
    make_run(root, NEW, task="regression")
    return root


def client(results: Path, **options: object) -> TestClient:
    return TestClient(create_app(results, run_queue=False, **options), base_url=LOCAL)


def ids(answer: dict) -> list[str]:
    return [r["id"] for r in answer["runs"]]


def running(run_dir: Path) -> None:
    """status.json of a run this very process runs: alive, as the service checks it."""
    status = {"state": "running", "pid": os.getpid(), "host": socket.gethostname()}
    (run_dir / "status.json").write_text(json.dumps(status))


def test_delete_moves_the_run_to_the_trash_and_restore_brings_it_back(results: Path) -> None:
    c = client(results)
    run_dir = results / "study" / OLD
    inode = run_dir.stat().st_ino
    answer = c.post(f"/api/runs/study/{OLD}/delete")
    assert answer.status_code == 200, answer.text
    trashed = answer.json()["trashed"]
    assert trashed["id"] == f"study/{OLD}" and trashed["deleted_at"] and not trashed["taken"]
    moved = results / trash.TRASH / "study" / OLD
    # a rename, not a copy: the same folder (inode), and nothing left where it was
    assert moved.stat().st_ino == inode and not run_dir.exists()
    listing = c.get("/api/runs").json()
    assert ids(listing) == [f"study/{NEW}"] and listing["total"] == 1  # the trash is no study
    assert ids(c.get("/api/trash").json()) == [f"study/{OLD}"]
    assert c.get(f"/api/runs/study/{OLD}").status_code == 404

    restored = c.post(trashed["restore"])
    assert restored.status_code == 200, restored.text
    assert restored.json()["run"]["id"] == f"study/{OLD}"
    assert run_dir.stat().st_ino == inode and not moved.exists()
    assert ids(c.get("/api/trash").json()) == []
    assert f"study/{OLD}" in ids(c.get("/api/runs").json())


def test_restoring_onto_a_taken_name_or_a_missing_run_is_refused(results: Path) -> None:
    c = client(results)
    assert c.post(f"/api/runs/study/{OLD}/delete").status_code == 200
    make_run(results, OLD)  # a new run took the name meanwhile
    assert c.get("/api/trash").json()["runs"][0]["taken"] is True
    refused = c.post(f"/api/trash/study/{OLD}/restore")
    assert refused.status_code == 409
    assert refused.json()["error"] == (
        f"study/{OLD}: expected a free name to restore to, found a run there"
    )
    assert (results / trash.TRASH / "study" / OLD).is_dir()  # still in the trash, whole
    # a second delete of the same id while the first is in the trash: refused, nothing moved
    again = c.post(f"/api/runs/study/{OLD}/delete")
    assert again.status_code == 409 and "trash holds a run of this id" in again.json()["error"]
    assert (results / "study" / OLD).is_dir()
    for path in ("study/nope", "..%2F..%2Fetc/passwd", f"study/{OLD}%2F..%2F.."):
        assert c.post(f"/api/trash/{path}/restore").status_code == 404, path
    assert c.post("/api/runs/study/nope/delete").status_code == 404


def test_a_running_or_queued_run_cannot_be_deleted(results: Path) -> None:
    c = client(results)
    running(results / "study" / OLD)
    refused = c.post(f"/api/runs/study/{OLD}/delete")
    assert refused.status_code == 409
    assert refused.json()["error"] == (
        f"study/{OLD}: expected a run that is not running or queued, found one running"
    )
    assert (results / "study" / OLD).is_dir() and not (results / trash.TRASH).exists()
    # a resume waiting in the queue keeps its run too
    assert c.post(f"/api/runs/study/{NEW}/delete").status_code == 200
    assert c.post(f"/api/trash/study/{NEW}/restore").status_code == 200
    c.app.state.store.resume(f"study/{NEW}")
    queued = c.post(f"/api/runs/study/{NEW}/delete")
    assert queued.status_code == 409 and queued.json()["error"].endswith("found one queued")


def test_a_failed_move_leaves_the_run_where_it_was(
    results: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = TestClient(
        create_app(results, run_queue=False), base_url=LOCAL, raise_server_exceptions=False
    )

    def broken(src: object, dst: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(trash.os, "rename", broken)
    assert c.post(f"/api/runs/study/{OLD}/delete").status_code == 500
    assert (results / "study" / OLD).is_dir()
    monkeypatch.undo()
    assert c.get("/api/trash").json()["runs"] == []  # no stray record listed
    assert list((results / trash.TRASH / "study").iterdir()) == []


def test_emptying_the_trash_removes_its_runs_for_good(results: Path) -> None:
    c = client(results)
    assert c.post("/api/trash/empty").json() == {"removed": 0}
    for run in (OLD, NEW):
        assert c.post(f"/api/runs/study/{run}/delete").status_code == 200
    assert c.post("/api/trash/empty").json() == {"removed": 2}
    assert c.get("/api/trash").json()["runs"] == [] and c.get("/api/runs").json()["total"] == 0
    assert list((results / trash.TRASH).rglob("*")) == []


def test_tags_and_note_are_checked_stored_and_listed(results: Path) -> None:
    c = client(results)
    url = f"/api/runs/study/{OLD}/meta"
    put = c.put(url, json={"tags": ["baseline", "lr-sweep", "baseline"], "note": "the one"})
    assert put.status_code == 200, put.text
    assert put.json()["tags"] == ["baseline", "lr-sweep"] and put.json()["note"] == "the one"
    stored = json.loads((results / "study" / OLD / META).read_text())
    assert stored["tags"] == ["baseline", "lr-sweep"] and stored["updated_at"]
    run = c.get(f"/api/runs/study/{OLD}").json()
    assert run["tags"] == ["baseline", "lr-sweep"] and run["note"] == "the one"
    # either field alone: the other stays
    assert c.put(url, json={"note": "kept tags"}).json()["tags"] == ["baseline", "lr-sweep"]

    before = (results / "study" / OLD / META).read_bytes()
    bad = {
        "tags": (["ok", "two words"], "tags[1]: expected 1-32 characters of"),
        "note": ("x" * 2001, "note: expected at most 2000 characters, got 2001"),
        "many": ([f"t{i}" for i in range(21)], "tags: expected at most 20 tags, got 21"),
        "kind": ("baseline", "tags: expected a list of tags, got text"),
    }
    for name, (value, line) in bad.items():
        field = "note" if name == "note" else "tags"
        answer = c.put(url, json={field: value})
        assert answer.status_code == 422 and answer.json()["error"].startswith(line), name
    extra = c.put(url, json={"tags": [], "colour": "red"})
    assert extra.json()["error"] == "body: expected only the fields tags, note, got colour"
    not_json = c.put(url, content=b"{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 422 and not_json.json()["error"].startswith("body: expected")
    form = c.put(url, content=b"tags=x", headers={"Content-Type": "text/plain"})
    assert form.status_code == 415
    assert (results / "study" / OLD / META).read_bytes() == before  # nothing half-written
    assert c.put("/api/runs/study/nope/meta", json={"tags": []}).status_code == 404


def test_search_and_filters_over_the_runs_list(results: Path) -> None:
    c = client(results)
    c.put(f"/api/runs/study/{OLD}/meta", json={"tags": ["Baseline"], "note": "Wide layers"})
    running(results / "study" / NEW)
    every = c.get("/api/runs").json()
    assert every["total"] == 2 and every["facets"]["tags"] == ["Baseline"]
    assert set(every["facets"]["engines"]) >= {"sklearn", "keras_tuner"}
    found = {
        "q=wide": [OLD],  # the note, any case
        "q=baseline+study": [OLD],  # every word, over tags and study
        "q=bbbb": [NEW],  # the run id
        "q=nothing-like-it": [],
        "state=running": [NEW],
        "state=finished": [OLD],
        "tag=Baseline": [OLD],
        "tag=baseline": [],  # tags are exact
        "engine=no_such_engine": [],
    }
    for query, wanted in found.items():
        answer = c.get(f"/api/runs?{query}").json()
        assert ids(answer) == [f"study/{r}" for r in wanted], query
        assert answer["total"] == 2, query
    bad = c.get("/api/runs?state=done")
    assert bad.status_code == 422
    assert bad.json()["error"] == (
        "state: expected one of running, queued, finished, interrupted, failed, got 'done'"
    )


def _ended(store: JobStore, days: float, state: str = "finished") -> str:
    job = store.submit("[study]\n", "s.toml", "s")
    when = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")
    store.update(job, state=state, ended_at=when if state != "running" else None, submitted_at=when)
    return job.id


def test_old_ended_jobs_are_pruned_and_live_ones_kept(tmp_path: Path) -> None:
    results = tmp_path / "results"
    store = JobStore(results)
    old = [_ended(store, 40), _ended(store, 40, "cancelled"), _ended(store, 31, "failed")]
    recent = _ended(store, 2)
    live = [_ended(store, 90, "queued"), _ended(store, 90, "running")]
    app = create_app(results, run_queue=False, keep_jobs_days=30)  # prunes at start
    left = {j.id for j in app.state.store.all()}
    assert left == {recent, *live}
    assert not any((results / ".queue" / j).exists() for j in old)  # their study files too
    assert (results / ".queue" / recent).is_dir()
    assert JobStore(results).prune(0) == []  # 0 keeps every record
    assert dispatch(["serve", str(results), "--keep-jobs", "-1"]) == 2


def test_the_queue_thread_prunes_while_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(executor, "PRUNE_SECONDS", 0.0)  # every turn of the loop, not hourly
    results = tmp_path / "results"
    app = create_app(results, keep_jobs_days=1)
    with TestClient(app, base_url=LOCAL):  # its lifespan starts the queue's thread
        store = app.state.store
        ended = (datetime.now(UTC) - timedelta(days=2)).isoformat(timespec="seconds")
        job = store.save(
            Job(
                id="20260101-100000-0000abcd",
                study="s",
                kind="run",
                state="failed",
                seq=1,
                submitted_at=ended,
                ended_at=ended,
            )
        )
        deadline = time.monotonic() + 10
        while store.get(job.id) is not None:
            assert time.monotonic() < deadline, "the old job was not pruned while serving"
            time.sleep(0.1)


def test_emptying_drops_records_a_crash_left(results: Path) -> None:
    c = client(results)
    assert c.post(f"/api/runs/study/{OLD}/delete").status_code == 200
    stray = results / trash.TRASH / "study" / f"{NEW}.json"  # a record whose run went back
    stray.write_text('{"deleted_at": "2026-01-01T00:00:00+00:00"}')
    assert ids(c.get("/api/trash").json()) == [f"study/{OLD}"]  # never listed
    assert c.post("/api/trash/empty").json() == {"removed": 1}
    assert not stray.exists()


def test_managing_needs_the_token_and_stays_inside_the_results(results: Path) -> None:
    c = client(results, token="t" * 24)
    writes = [
        ("post", f"/api/runs/study/{OLD}/delete"),
        ("post", f"/api/trash/study/{OLD}/restore"),
        ("post", "/api/trash/empty"),
        ("put", f"/api/runs/study/{OLD}/meta"),
    ]
    for method, url in writes:
        assert getattr(c, method)(url).status_code == 401, url
    assert (results / "study" / OLD).is_dir()
    signed = {"Authorization": "Bearer " + "t" * 24}
    for path in ("..%2F..%2Fetc/passwd", "study/..", ".trash/x", f"study%2F{OLD}/x"):
        answer = c.post(f"/api/runs/{path}/delete", headers=signed)
        assert answer.status_code in (404, 405), path
    outside = results.parent / "outside" / "run"
    outside.mkdir(parents=True)
    (outside / "status.json").write_text('{"state": "finished"}')
    (results / "elsewhere").symlink_to(outside.parent)  # a study that is a link out
    assert c.post("/api/runs/elsewhere/run/delete", headers=signed).status_code == 404
    assert outside.is_dir()


def test_the_run_page_shows_its_tags_and_note(results: Path) -> None:
    c = client(results)
    c.put(
        f"/api/runs/study/{OLD}/meta", json={"tags": ["best-so-far"], "note": "wide <b>layers</b>"}
    )
    page = c.get(f"/runs/study/{OLD}").text
    assert '<a class="tag" href="/?tag=best-so-far">best-so-far</a>' in page
    assert "wide &lt;b&gt;layers&lt;/b&gt;" in page  # the note as text, escaped
    detail = c.get(f"/api/runs/study/{OLD}").json()  # what run.js renders on each change
    assert detail["tags"] == ["best-so-far"] and detail["note"] == "wide <b>layers</b>"
