"""The engine seam, proven from outside: a toy engine (tests/toy/toy_engine.py) registered only
through an entry point of its own distribution runs through `run`, `status`, `report`,
`compare`, kill -9 then `resume`, a `worker` refusal and a `serve` submission. Nothing in
hpsearch names it; without its entry point the study is refused."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from test_durability import _kill_after, _last_dir

from conftest import ROOT, run_cli, write_study

pytestmark = pytest.mark.data
TOY = Path(__file__).parent / "toy"


def install_toy(site: Path) -> None:
    """The toy's distribution metadata, as pip would write it: its entry point and nothing else."""
    dist = site / "hpsearch_toy-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hpsearch-toy\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[hpsearch.engines]\ntoy = toy_engine:ENGINE\n")


@pytest.fixture()
def toy_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The toy installed for this test's processes and for this one (then forgotten again)."""
    from hpsearch import registry

    site = tmp_path / "site"
    install_toy(site)
    path = os.pathsep.join([str(ROOT), str(site), str(TOY)])
    monkeypatch.setenv("PYTHONPATH", path)  # run_cli passes os.environ on, PYTHONPATH replaced
    for folder in (str(TOY), str(site)):
        monkeypatch.syspath_prepend(folder)
    registry.reset()
    yield {"PYTHONPATH": path}
    registry.reset()


def toy_study(tmp_path: Path) -> Path:
    return write_study(
        tmp_path,
        "california_housing",
        ["toy"],
        n=3,
        name="toystudy",
        replace={"[sklearn]": "[toy]\nn_trials = 3\n\n[sklearn]"},
    )


def cli(*args: str, cwd: Path, env: dict[str, str]):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "hpsearch", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        timeout=600,
        env={**os.environ, **env},
    )


def test_an_engine_from_an_entry_point_runs_everywhere(tmp_path, toy_env):
    study = toy_study(tmp_path)
    out = tmp_path / "out"
    # run, killed after its first trial, then resumed
    command = ["run", str(study), "--output-dir", str(out)]
    run_dir, _ = _kill_after(command, tmp_path, out, "toy", 1, pythonpath=toy_env["PYTHONPATH"])
    assert not (run_dir / "summary.csv").exists()
    assert _last_dir(cli("resume", str(run_dir), cwd=tmp_path, env=toy_env)) == run_dir
    trials = pd.read_csv(run_dir / "trials.csv", dtype={"trial": str})
    assert trials["engine"].tolist() == ["toy"] * 3 and (trials["status"] == "ok").all()
    assert trials["trial"].tolist() == ["000", "001", "002"]
    summary = pd.read_csv(run_dir / "summary.csv")
    assert summary["engine"].tolist() == ["toy"] and summary["test_rmse"].item() > 0
    assert (run_dir / "best" / "toy.keras").is_file()

    status = cli("status", str(run_dir), cwd=tmp_path, env=toy_env)
    assert status.returncode == 0 and "toy" in status.stdout and "3/3" in status.stdout
    report = cli("report", str(run_dir), cwd=tmp_path, env=toy_env)
    assert report.returncode == 0, report.stderr[-2000:]
    assert "toy" in (run_dir / "report.html").read_text()

    second = _last_dir(cli("run", str(study), "--output-dir", str(out), cwd=tmp_path, env=toy_env))
    compared = cli("compare", str(run_dir), str(second), cwd=tmp_path, env=toy_env)
    assert compared.returncode == 0, compared.stderr[-2000:]
    assert compared.stdout.count("toy") >= 2  # a row per run

    # a worker joins a coordinator; the toy has none: refused in one line
    worker = cli(
        "worker",
        str(study),
        "--storage",
        "sqlite:///x.db",
        "--wait",
        "0",
        cwd=tmp_path,
        env=toy_env,
    )
    assert worker.returncode == 2 and "Traceback" not in worker.stderr
    assert worker.stderr.strip().splitlines()[-1].startswith("hpsearch: error:")

    # the service: a submitted toy study is accepted, the runs list shows the toy's best
    from hpsearch.serve.app import create_app

    client = TestClient(
        create_app(out, run_queue=False),
        base_url="http://127.0.0.1:8765",
        headers={"Content-Type": "application/toml"},
    )
    reply = client.post("/api/studies", content=study.read_text())
    assert reply.status_code == 201, reply.text
    runs = {r["id"]: r for r in client.get("/api/runs").json()["runs"]}
    assert runs[f"toystudy/{run_dir.name}"]["best"][0]["engine"] == "toy"
    assert "&#34;toy&#34;: &#34;#9467bd&#34;" in client.get("/").text  # its colour, for serve.js


def test_without_its_entry_point_the_toy_is_unknown(tmp_path):
    from hpsearch import registry

    registry.reset()
    proc = run_cli("validate", str(toy_study(tmp_path)), cwd=tmp_path)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert "toy: expected one of study, train, space" in last and "unknown key 'toy'" in last
