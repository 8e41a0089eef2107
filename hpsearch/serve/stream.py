"""A run's live updates pushed to its pages (Server-Sent Events) in place of polling.

Polling cost the study ~1.4 ms of server CPU a request whether or not anything had changed
(benchmarks/serve_load.py: +11% under 50 readers with ETags and 304s). Here one watcher per
run, shared by all its pages, looks at the run's files once a second on a worker thread;
when an answer changed it is encoded once and the same bytes go to every page. A page costs
the server nothing between changes.

The events: `detail`, `trials`, `histories` and `importance`, each the JSON its GET route
answers, sent when it differs from what that page was last sent; `end` (data: the state) once
the run is no longer queued or running, after which the stream closes (a finished run sends
its answers once; an interrupted one is watched by the page's slow check, which reopens the
stream when it is resumed). Each event's `id` is the ETags it leaves the page holding, so a
page reconnecting with Last-Event-ID is sent only what changed while it was away.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from hpsearch.serve import runs

KINDS = ("detail", "trials", "histories", "importance")
LIVE = ("running", "queued")
WATCH_S = 1.0  # how often a watched run's files are looked at (one stat each when unchanged)
IMPORTANCE_S = 15.0  # fANOVA takes a second or two: recomputed at most this often while live
KEEPALIVE_S = 15.0  # a comment line this often: proxies keep the stream, dead pages are found
RETRY_MS = 2000  # how soon a browser reconnects after the stream broke

# read(with_importance) -> the run's state and its answers by kind
Reader = Callable[[bool], tuple[str, dict[str, runs.Encoded]]]


def event(kind: str, body: bytes, ident: str | None = None) -> bytes:
    """One Server-Sent Event; `body` is compact JSON (no line breaks)."""
    head = f"event: {kind}\n" + (f"id: {ident}\n" if ident is not None else "")
    return head.encode() + b"data: " + body + b"\n\n"


class Watch:
    """One run watched for all of its pages: its answers, encoded once per change."""

    def __init__(self, read: Reader) -> None:
        """`read(with_importance)`: the run's state and answers now (blocking: on a thread)."""
        self.read, self.pages = read, 0
        self.answers: dict[str, runs.Encoded] = {}
        self.state = ""
        self.version = 0
        self.changed = asyncio.Event()  # replaced by a new one at each change
        self.task: asyncio.Task[None] | None = None
        self.closing = False
        self._importance_at = -IMPORTANCE_S

    async def run(self, on_idle: Callable[[], None]) -> None:
        """Look at the run's files while any page follows it."""
        try:
            while self.pages and not self.closing:
                now = time.monotonic()
                due = now - self._importance_at >= IMPORTANCE_S
                state, answers = await asyncio.to_thread(self.read, due)
                if "importance" in answers:
                    self._importance_at = now
                new = {k: v for k, v in answers.items() if self.answers.get(k) != v}
                if new or state != self.state:
                    self.answers.update(new)
                    self.state = state
                    self.wake()
                await asyncio.sleep(WATCH_S)
        finally:
            on_idle()
            self.wake()

    def wake(self) -> None:
        self.version += 1
        woken, self.changed = self.changed, asyncio.Event()
        woken.set()


class Streams:
    """The watched runs of one service; `close()` ends every stream (the server stopping)."""

    def __init__(self) -> None:
        self.watches: dict[Path, Watch] = {}
        self.closing = False
        self.loop: asyncio.AbstractEventLoop | None = None

    def close(self) -> None:
        """End every stream and watcher (on the event loop's thread)."""
        self.closing = True
        for watch in list(self.watches.values()):
            watch.closing = True
            watch.wake()

    def close_soon(self) -> None:
        """`close()` from a signal handler or another thread: an open stream would otherwise
        hold the server's graceful shutdown until its timeout."""
        self.closing = True
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.close)

    async def follow(
        self,
        run_dir: Path,
        read: Reader,
        held: str = "",
    ) -> AsyncIterator[bytes]:
        """The event stream of one page: what changed since `held` (a Last-Event-ID), then each
        change, until the run is no longer live or the server stops."""
        self.loop = asyncio.get_running_loop()
        watch = self.watches.get(run_dir)
        if watch is None or watch.task is None or watch.task.done():
            watch = self.watches[run_dir] = Watch(read)
        watch.pages += 1
        if watch.task is None:
            watch.task = asyncio.create_task(watch.run(lambda: self._idle(run_dir, watch)))
        sent = dict(zip(KINDS, held.split(","), strict=False))
        try:
            yield f"retry: {RETRY_MS}\n\n".encode()
            seen = 0
            while not (self.closing or watch.closing):
                if watch.version == seen:
                    try:
                        await asyncio.wait_for(watch.changed.wait(), KEEPALIVE_S)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                    continue
                seen = watch.version
                for kind in KINDS:
                    answer = watch.answers.get(kind)
                    if answer is not None and sent.get(kind) != answer.etag:
                        sent[kind] = answer.etag
                        yield event(kind, answer.body, ",".join(sent.get(k, "") for k in KINDS))
                if watch.state and watch.state not in LIVE:
                    yield event("end", runs.encode(watch.state))
                    return
        finally:
            watch.pages -= 1

    def _idle(self, run_dir: Path, watch: Watch) -> None:
        if self.watches.get(run_dir) is watch:
            del self.watches[run_dir]


def reader(detail: Callable[[], dict[str, Any]], run_dir: Path) -> Reader:
    """What a watcher reads of one run: the detail first (a run that reads as ended has its
    final tables on disk already), then its tables, and the importances when due or final."""

    def read(with_importance: bool) -> tuple[str, dict[str, runs.Encoded]]:
        found = detail()
        state = str(found.get("state", ""))
        answers = {
            "detail": runs.encoded(found),
            "trials": runs.trials(run_dir),
            "histories": runs.histories(run_dir),
        }
        if with_importance or state not in LIVE:
            answers["importance"] = runs.importance(run_dir)
        return state, answers

    return read
