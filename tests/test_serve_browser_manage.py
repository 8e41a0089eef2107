"""Managing runs from the runs page in a real headless Chromium (see test_serve_browser.py):
a run deleted through its confirm step, found in the trash and restored, tagged and noted,
found with the search box and the tag filter, and the trash emptied after its own confirm;
no console error, no failed request. No study is trained (two made-up runs)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
import test_serve_browser
from test_serve_browser import CHROMIUM, Problems, _check_layout, _free_port, _serve

from hpsearch.serve.trash import TRASH

from test_report import make_run

pytestmark = test_serve_browser.pytestmark[1:]  # chromium only: no dataset is read
OLD, NEW = "20260101-100000-aaaa", "20260102-100000-bbbb"


def test_delete_restore_tag_and_search_runs_from_the_page(tmp_path: Path) -> None:
    if os.environ.get("HPSEARCH_REQUIRE_CHROMIUM"):  # CI: never skipped
        import playwright.sync_api as sync_api
    else:
        sync_api = pytest.importorskip("playwright.sync_api")
    results = tmp_path / "results"
    make_run(results, OLD)
    make_run(results, NEW, task="regression")
    port = _free_port()
    server = _serve(results, port)
    base = f"http://127.0.0.1:{port}"
    old_row, new_row = (f'#runs-table tr[data-run="study/{r}"]' for r in (OLD, NEW))
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            problems = Problems()
            page = problems.watch(browser.new_page(viewport={"width": 1280, "height": 900}))
            page.goto(base + "/")
            page.wait_for_selector(f"{old_row} button.delete-run")
            page.wait_for_selector("#trash-none:not([hidden])")

            # a delete asks first; Keep leaves the run alone
            page.click(f"{old_row} button.delete-run")
            page.wait_for_selector(f"{old_row}:has-text('Move to the trash?')")
            assert (results / "study" / OLD).is_dir()
            page.click(f"{old_row} button.keep-run")
            page.wait_for_selector(f"{old_row} button.delete-run")
            page.click(f"{old_row} button.delete-run")
            page.click(f"{old_row} button.confirm-delete")
            page.wait_for_selector(f"#manage-result:has-text('moved study/{OLD} to the trash')")
            page.wait_for_selector(old_row, state="detached")
            assert (results / TRASH / "study" / OLD).is_dir()
            assert not (results / "study" / OLD).exists()

            # found in the trash, restored, back in the list
            restore = f'#trash-table tr[data-run="study/{OLD}"] button.restore-run'
            page.click(restore)
            page.wait_for_selector(f"#trash-result:has-text('restored study/{OLD}')")
            page.wait_for_selector(old_row)
            page.wait_for_selector("#trash-none:not([hidden])")
            assert (results / "study" / OLD).is_dir()

            # tagged and noted
            page.click(f"{old_row} button.edit-meta")
            page.wait_for_selector("#meta-form:not([hidden])")
            page.fill("#meta-tags", "baseline, wide")
            page.fill("#meta-note", "Two wide layers")
            page.click("#meta-save")
            page.wait_for_selector("#meta-form", state="hidden")
            page.wait_for_selector(f"{old_row} .tag:has-text('wide')")
            assert page.locator(f"{old_row} .run-note").inner_text() == "Two wide layers"

            # found through the search box and the tag filter, without a reload
            page.evaluate("window.notReloaded = true")
            page.fill("#runs-q", "layers")
            page.wait_for_selector(new_row, state="detached")
            assert page.locator("#runs-table tbody tr").count() == 1
            assert page.inner_text("#runs-count") == "1 of 2 runs"
            assert "q=layers" in page.url
            page.fill("#runs-q", "")
            page.wait_for_selector(new_row)
            page.select_option("#runs-tag", "baseline")
            page.wait_for_selector(new_row, state="detached")
            page.wait_for_selector(old_row)
            page.select_option("#runs-tag", "")
            page.wait_for_selector(new_row)
            assert page.evaluate("window.notReloaded") is True
            _check_layout(page, "#runs-table")  # the last column is in view, unscrolled

            # the trash emptied for good, after its own confirm step
            page.click(f"{new_row} button.delete-run")
            page.click(f"{new_row} button.confirm-delete")
            page.wait_for_selector(f'#trash-table tr[data-run="study/{NEW}"]')
            page.click("#trash-empty-button")
            page.wait_for_selector("#trash-empty-confirm")
            assert (results / TRASH / "study" / NEW).is_dir()
            page.click("#trash-empty-confirm")
            page.wait_for_selector("#trash-result:has-text('removed 1 run(s) for good')")
            assert not (results / TRASH / "study" / NEW).exists()
            assert not problems.seen, problems.seen
            browser.close()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
