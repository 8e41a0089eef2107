"""MLflow tracking against a real `mlflow server` (SQLite store, artifacts served by it) that
the test starts on loopback, and against the file store: nested trial runs with their
params, curves and outcomes; a server killed mid-study, whose gap an export fills without
duplicates; the logged model predicting raw rows; one-line configuration errors."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType

from hpsearch.commands import cmd_validate
from hpsearch.errors import InputError, StudyError
from hpsearch.report.best import load_best
from hpsearch.run.runner import run_study
from hpsearch.serve.submit import check_submission
from hpsearch.study.config import load_study, parse_study
from hpsearch.study.trials import HISTORY_COLUMNS, TrialRecord, trials_dataframe
from hpsearch.track import mlflow as tracking
from hpsearch.track.background import Tracker
from hpsearch.track.mlflow_models import MODEL_URI_TAG

from conftest import DATA_DIR, ROOT

PENGUINS = DATA_DIR / "penguins" / "penguins.csv"
# Long enough (8 trials of 10 epochs) for the server to be killed while it trains.
STUDY = f"""
[study]
name = "tracked"
engines = ["sklearn", "optuna"]
seed = 3

[data]
train = "{PENGUINS}"
target = "species"
drop = ["year"]

[train]
epochs = 10
batch_size = 32

[space]
n_hidden = 1
n_neurons = [8, 16]
optimizer = "adam"
learning_rate = {{ low = 3e-3, high = 1e-2, log = true }}

[sklearn]
n_iter = 4
cv = "validation"

[optuna]
n_trials = 4
patience = 2
"""
RAW_ROWS = pd.DataFrame(
    {
        "species": ["ignored", "ignored", "ignored"],
        "island": ["Biscoe", "Dream", "Torgersen"],
        "bill_length_mm": [46.5, 49.0, 39.1],
        "bill_depth_mm": [14.8, float("nan"), 18.7],  # a missing value
        "flipper_length_mm": [217.0, 195.0, 181.0],
        "body_mass_g": [5200.0, 3800.0, 3750.0],
        "sex": ["female", "male", "male"],
        "year": [2008, 2009, 2007],  # a column the study drops
    }
)


class Server:
    """`mlflow server` on a free loopback port over a store that outlives it."""

    def __init__(self, store: Path) -> None:
        self.store, self.proc = store, None
        self.uri = ""

    def start(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.uri = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
             f"sqlite:///{self.store}/mlflow.db", "--artifacts-destination",
             str(self.store / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own group: uvicorn and the job runner die with it
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise AssertionError(f"mlflow server on {self.uri} did not answer in 120 s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def hpsearch(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """The CLI in a subprocess, with `env` over this one's environment (no tracking URI)."""
    base = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.run(
        [sys.executable, "-m", "hpsearch", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**base, "PYTHONPATH": str(ROOT), **env},
    )


