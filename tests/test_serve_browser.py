"""`hpsearch serve` in a real headless Chromium (Debian's, driven by Playwright): a tiny study
submitted from the page, watched live, stopped, resumed, the server killed with kill -9 and
started again, the study finished, its best model downloaded, and compared with an earlier run.

CI installs Chromium and sets HPSEARCH_REQUIRE_CHROMIUM: there this never skips.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from test_report import make_run

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.data,
    pytest.mark.skipif(CHROMIUM is None and not os.environ.get("HPSEARCH_REQUIRE_CHROMIUM"),
                       reason="chromium not installed (apt-get install chromium)"),
]
STUDY = """[study]
name = "tiny"
dataset = "california_housing"
engines = ["optuna"]
seed = 3
max_train_samples = 600
max_eval_samples = 200

[train]
epochs = 4
batch_size = 64

[space]
n_hidden = { low = 1, high = 2 }
n_neurons = [16, 32]

[optuna]
n_trials = 12
"""
WAIT = 120_000  # ms: a slow machine starts a training process in ~10 s


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(results: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "hpsearch", "serve", str(results), "--port", str(port)],
                            cwd=ROOT, start_new_session=True, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/runs", timeout=2).read()
            return proc
        except OSError:
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.3)
    raise AssertionError("serve did not answer within 60 s")


def _api(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as reply:
        return json.loads(reply.read())


def _wait(condition, what: str, seconds: float = WAIT / 1000) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def test_submit_watch_stop_resume_survive_kill_compare_download(tmp_path: Path) -> None:
    if os.environ.get("HPSEARCH_REQUIRE_CHROMIUM"):  # CI: never skipped
        import playwright.sync_api as sync_api
    else:
        sync_api = pytest.importorskip("playwright.sync_api")
    results = tmp_path / "results"
    make_run(results, "20260101-100000-aaaa", task="regression")  # the earlier run to compare with
    port = _free_port()
    server = _serve(results, port)
    base = f"http://127.0.0.1:{port}"
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            # submit from the page
            page.goto(base + "/")
            page.fill("#study-text", STUDY)
            page.click("#submit-study")
            page.wait_for_selector("#submit-result:has-text('queued')", timeout=10_000)
            row = page.wait_for_selector('#runs-table tr[data-run^="tiny/"]', timeout=WAIT)
            run = row.get_attribute("data-run")
            page.goto(f"{base}/runs/{run}")
            marker = page.evaluate("performance.timeOrigin")  # a reload starts a new document

            # a trial row and a plot point appear while it trains, without a reload
            page.wait_for_selector("#trials-table tbody tr[data-trial]", timeout=WAIT)
            # (selectors, not wait_for_function: the pages' CSP forbids eval)
            page.wait_for_selector("#plot-progress:not([data-points='0'])", timeout=WAIT)
            # the web server yields the CPU to the study: its threads run at a lower priority
            (record,) = [json.loads(f.read_text()) for f in (results / ".queue").glob("*.json")]
            ours = os.getpriority(os.PRIO_PROCESS, 0)
            assert os.getpriority(os.PRIO_PROCESS, server.pid) == min(ours + 10, 19)
            assert os.getpriority(os.PRIO_PROCESS, record["pid"]) == ours
            page.click("#stop-button")
            page.wait_for_selector("#run-state:has-text('interrupted')", timeout=WAIT)
            stopped = _api(port, f"/api/runs/{run}")["trials_done"]
            assert 1 <= stopped < 12

            page.click("#resume-button")
            page.wait_for_selector("#run-state:has-text('running')", timeout=WAIT)
            _wait(lambda: _api(port, f"/api/runs/{run}")["trials_done"] > stopped, "a resumed trial")
            queued = json.loads(urllib.request.urlopen(urllib.request.Request(
                f"{base}/api/studies?filename=second.toml", data=STUDY.replace('"tiny"', '"second"').encode(),
                headers={"Content-Type": "application/toml"}), timeout=10).read())["job"]

            # the server dies mid-trial; started again, it resumes the study and keeps the queue
            before = pd.read_csv(results / run / "trials.csv", dtype={"trial": str})
            os.kill(server.pid, signal.SIGKILL)
            server.wait()
            server = _serve(results, port)
            jobs = {j["id"]: j for j in _api(port, "/api/jobs")}
            assert jobs[queued["id"]]["state"] == "queued"
            runs_page = browser.new_page()  # cancel it from the runs page, in a second tab
            runs_page.goto(base + "/")
            runs_page.click(f'button.cancel-job[data-job="{queued["id"]}"]')
            _wait(lambda: _api(port, "/api/jobs")[0]["state"] == "cancelled", "the cancel", 30)
            page.wait_for_selector("#run-state:has-text('finished')", timeout=2 * WAIT)
            assert page.evaluate("performance.timeOrigin") == marker
            after = pd.read_csv(results / run / "trials.csv", dtype={"trial": str})
            assert len(after) == 12 and after["trial"].is_unique and after["status"].isin(["ok", "pruned"]).all()
            kept = before.merge(after, on="trial", suffixes=("", "_after"))
            assert len(kept) == len(before) and (kept["val_score"] == kept["val_score_after"]).all()
            page.wait_for_selector("#trials-table tbody tr[data-trial] >> nth=11", timeout=30_000)
            shot = page.screenshot(full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": 1700})
            assert shot[:4] == b"\x89PNG"
            if os.environ.get("HPSEARCH_SCREENSHOTS"):  # the README's picture
                (Path(os.environ["HPSEARCH_SCREENSHOTS"]) / "serve-run-page.png").write_bytes(shot)

            # download the best model from the page's link
            link = page.wait_for_selector("#downloads a[href$='best/optuna.keras']", timeout=30_000)
            model = page.request.get(base + link.get_attribute("href"))
            assert model.status == 200 and model.body()[:2] == b"PK"  # a .keras file is a zip

            # compare it with the earlier run
            page.goto(base + "/")
            page.check(f'input.compare-pick[value="{run}"]')
            page.check('input.compare-pick[value="study/20260101-100000-aaaa"]')
            page.click("#compare-button")
            page.wait_for_selector("#compare-table tbody tr >> nth=2", timeout=30_000)  # 1 + 2 engines
            page.wait_for_selector("#plot-compare-progress .main-svg", timeout=30_000)
            assert not errors, errors
            browser.close()
        server.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop
        assert server.wait(timeout=60) == 0
        assert server.stderr.read().strip().endswith("hpsearch serve: stopped")
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
