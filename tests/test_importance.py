"""Which hyperparameters mattered: on synthetic trials where one parameter alone decides the
score, fANOVA names it, on the command line, as JSON and in report.html."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hpsearch.cli import dispatch
from hpsearch.files import write_csv
from hpsearch.report.html import write_report
from hpsearch.report.importance import importances, table
from hpsearch.rundir.read import load_run
from hpsearch.study.trials import TrialRecord, trials_dataframe

SPACE = """
[space]
n_hidden = { low = 1, high = 3 }
n_neurons = [32, 64, 128]
activation = ["relu", "gelu"]
learning_rate = { low = 1e-4, high = 1e-1, log = true }
optimizer = "adam"
"""


def make_run(tmp_path, decider: str, n: int = 40, engines=("sklearn", "optuna")):
    """Trials whose score is a function of `decider` alone (plus a little noise)."""
    rng = np.random.default_rng(1)
    records = []
    for engine in engines:
        for i in range(n):
            params = {
                "n_hidden": int(rng.integers(1, 4)),
                "n_neurons": int(rng.choice([32, 64, 128])),
                "activation": str(rng.choice(["relu", "gelu"])),
                "learning_rate": float(10 ** rng.uniform(-4, -1)),
                "optimizer": "adam",
            }
            signal = {
                "learning_rate": -abs(np.log10(params["learning_rate"]) + 2.5),
                "activation": 1.0 if params["activation"] == "gelu" else 0.0,
            }[decider]
            records.append(
                TrialRecord(
                    engine=engine,
                    trial=f"{i:03d}",
                    status="ok" if i != 3 else "failed",
                    params=params,
                    metric="val_accuracy",
                    direction="maximize",
                    val_score=float(signal + rng.normal(0, 0.01)) if i != 3 else float("nan"),
                )
            )
    run_dir = tmp_path / "study" / "run"
    run_dir.mkdir(parents=True)
    write_csv(run_dir / "trials.csv", trials_dataframe(records))
    (run_dir / "study.toml").write_text('[study]\ndataset = "fashion_mnist"\n' + SPACE)
    (run_dir / "run.json").write_text(json.dumps({"study": "study"}))
    return run_dir


@pytest.mark.parametrize("decider", ["learning_rate", "activation"])
def test_the_parameter_that_decides_the_score_comes_first(tmp_path, decider):
    found = importances(load_run(make_run(tmp_path, decider)))
    assert set(found) == {"sklearn", "optuna"}
    for engine, shares in found.items():
        assert set(shares) == {"n_hidden", "n_neurons", "activation", "learning_rate"}  # varied
        assert next(iter(shares)) == decider and shares[decider] > 0.6, (engine, shares)
        assert sum(shares.values()) == pytest.approx(1.0, abs=1e-6)


def test_too_few_trials_give_none(tmp_path):
    assert importances(load_run(make_run(tmp_path, "activation", n=4))) == {}


def test_the_command_line_and_the_report_show_them(tmp_path, capsys):
    run_dir = make_run(tmp_path, "learning_rate")
    assert dispatch(["importance", str(run_dir), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert next(iter(shown["optuna"])) == "learning_rate"
    assert dispatch(["importance", str(run_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["engine", "parameter", "importance"]
    assert lines[1].split()[:2] == ["sklearn", "learning_rate"]
    html = write_report(run_dir).read_text()
    section = html[html.index("Which hyperparameters mattered") : html.index("Learning curves")]
    first = table(importances(load_run(run_dir))).iloc[0]
    assert "fANOVA" in section and "Not enough" not in section
    assert first["parameter"] in section and f"{first['importance']:.4g}"[:4] in section


def test_the_run_page_api_answers_them_and_the_page_has_their_table(tmp_path):
    from test_serve_api import client

    make_run(tmp_path, "activation")
    c = client(tmp_path)
    reply = c.get("/api/runs/study/run/importance")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["note"] == "" and body["run"] == "study/run"
    assert {r["engine"] for r in body["rows"]} == {"sklearn", "optuna"}
    assert {r["parameter"] for r in body["rows"] if r["importance"] > 0.6} == {"activation"}
    page = c.get("/runs/study/run")
    assert page.status_code == 200 and 'id="importance-table"' in page.text
    assert c.get("/api/runs/study/nope/importance").status_code == 404
    few = tmp_path / "few"
    make_run(few, "activation", n=4)
    body = client(few).get("/api/runs/study/run/importance").json()
    assert body["rows"] == [] and body["note"].startswith("not enough finished trials yet")