def runs_of(uri: str, study: str, view: int = ViewType.ACTIVE_ONLY) -> tuple[list, list]:
    """(parent runs, trial runs) of a study's experiment."""
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(study)
    if experiment is None:
        return [], []
    runs = client.search_runs([experiment.experiment_id], run_view_type=view, max_results=1000)
    return (
        [r for r in runs if tracking.RUN_TAG in r.data.tags],
        [r for r in runs if tracking.TRIAL_TAG in r.data.tags],
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A study run with --mlflow whose server is killed after the first trials arrive, then
    started again on the same store and filled by `export mlflow`, twice."""
    tmp = tmp_path_factory.mktemp("served")
    (tmp / "store").mkdir()
    server = Server(tmp / "store")
    server.start()
    (tmp / "tracked.toml").write_text(STUDY)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MLFLOW_TRACKING_URI", None)
    started = time.monotonic()
    study = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hpsearch",
            "run",
            "tracked.toml",
            "--quiet",
            "--mlflow",
            server.uri,
        ],
        cwd=tmp,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        at_kill: list = []
        while not at_kill and study.poll() is None and time.monotonic() - started < 300:
            time.sleep(0.3)
            at_kill = runs_of(server.uri, "tracked")[1]
        server.kill()  # mid-study: the first trials are there, the rest still train
        out, err = study.communicate(timeout=600)
        server.start()  # the same store, a new port
        run_dir = out.strip().splitlines()[-1]
        # the server's URI from the environment first, then from --tracking-uri
        first = hpsearch("export", "mlflow", run_dir, cwd=tmp, MLFLOW_TRACKING_URI=server.uri)
        after_first = runs_of(server.uri, "tracked", ViewType.ALL)
        second = hpsearch("export", "mlflow", run_dir, "--tracking-uri", server.uri, cwd=tmp)
        yield {
            "tmp": tmp,
            "run_dir": tmp / run_dir,
            "code": study.returncode,
            "stderr": err,
            "stdout": out,
            "at_kill": at_kill,
            "exports": (first, second),
            "after_first": after_first,
            "uri": server.uri,
        }
    finally:
        study.kill()
        server.kill()


def test_live_run_shows_a_parent_with_nested_trials_params_curves_and_outcomes(served):
    assert served["code"] == 0, served["stderr"][-3000:]
    assert served["at_kill"], "no trial reached the server while the study ran"
    assert len(served["stdout"].splitlines()) == 1  # the run folder; no MLflow links
    parents, children = runs_of(served["uri"], "tracked")
    run_dir = served["run_dir"]
    trials = pd.read_csv(run_dir / "trials.csv", dtype={"trial": str})
    assert [p.data.tags[tracking.RUN_TAG] for p in parents] == [f"tracked/{run_dir.name}"]
    parent = parents[0]
    assert parent.info.status == "FINISHED" and parent.data.params["dataset"] == "penguins.csv"
    assert all(c.data.tags["mlflow.parentRunId"] == parent.info.run_id for c in children)
    by_key = {c.data.tags[tracking.TRIAL_TAG]: c for c in children}
    assert sorted(by_key) == sorted(
        f"{e}/{t}" for e, t in zip(trials.engine, trials.trial, strict=True)
    )
    client = MlflowClient(served["uri"])
    for row in trials.to_dict("records"):
        child = by_key[f"{row['engine']}/{row['trial']}"]
        assert child.data.tags["outcome"] == row["status"]
        assert float(child.data.params["learning_rate"]) == pytest.approx(
            row["param_learning_rate"]
        )
        assert child.data.params["n_neurons"] == str(row["param_n_neurons"])
        if row["engine"] == "optuna":  # one fit: its curves under their own names, step = epoch
            steps = [m.step for m in client.get_metric_history(child.info.run_id, "val_loss")]
            assert steps == list(range(1, int(row["epochs_run"]) + 1))
        if row["status"] == "ok":
            assert child.data.metrics["val_score"] == pytest.approx(row["val_score"])
    summary = pd.read_csv(run_dir / "summary.csv", dtype={"best_trial": str})
    for row in summary.to_dict("records"):
        assert parent.data.metrics[f"{row['engine']}.test_accuracy"] == pytest.approx(
            row["test_accuracy"]
        )
        best = by_key[f"{row['engine']}/{row['best_trial']}"]
        assert best.data.tags[tracking.BEST_TAG] == "true"
        assert best.data.metrics["test_accuracy"] == pytest.approx(row["test_accuracy"])
    names = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"trials.csv", "summary.csv", "report.html"} <= names
    sent = client.download_artifacts(parent.info.run_id, "trials.csv", str(served["tmp"]))
    assert Path(sent).read_bytes() == (run_dir / "trials.csv").read_bytes()  # the final one


def test_a_killed_server_costs_one_warning_and_export_fills_the_gap(served):
    assert served["code"] == 0, served["stderr"][-3000:]
    # hpsearch's own warnings (a library's Python warnings may come too)
    warnings = [line for line in served["stderr"].splitlines() if line.startswith("hpsearch: w")]
    assert len(warnings) == 1, served["stderr"][-3000:]
    assert "export mlflow" in warnings[0] and served["uri"].rsplit(":", 1)[0] in warnings[0]
    n_trials = len(pd.read_csv(served["run_dir"] / "trials.csv"))
    # the gap: trials that finished after the kill
    assert len(served["at_kill"]) < n_trials, served["stderr"][-3000:]
    first = served["exports"][0]
    assert first.returncode == 0, first.stderr[-2000:]
    parents, children = served["after_first"]  # deleted runs too
    active = [c for c in children if c.info.lifecycle_stage == "active"]
    assert len(parents) == 1 and len(active) == n_trials
    assert len({c.data.tags[tracking.TRIAL_TAG] for c in active}) == n_trials
    # a trial run is deleted (and logged again) only if the kill cut it off half-logged, or if
    # its record changed since (the sklearn engine adds its best trial's refit curve at its end)
    now = {c.data.tags[tracking.TRIAL_TAG]: c.data.tags[tracking.DIGEST_TAG] for c in active}
    for child in (c for c in children if c not in active):
        logged = child.data.tags.get(tracking.DIGEST_TAG)
        assert logged is None or logged != now[child.data.tags[tracking.TRIAL_TAG]]


def test_export_twice_adds_nothing(served):
    second = served["exports"][1]
    assert second.returncode == 0, second.stderr[-2000:]
    assert "0 trial runs, 0 artifacts, 0 models sent" in second.stderr
    parents, children = runs_of(served["uri"], "tracked", ViewType.ALL)
    before = served["after_first"]
    assert [r.info.run_id for r in parents] == [r.info.run_id for r in before[0]]
    assert sorted(r.info.run_id for r in children) == sorted(r.info.run_id for r in before[1])


def test_the_logged_model_predicts_raw_rows(served):
    parents, children = runs_of(served["uri"], "tracked")
    mlflow.set_tracking_uri(served["uri"])
    client = MlflowClient(served["uri"])
    for engine in ("sklearn", "optuna"):
        uri = parents[0].data.tags[MODEL_URI_TAG + engine]
        # on the best trial's run as it is now (not one deleted and logged again since)
        best = parents[0].data.tags[f"{tracking.BEST_TAG}.{engine}"]
        run = next(c for c in children if c.data.tags[tracking.TRIAL_TAG] == f"{engine}/{best}")
        assert (
            client.get_logged_model(uri.removeprefix("models:/")).source_run_id == run.info.run_id
        )
        model = mlflow.pyfunc.load_model(uri)
        assert model.metadata.get_input_schema().input_names()[0] == "island"
        predicted = list(model.predict(RAW_ROWS))
        assert set(predicted) <= {"Adelie", "Chinstrap", "Gentoo"}
        assert predicted == list(load_best(served["run_dir"], engine).predict(RAW_ROWS))


def test_file_store_from_the_study_file_and_a_resume_adds_no_duplicates(tmp_path, monkeypatch):
    # MLflow 3 keeps the file store only on request
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    text = STUDY.replace('engines = ["sklearn", "optuna"]', 'engines = ["sklearn"]')
    text = text.replace("epochs = 10", "epochs = 2").replace("n_iter = 4", "n_iter = 2")
    path = tmp_path / "tracked.toml"
    path.write_text(f'{text}\n[track]\nmlflow = "{uri}"\n')
    study = load_study(path)
    assert study.track == {"mlflow": uri}
    seen: list[int] = []  # trials in trials.csv each time the tracker is woken
    wake = Tracker.wake

    def counting(tracker: Tracker) -> None:
        table = tracker.run_dir / "trials.csv"
        seen.append(len(pd.read_csv(table)) if table.is_file() else 0)
        wake(tracker)

    monkeypatch.setattr(Tracker, "wake", counting)
    run_dir = run_study(study, output_dir=str(tmp_path / "results"), keep_state=True)
    assert seen[:3] == [0, 1, 2]  # at the start, then as each trial lands (live, not at the end)
    parents, children = runs_of(uri, "tracked")
    assert len(parents) == 1 and len(children) == 2
    assert parents[0].info.status == "FINISHED"
    # Resume the same run (as if it had been stopped before it finished): it continues the
    # same parent; no trial run is added twice.
    info = json.loads((run_dir / "run.json").read_text())
    del info["finished_at"]
    (run_dir / "run.json").write_text(json.dumps(info))
    run_study(study, resume=run_dir)
    again_parents, again_children = runs_of(uri, "tracked")
    assert [p.info.run_id for p in again_parents] == [p.info.run_id for p in parents]
    assert sorted(c.data.tags[tracking.TRIAL_TAG] for c in again_children) == [
        "sklearn/000",
        "sklearn/001",
    ]


def test_outcomes_and_a_changed_trial_are_logged_once_each(tmp_path, monkeypatch):
    """No training: a run folder written by hand, with a failed and a pruned trial and one of
    two fits; a trial whose record changes is logged again, its old run deleted."""
    monkeypatch.chdir(tmp_path)  # a sqlite: store keeps its artifacts in ./mlruns
    run_dir = tmp_path / "synthetic" / "20260101-000000-abcd"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"study": "synthetic", "seed": 1}))
    (run_dir / "status.json").write_text(json.dumps({"state": "finished", "engines": {}}))

    def trial(number: str, status: str, score: float, error: str = "") -> TrialRecord:
        params = {"learning_rate": 0.01, "n_neurons": 8}
        return TrialRecord("optuna", number, status, params, "val_accuracy", val_score=score,
                           error=error, started_at="2026-01-01T00:00:00+00:00",
                           finished_at="2026-01-01T00:00:05+00:00")  # fmt: skip

    def write(records: list[TrialRecord]) -> None:
        trials_dataframe(records).to_csv(run_dir / "trials.csv", index=False)

    history = [("optuna", "001", fit, epoch, "loss", 1.0 / epoch) for fit in ("0", "1")
               for epoch in (1, 2, 3)]  # fmt: skip
    pd.DataFrame(history, columns=HISTORY_COLUMNS).to_csv(run_dir / "histories.csv", index=False)
    write([trial("000", "failed", float("nan"), "loss became NaN"), trial("001", "ok", 0.8)])
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    assert tracking.sync(run_dir, uri).trials == 2
    write([trial("000", "failed", float("nan"), "loss became NaN"), trial("001", "pruned", 0.7)])
    assert tracking.sync(run_dir, uri).trials == 1  # only the trial that changed
    assert tracking.sync(run_dir, uri).trials == 0
    _, children = runs_of(uri, "synthetic", ViewType.ALL)
    active = {
        c.data.tags[tracking.TRIAL_TAG]: c for c in children if c.info.lifecycle_stage == "active"
    }
    assert len(children) == 3 and sorted(active) == ["optuna/000", "optuna/001"]
    failed, pruned = active["optuna/000"], active["optuna/001"]
    assert (failed.data.tags["outcome"], failed.info.status) == ("failed", "FAILED")
    assert failed.data.tags["error"] == "loss became NaN" and "val_score" not in failed.data.metrics
    assert (pruned.data.tags["outcome"], pruned.info.status) == ("pruned", "KILLED")
    assert pruned.data.metrics["val_score"] == 0.7
    client = MlflowClient(uri)
    for name in ("loss", "1/loss"):  # two fits: each one's curve apart, the first's plain
        steps = [(m.step, m.value) for m in client.get_metric_history(pruned.info.run_id, name)]
        assert sorted(steps) == [(1, 1.0), (2, 0.5), (3, 1.0 / 3)]
    # a fit added to the history (a refit at the engine's end): its rows only, nothing deleted
    refit = [("optuna", "001", "refit", epoch, "loss", 0.1) for epoch in (1, 2)]
    table = pd.DataFrame(history + refit, columns=HISTORY_COLUMNS)
    table.to_csv(run_dir / "histories.csv", index=False)
    assert tracking.sync(run_dir, uri).trials == 1
    assert tracking.sync(run_dir, uri).trials == 0
    assert len(runs_of(uri, "synthetic", ViewType.ALL)[1]) == 3
    assert len(client.get_metric_history(pruned.info.run_id, "loss")) == 3
    assert [m.step for m in client.get_metric_history(pruned.info.run_id, "refit/loss")] == [1, 2]
    # a trial run made twice (a live sync and an export at once): the next sync keeps one
    twice = {"mlflow.parentRunId": failed.data.tags["mlflow.parentRunId"]}
    client.create_run(failed.info.experiment_id, tags={**twice, tracking.TRIAL_TAG: "optuna/000"})
    tracking.sync(run_dir, uri)
    assert sorted(c.data.tags[tracking.TRIAL_TAG] for c in runs_of(uri, "synthetic")[1]) == [
        "optuna/000",
        "optuna/001",
    ]


def test_search_from_python_takes_track(tmp_path, monkeypatch):
    import hpsearch
    from hpsearch.run import runner

    given = []
    monkeypatch.setattr(runner, "run_study", lambda study, **kw: given.append(study) or tmp_path)
    frame = pd.read_csv(PENGUINS).head(60)
    hpsearch.search(frame, "species", output_dir=str(tmp_path), track={"mlflow": "http://h:1"})
    assert given[0].track == {"mlflow": "http://h:1"}


def test_configuration_errors_are_one_line(tmp_path, monkeypatch, capsys):
    base = f'[study]\nname = "t"\n[data]\ntrain = "{PENGUINS}"\ntarget = "species"\n'
    for extra, expected in (
        ('[track]\nmlfow = "http://x"\n', "track.mlfow: expected one of mlflow, tensorboard"),
        ('[track]\ntensorboard = ""\n', "track.tensorboard: expected a log folder"),
        ("[track]\nmlflow = 3\n", "track.mlflow: expected a string, got 3"),
        ('[track]\nmlflow = " "\n', "track.mlflow: expected a tracking URI"),
    ):
        with pytest.raises(StudyError) as caught:
            parse_study(base + extra, "t.toml")
        assert str(caught.value).startswith("t.toml:") and expected in str(caught.value)
        assert "\n" not in str(caught.value)
    # a bare --mlflow without MLFLOW_TRACKING_URI: exit 2, one line, nothing run
    (tmp_path / "t.toml").write_text(base)
    done = hpsearch("run", "t.toml", "--mlflow", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "hpsearch: error: --mlflow: expected a tracking URI, or MLFLOW_TRACKING_URI set, "
        "got neither"
    ]
    assert not (tmp_path / "results").exists()
    # `validate` says where a study is tracked, and refuses what `run` would
    (tmp_path / "v.toml").write_text(base + '[track]\nmlflow = "http://x:5000"\n')
    assert cmd_validate(argparse.Namespace(study=[str(tmp_path / "v.toml")])) == 0
    assert "tracked by mlflow at http://x:5000)" in capsys.readouterr().out
    # without mlflow installed: one line naming the extra, and no run folder
    monkeypatch.setattr(tracking, "installed", lambda: False)
    with pytest.raises(InputError, match=r'pip install "hpsearch\[mlflow\]"'):
        cmd_validate(argparse.Namespace(study=[str(tmp_path / "v.toml")]))
    with pytest.raises(InputError, match=r'pip install "hpsearch\[mlflow\]"'):
        run_study(parse_study(base + '[track]\nmlflow = "http://x"\n', "t.toml"),
                  output_dir=str(tmp_path / "results"))  # fmt: skip
    assert not (tmp_path / "results").exists()


def test_serve_refuses_tracking_in_submitted_studies_unless_allowed(tmp_path):
    text = f'{STUDY}\n[track]\nmlflow = "http://10.0.0.1:5000"\n'
    with pytest.raises(StudyError, match=r"^s.toml: track.mlflow: expected no tracking"):
        check_submission(text, "s.toml", tmp_path, [DATA_DIR])
    assert check_submission(text, "s.toml", tmp_path, [DATA_DIR], allow_cluster=True).track


def test_a_failing_or_slow_tracker_never_holds_the_run_and_warns_once(tmp_path):
    lines: list[str] = []

    def failing(run_dir: Path, where: str) -> None:
        lines.append(f"nice {os.getpriority(os.PRIO_PROCESS, threading.get_native_id())}")
        raise ConnectionError("refused")

    tracker = Tracker("mlflow", failing, tmp_path, "http://x", lines.append, pause=0.01)
    for _ in range(5):
        tracker.wake()
        time.sleep(0.02)
    tracker.close(wait=2)
    assert set(line for line in lines if line.startswith("nice")) == {"nice 19"}  # the lowest
    lines[:] = [line for line in lines if not line.startswith("nice")]
    assert len(lines) == 1 and "ConnectionError: refused" in lines[0]
    assert f"hpsearch export mlflow {tmp_path} --tracking-uri http://x" in lines[0]

    release = threading.Event()
    slow = Tracker("mlflow", lambda d, w: release.wait(30), tmp_path, "http://y", lines.append)
    started = time.monotonic()
    slow.wake()  # returns at once although the sync hangs
    slow.close(wait=0.5)
    assert time.monotonic() - started < 2
    assert len(lines) == 2 and "was still sending when the run ended" in lines[1]
    release.set()
