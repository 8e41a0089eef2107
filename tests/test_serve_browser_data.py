"""The runs page's "Your data" panel in a real headless Chromium (see test_serve_browser.py):
a small CSV uploaded, its target and one engine chosen, a tiny budget set, the study's TOML
seen, submitted, and its run followed to a finished page with a test score."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import test_serve_browser
from test_serve_browser import CHROMIUM, Problems, _free_port, _serve

from conftest import DATA_DIR

pytestmark = test_serve_browser.pytestmark  # needs the datasets' folder and chromium
WAIT = 120_000  # ms


def test_upload_a_csv_choose_its_target_submit_and_see_the_run(tmp_path: Path) -> None:
    if os.environ.get("HPSEARCH_REQUIRE_CHROMIUM"):  # CI: never skipped
        import playwright.sync_api as sync_api
    else:
        sync_api = pytest.importorskip("playwright.sync_api")
    mine = tmp_path / "mine"  # the user's own folder, outside the server's
    mine.mkdir()
    birds = mine / "little penguins.csv"  # a name the page cleans: little-penguins.csv
    pd.read_csv(DATA_DIR / "penguins" / "penguins.csv").iloc[::4].to_csv(birds, index=False)
    data = tmp_path / "data"
    port = _free_port()
    server = _serve(tmp_path / "results", port, "--data-dir", str(data))
    base = f"http://127.0.0.1:{port}"
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            problems = Problems()
            page = problems.watch(browser.new_page(viewport={"width": 1280, "height": 900}))
            page.goto(base + "/")
            page.wait_for_selector("#data-empty:not([hidden])")
            page.set_input_files("#data-file", str(birds))
            page.wait_for_selector("#data-upload-result:has-text('uploaded little-penguins.csv')")
            assert (data / "little-penguins.csv").read_bytes() == birds.read_bytes()
            row = page.locator('#data-table tr[data-file="little-penguins.csv"]')
            assert row.locator("td").nth(3).inner_text() == "86"  # rows
            page.wait_for_selector("#data-form:not([hidden])")  # the uploaded file is chosen
            assert page.locator("#data-preview tbody tr").count() == 5
            assert page.locator("#data-preview thead th").first.inner_text().startswith("species")

            page.select_option("#data-target", "species")
            for box in page.locator("input.data-engine").all():
                box.set_checked(box.get_attribute("value") == "optuna")
            page.fill("#data-epochs", "1")
            page.fill("#data-trials", "1")
            toml = page.inner_text("#data-toml")
            assert 'engines = ["optuna"]' in toml and 'target = "species"' in toml
            assert f'train = "{(data / "little-penguins.csv").resolve()}"' in toml
            assert "epochs = 1" in toml and "[optuna]\nn_trials = 1" in toml
            assert "[sklearn]" not in toml and "[keras_tuner]" not in toml

            page.click("#data-submit")
            page.wait_for_selector("#data-submit-result:has-text('queued as job')")
            page.click("#data-run-link", timeout=WAIT)
            page.wait_for_selector("#run-state:has-text('finished')", timeout=WAIT)
            assert page.inner_text("#run-dataset") == "little-penguins.csv"
            page.wait_for_selector("#summary-table tbody tr", timeout=10_000)
            summary = page.inner_text("#summary-table")
            assert "optuna" in summary and "test_accuracy" in summary, summary
            assert not problems.seen, problems.seen
            browser.close()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
