"""The run page's push stream (GET /api/runs/ID/events): each answer sent as it changes, one
watcher for all the pages of a run, the stream ended with the run and with the server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from hpsearch.serve import runs, stream

from test_serve_api import client, two_runs

FINISHED, KILLED = "study/20260102-100000-bbbb", "study/20260101-100000-aaaa"


def parse(text: str) -> list[dict[str, str]]:
    """Server-Sent Events as {event, id, data}; comment lines (keep-alives) dropped."""
    events = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            name, _, value = line.partition(": ")
            if name in ("event", "id", "data", "retry"):
                fields[name] = value
        if "event" in fields:
            events.append(fields)
    return events


@pytest.mark.parametrize(("run", "state"), [(FINISHED, "finished"), (KILLED, "interrupted")])
def test_a_run_that_is_not_live_sends_its_answers_once_then_ends(
    tmp_path: Path, run: str, state: str
) -> None:
    c = client(two_runs(tmp_path))
    got = c.get(f"/api/runs/{run}/events")
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/event-stream")
    events = parse(got.text)
    assert [e["event"] for e in events] == ["detail", "trials", "histories", "importance", "end"]
    for e in events[:-1]:  # each the JSON of its own GET route
        route = f"/api/runs/{run}" + ("" if e["event"] == "detail" else f"/{e['event']}")
        assert json.loads(e["data"]) == c.get(route).json(), e["event"]
    assert json.loads(events[-1]["data"]) == state
    # a page reconnecting with what it holds is sent nothing again
    again = parse(
        c.get(f"/api/runs/{run}/events", headers={"Last-Event-ID": events[-2]["id"]}).text
    )
    assert [e["event"] for e in again] == ["end"]


def test_head_answers_at_once_even_for_a_live_run(tmp_path: Path) -> None:
    c = client(two_runs(tmp_path))
    assert c.post(f"/api/runs/{KILLED}/resume").status_code == 201  # queued: the queue is idle
    assert c.get(f"/api/runs/{KILLED}").json()["state"] == "queued"
    head = c.head(f"/api/runs/{KILLED}/events")  # a GET would follow the run until it ends
    assert head.status_code == 200 and head.text == ""
    assert head.headers["content-type"].startswith("text/event-stream")


def test_an_unknown_run_is_a_404_line(tmp_path: Path) -> None:
    got = client(two_runs(tmp_path)).get("/api/runs/study/nope/events")
    assert got.status_code == 404
    assert "no run study/nope" in got.json()["error"]


class FakeRun:
    """A run whose state and trials a test changes; counts how often it is read."""

    def __init__(self) -> None:
        self.state, self.trials, self.reads = "running", 0, 0

    def read(self, with_importance: bool) -> tuple[str, dict[str, runs.Encoded]]:
        self.reads += 1
        return self.state, {
            "detail": runs.encoded({"state": self.state}),
            "trials": runs.encoded({"trials": self.trials}),
        }


async def _collect(events, out: list[tuple[str, object]]) -> None:
    async for chunk in events:
        for e in parse(chunk.decode()):
            out.append((e["event"], json.loads(e["data"])))


def test_one_watcher_serves_every_page_and_the_stream_ends_with_the_run(monkeypatch) -> None:
    monkeypatch.setattr(stream, "WATCH_S", 0.05)
    run, streams, path = FakeRun(), stream.Streams(), Path("/results/study/run")

    async def scenario() -> tuple[list, list, int]:
        pages: tuple[list, list] = ([], [])
        tasks = [asyncio.create_task(_collect(streams.follow(path, run.read), p)) for p in pages]
        await asyncio.sleep(0.5)  # ~10 looks at the run
        assert len(streams.watches) == 1  # one watcher for both pages
        run.trials = 1
        await asyncio.sleep(0.3)
        run.state = "finished"
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        return pages[0], pages[1], run.reads

    first, second, reads = asyncio.run(scenario())
    expected = [
        ("detail", {"state": "running"}),
        ("trials", {"trials": 0}),
        ("trials", {"trials": 1}),  # sent once, when it changed
        ("detail", {"state": "finished"}),
        ("end", "finished"),
    ]
    assert first == second == expected
    # the files were read once per look for both pages together, not once per page
    assert 10 <= reads <= 25, reads
    assert streams.watches == {}  # the watcher went with its last page


def test_closing_ends_every_stream(monkeypatch) -> None:
    """The server stopping (Ctrl-C) ends the streams at once, not at uvicorn's grace timeout."""
    monkeypatch.setattr(stream, "WATCH_S", 0.05)
    run, streams = FakeRun(), stream.Streams()

    async def scenario() -> list:
        page: list = []
        task = asyncio.create_task(_collect(streams.follow(Path("/r/s/a"), run.read), page))
        await asyncio.sleep(0.2)
        streams.close_soon()
        await asyncio.wait_for(task, 2)
        return page

    assert [kind for kind, _ in asyncio.run(scenario())] == ["detail", "trials"]
