"""Live results, `status`, the best model kept and usable, `predict`, resume refusals.

Real small studies (both engines, both tasks) run once per module; the assertions share them.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, run_cli, write_study

pytestmark = pytest.mark.data
ENGINES = ("sklearn", "keras_tuner")
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
N_ROWS = 25  # rows given to `predict`


def _popen(args: list[str], cwd: Path, log: str) -> subprocess.Popen:
    """`python -m hpsearch ARGS` in the background, its output in cwd/log.{out,err}."""
    return subprocess.Popen(
        [sys.executable, "-m", "hpsearch", *args],
        cwd=cwd,
        env=ENV,
        stdout=open(cwd / f"{log}.out", "w"),
        stderr=open(cwd / f"{log}.err", "w"),
    )


def _counts(run_dir: Path) -> dict[str, int] | None:
    """Rows per engine in trials.csv (None before it exists); a torn file raises."""
    try:
        frame = pd.read_csv(run_dir / "trials.csv", dtype={"trial": str})
    except FileNotFoundError:
        return None
    from hpsearch.study.trials import COLUMNS

    assert list(frame.columns) == COLUMNS and frame["trial"].str.fullmatch(r"\d{3}").all()
    return {e: int((frame["engine"] == e).sum()) for e in ENGINES}


def _wait(proc: subprocess.Popen, log: Path, ready: Callable[[], Any]) -> Any:
    """Poll `ready()` every 50 ms until it is truthy; fail if `proc` ends or 300 s pass first."""
    deadline = time.time() + 300
    while not (found := ready()):
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(f"{proc.args} ended or timed out first: {log.read_text()[-2000:]}")
        time.sleep(0.05)
    return found


def _curves(run_dir: Path) -> dict[str, int]:
    """Trials per engine with rows in histories.csv (written as each trial finishes)."""
    try:
        frame = pd.read_csv(run_dir / "histories.csv", dtype={"trial": str})
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return {e: 0 for e in ENGINES}
    return {e: frame.loc[frame["engine"] == e, "trial"].nunique() for e in ENGINES}


def _status(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((run_dir / "status.json").read_text())
    except FileNotFoundError:
        return None


def _one_error(stderr: str) -> str:
    """stderr is exactly one `hpsearch: error:` line; return it."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hpsearch: error: "), stderr[-2000:]
    return lines[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Any]:
    """A fashion run (2 trials per engine) polled while it runs; a California run with
    --keep-state beside it. Both engines each."""
    tmp = tmp_path_factory.mktemp("runs")
    ca = write_study(tmp, "california_housing", list(ENGINES), n=1, name="ca")
    fm = write_study(
        tmp, "fashion_mnist", list(ENGINES), n=2, name="fm", replace={"cv = 2": 'cv = "validation"'}
    )
    ca_proc = _popen(
        ["run", str(ca), "--output-dir", str(tmp / "out"), "--keep-state", "--quiet"], tmp, "ca"
    )
    proc = _popen(["run", str(fm), "--output-dir", str(tmp / "out"), "--quiet"], tmp, "fm")
    observations, curves, torn, deadline = [], [], [], time.time() + 600
    while proc.poll() is None and time.time() < deadline:
        found = list((tmp / "out" / "fm").glob("*/run.json"))
        if found:
            run_dir = found[0].parent
            try:  # trials, status, trials again: the status must lie between the two
                seen = _curves(run_dir)  # before the status: rows seen while it says running
                before, status, after = _counts(run_dir), _status(run_dir), _counts(run_dir)
                if before is not None and status is not None:
                    observations.append((before, status, after))
                    curves.append((status, seen))
            except Exception as exc:  # a torn or half-written file
                torn.append(f"{type(exc).__name__}: {exc}")
        time.sleep(0.05)
    for p in (proc, ca_proc):
        if p.wait(timeout=600) != 0:
            pytest.fail((tmp / ("fm.err" if p is proc else "ca.err")).read_text()[-3000:])
    last = {n: Path((tmp / f"{n}.out").read_text().strip().splitlines()[-1]) for n in ("fm", "ca")}
    return {
        "fashion": last["fm"],
        "california": last["ca"],
        "observations": observations,
        "curves": curves,
        "torn": torn,
        "pid": proc.pid,
    }


def test_trials_and_status_are_live_and_whole(runs):
    observations = runs["observations"]
    assert not runs["torn"]
    running = [o for o in observations if o[1]["state"] == "running"]
    assert len(running) > 10
    agreeing: dict[str, set[int]] = {e: set() for e in ENGINES}
    totals = [sum(before.values()) for before, _, _ in observations]
    assert totals == sorted(totals)  # rows only ever grow
    for before, status, after in running:
        assert status["pid"] == runs["pid"] and status["host"] == socket.gethostname()
        datetime.fromisoformat(status["updated_at"])
        for e in ENGINES:
            done = status["engines"][e]["trials_done"]
            # trials.csv is written before status.json, each time a trial finishes
            assert before[e] - 1 <= done <= after[e]
            if before[e] == done == after[e]:
                agreeing[e].add(done)
    for e in ENGINES:  # trials appear one by one as they finish, not all at the end
        assert 1 in agreeing[e], (e, agreeing)
    for e in ENGINES:  # learning curves too: a trial's rows while its engine still runs
        assert any(
            status["engines"][e]["state"] == "running" and seen[e] >= 1
            for status, seen in runs["curves"]
        ), e
    final, rows = _status(runs["fashion"]), _counts(runs["fashion"])
    assert final["state"] == "finished"
    for e, engine in final["engines"].items():
        assert engine["state"] == "finished"
        assert engine["trials_done"] == engine["trials_planned"] == rows[e] == 2


def test_live_files_are_never_torn_under_concurrent_reads(tmp_path):
    """In-process: a reader polls while a thread reports 150 trials; every read parses."""
    from hpsearch.rundir.live import LiveRun
    from hpsearch.study.trials import TrialRecord, trial_id

    live = LiveRun(tmp_path, {}, {"sklearn": 150}, {"sklearn": ("accuracy", "maximize")})
    live.start_engine("sklearn")

    def record(i: int) -> TrialRecord:
        return TrialRecord(
            "sklearn",
            trial_id(i),
            "ok",
            {"n_hidden": i, "learning_rate": 1e-3},
            "accuracy",
            val_score=i / 1000,
            error="x" * 200,
        )

    live.on_trial(record(0))
    assert _counts(tmp_path)["sklearn"] == _status(tmp_path)["engines"]["sklearn"]["trials_done"]
    writer = threading.Thread(target=lambda: [live.on_trial(record(i)) for i in range(1, 150)])
    writer.start()
    reads = 0
    while writer.is_alive() or reads < 2:
        counts, status = _counts(tmp_path), _status(tmp_path)  # raise if torn
        assert status["state"] == "running" and counts["sklearn"] >= 1
        reads += 1
    writer.join()
    assert _counts(tmp_path)["sklearn"] == 150
    assert _status(tmp_path)["engines"]["sklearn"]["best_trial"] == "149"


def test_status_prints_a_table_and_json(runs):
    run_dir = runs["fashion"]
    summary = pd.read_csv(run_dir / "summary.csv").set_index("engine")
    proc = run_cli("status", str(run_dir), cwd=run_dir)
    assert proc.returncode == 0 and proc.stdout.splitlines()[0] == f"{run_dir}: finished"
    for e in ENGINES:
        row = next(line.split() for line in proc.stdout.splitlines() if line.split()[:1] == [e])
        assert row[1:3] == ["finished", "2/2"]
        assert f"{summary.loc[e, 'best_val_score']:.4g}" in row
    proc = run_cli("status", str(run_dir), "--json", cwd=run_dir)
    assert proc.returncode == 0 and json.loads(proc.stdout) == _status(run_dir)


def test_finished_run_keeps_best_models_and_drops_state_unless_asked(runs):
    for run_dir in (runs["fashion"], runs["california"]):
        for e in ENGINES:
            assert (run_dir / "best" / f"{e}.pkl").stat().st_size > 0
            assert (run_dir / "best" / f"{e}.keras").stat().st_size > 0
    assert not (runs["fashion"] / "state").exists()
    kept = runs["california"] / "state"  # run with --keep-state
    assert list(kept.glob("sklearn/fits/*/record.json")) and (kept / "keras_tuner").is_dir()


LOAD_SCRIPT = r"""
import json, sys, warnings
from pathlib import Path
import keras, numpy as np
import hpsearch, hpsearch.report.best
from hpsearch.data import load_dataset
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

args, out = json.loads(sys.argv[1]), {"same": hpsearch.load_best is hpsearch.report.best.load_best}
warnings.simplefilter("always")
caught = warnings.catch_warnings(record=True).__enter__()
for run_dir in map(Path, args["runs"]):
    study = hpsearch.load_study(run_dir / "study.toml")
    data = load_dataset(study)
    x, y, clf = data.x_test, data.y_test, study.task == "classification"
    rows = x[:args["n_rows"]]
    found = out[str(run_dir)] = {"task": study.task}
    for engine in ("sklearn", "keras_tuner"):
        model = hpsearch.load_best(run_dir, engine)
        pred, native = model.predict(x), keras.saving.load_model(run_dir / "best" / f"{engine}.keras")
        users = make_pipeline(FunctionTransformer(), model)  # a user's own pipeline around it
        r = found[engine] = {"rows": model.predict(rows).tolist(), "score": float(model.score(x, y)),
                             "in_user_pipeline": bool(np.array_equal(users.predict(x), pred))}
        if clf:
            proba, kp = model.predict_proba(x), native.predict(x, verbose=0)
            r.update(accuracy=float(np.mean(pred == y)), proba_shape=list(proba.shape),
                     keras_same=bool(np.array_equal(model.classes_[kp.argmax(1)], pred)
                                     and np.allclose(kp, proba, atol=1e-6)),
                     out=model.predict_proba(rows).tolist())
        else:
            r["rmse"] = float(np.sqrt(np.mean((y - pred.reshape(-1).astype(np.float64)) ** 2)))
            kp = native.predict(model[:-1].transform(x), verbose=0)
            r.update(keras_same=bool(np.allclose(kp.reshape(-1), pred.reshape(-1), atol=1e-5)),
                     out=r["rows"])
    default = hpsearch.load_best(run_dir)  # no engine named
    found["default_out"] = (default.predict_proba(rows) if clf else default.predict(rows)).tolist()
out["warnings"] = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
Path(args["output"]).write_text(json.dumps(out))
"""


@pytest.fixture(scope="module")
def loaded(runs, tmp_path_factory) -> dict[str, Any]:
    """What a fresh Python process gets from hpsearch.load_best on both runs."""
    output = tmp_path_factory.mktemp("loaded") / "loaded.json"
    args = {
        "runs": [str(runs["fashion"]), str(runs["california"])],
        "n_rows": N_ROWS,
        "output": str(output),
    }
    proc = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, json.dumps(args)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=output.parent,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(output.read_text())


def _summary(run_dir: Path) -> dict[str, dict[str, float]]:
    """summary.csv per engine, numbers parsed exactly (float() of the text)."""
    rows = csv.DictReader((run_dir / "summary.csv").read_text().splitlines())
    return {row["engine"]: row for row in rows}


@pytest.mark.parametrize("dataset", ["fashion", "california"])
def test_load_best_in_a_fresh_process_reproduces_the_test_score(runs, loaded, dataset):
    from hpsearch.report.best import choose_engine

    run_dir = runs[dataset]
    found, summary = loaded[str(run_dir)], _summary(run_dir)
    assert loaded["same"] and loaded["warnings"] == []
    for e in ENGINES:
        r = found[e]
        assert r["in_user_pipeline"] and r["keras_same"]  # .keras: the pipeline's own model
        if found["task"] == "classification":
            assert r["accuracy"] == float(summary[e]["test_accuracy"])  # exactly
            assert r["score"] == r["accuracy"] and r["proba_shape"] == [400, 10]
        else:
            assert r["rmse"] == float(summary[e]["test_rmse"])  # exactly
            # scikeras computes R² in float32 for score(); the summary's is float64
            assert r["score"] == pytest.approx(float(summary[e]["test_r2"]), rel=1e-6)
    # no engine named: the better best validation score (same metric, same direction)
    scores = {e: float(summary[e]["best_val_score"]) for e in ENGINES}
    pick = (min if summary["sklearn"]["direction"] == "minimize" else max)(scores, key=scores.get)
    assert choose_engine(run_dir) == pick
    assert found["default_out"] == found[pick]["out"]


@pytest.fixture
def cli(capsys) -> Callable[..., tuple[int, str, str]]:
    """The CLI in this process (`dispatch`), signal handlers restored afterwards."""
    from hpsearch.cli import dispatch

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    hook = sys.unraisablehook

    def call(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        rc = dispatch(list(argv))
        out, err = capsys.readouterr()
        return rc, out, err

    yield call
    for s, handler in saved.items():
        signal.signal(s, handler)
    sys.unraisablehook = hook


def test_predict_writes_the_loaded_models_predictions(runs, loaded, tmp_path, cli):
    from hpsearch.data import load_dataset
    from hpsearch.study.config import load_study

    fm, ca = runs["fashion"], runs["california"]
    x = load_dataset(load_study(fm / "study.toml")).x_test[:N_ROWS]
    with_header = tmp_path / "rows.csv"
    pd.DataFrame(x, columns=[f"pixel{i}" for i in range(784)]).to_csv(with_header, index=False)
    out = tmp_path / "pred.csv"
    rc, _, err = cli(
        "predict", str(fm), str(with_header), "--engine", "keras_tuner", "--output", str(out)
    )
    assert rc == 0 and err.startswith(f"wrote {N_ROWS} predictions of keras_tuner"), err
    table = pd.read_csv(out)
    assert table["prediction"].tolist() == loaded[str(fm)]["keras_tuner"]["rows"]
    np.testing.assert_allclose(
        table[[f"proba_{k}" for k in range(10)]].to_numpy(),
        loaded[str(fm)]["keras_tuner"]["out"],
        atol=1e-6,
    )
    no_header = tmp_path / "plain.csv"
    np.savetxt(no_header, x, delimiter=",", fmt="%.9g")
    rc, stdout, _ = cli("predict", str(fm), str(no_header))  # default engine, to stdout
    table = pd.read_csv(io.StringIO(stdout))
    assert rc == 0 and len(table) == N_ROWS
    np.testing.assert_allclose(
        table[[f"proba_{k}" for k in range(10)]].to_numpy(),
        loaded[str(fm)]["default_out"],
        atol=1e-6,
    )
    x_ca = load_dataset(load_study(ca / "study.toml")).x_test[:N_ROWS]
    np.save(tmp_path / "rows.npy", x_ca)
    rc, stdout, _ = cli("predict", str(ca), str(tmp_path / "rows.npy"), "--engine", "sklearn")
    got = pd.read_csv(io.StringIO(stdout))["prediction"].to_numpy(np.float32)
    assert rc == 0 and len(got) == N_ROWS
    np.testing.assert_array_equal(got, np.float32(loaded[str(ca)]["sklearn"]["rows"]))


def test_predict_refuses_bad_input_with_one_line(runs, tmp_path, cli):
    fm = runs["fashion"]
    (tmp_path / "narrow.csv").write_text("1,2,3\n4,5,6\n")
    (tmp_path / "words.csv").write_text(
        "\n".join([",".join(["0.5"] * 784), ",".join(["abc"] + ["0.5"] * 783)]) + "\n"
    )
    (tmp_path / "rows.txt").write_text("1,2,3\n")
    for name in ("narrow.csv", "words.csv", "missing.csv", "rows.txt"):
        rc, _, err = cli("predict", str(fm), str(tmp_path / name))
        assert rc == 2 and str(tmp_path / name) in _one_error(err), name
    proc = run_cli("predict", str(fm), str(tmp_path / "rows.txt"), "--engine", "nope", cwd=tmp_path)
    assert proc.returncode == 2 and "'nope'" in _one_error(proc.stderr)
    rc, _, err = cli("predict", str(tmp_path), str(tmp_path / "narrow.csv"))  # no models here
    assert rc == 2 and str(tmp_path) in _one_error(err)
    np.save(tmp_path / "rows.npy", np.zeros((2, 784), dtype=np.float32))
    for command in (("predict", str(fm), str(tmp_path / "rows.npy")), ("compare", str(fm))):
        rc, _, err = cli(*command, "--output", "/proc/nope/out.csv")  # an unusable output path
        assert rc == 2 and "/proc/nope/out.csv" in _one_error(err), command
    from hpsearch import load_best
    from hpsearch.errors import InputError

    with pytest.raises(InputError, match="expected a finished run with saved models") as info:
        load_best(tmp_path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("dataset", ["fashion_mnist", "california_housing"])
def test_sklearn_pipeline_survives_pickle_and_clone(tmp_path, dataset):
    from sklearn.base import clone

    from hpsearch import engines, load_study
    from hpsearch.model.mlp import build_model

    study = load_study(write_study(tmp_path, dataset, ["sklearn"], n=1))
    for pipeline in (
        engines.get("sklearn").pipeline(study),
        engines.get("sklearn").pipeline(study, tmp_path / "fits", "session-1"),
    ):
        again = pickle.loads(pickle.dumps(pipeline))
        assert again.steps[-1][1].model is build_model
        assert [name for name, _ in again.steps] == [name for name, _ in pipeline.steps]
        assert clone(again).get_params().keys() == pipeline.get_params().keys()
        assert pickle.loads(pickle.dumps(clone(pipeline))).steps[-1][1].model is build_model


@pytest.fixture(scope="module")
def stopped(tmp_path_factory) -> dict[str, Any]:
    """A California sklearn run stopped by Ctrl-C (SIGINT) after its first trial, and a copy
    of it taken right then."""
    tmp = tmp_path_factory.mktemp("stopped")
    study = write_study(tmp, "california_housing", ["sklearn"], n=2, name="ca")
    proc = _popen(["run", str(study), "--output-dir", str(tmp / "out")], tmp, "run")
    run_dir = _wait(
        proc,
        tmp / "run.err",
        lambda: next(
            (
                d.parent
                for d in (tmp / "out").glob("*/*/run.json")
                if (_counts(d.parent) or {}).get("sklearn")
            ),
            None,
        ),
    )  # its first trial is in trials.csv
    proc.send_signal(signal.SIGINT)
    rc, snapshot = proc.wait(timeout=120), tmp / "snapshot"
    shutil.copytree(run_dir, snapshot)
    return {
        "run_dir": run_dir,
        "snapshot": snapshot,
        "rc": rc,
        "stderr": (tmp / "run.err").read_text(),
        "tmp": tmp,
    }


def test_ctrl_c_keeps_the_fit_store(stopped):
    assert stopped["rc"] == 130, stopped["stderr"][-2000:]
    snapshot = stopped["snapshot"]
    assert list(snapshot.glob("state/sklearn/fits/*/record.json"))
    assert _status(snapshot)["state"] == "interrupted"
    assert f"python -m hpsearch resume {stopped['run_dir']}" in stopped["stderr"].splitlines()[-1]


@pytest.mark.parametrize(
    "key, value, named",
    [("keras", "0.0.1", "keras changed"), ("model_code", "x", "the model code changed")],
)
def test_resume_refuses_changed_versions(stopped, tmp_path, cli, key, value, named):
    run_dir = tmp_path / "run"
    shutil.copytree(stopped["snapshot"], run_dir)
    info = json.loads((run_dir / "run.json").read_text())
    info["versions"][key] = value
    (run_dir / "run.json").write_text(json.dumps(info))
    rc, _, err = cli("resume", str(run_dir))
    line = _one_error(err)
    assert rc == 2 and named in line and f"run: {value}," in line
    assert json.loads((run_dir / "run.json").read_text()) == info  # nothing resumed


def test_kill_9_then_status_says_interrupted_and_resume_finishes(stopped):
    run_dir, tmp = stopped["run_dir"], stopped["tmp"]
    proc = _popen(["resume", str(run_dir)], tmp, "resume")  # resumed, then killed -9 in turn
    _wait(proc, tmp / "resume.err", lambda: (_status(run_dir) or {}).get("pid") == proc.pid)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert _status(run_dir)["state"] == "running"  # on disk: nobody wrote otherwise
    shown = run_cli("status", str(run_dir), cwd=tmp)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0].startswith(f"{run_dir}: interrupted")
    assert f"resume with: python -m hpsearch resume {run_dir}" in shown.stdout
    shown = json.loads(run_cli("status", str(run_dir), "--json", cwd=tmp).stdout)
    assert shown["state"] == "interrupted" and shown["engines"]["sklearn"]["state"] == "interrupted"
    assert (run_dir / "state").is_dir()  # a killed run keeps its fit store

    proc = run_cli("resume", str(run_dir), cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == str(run_dir)
    status = json.loads(run_cli("status", str(run_dir), "--json", cwd=tmp).stdout)
    engine = status["engines"]["sklearn"]
    assert status["state"] == engine["state"] == "finished"
    assert engine["trials_done"] == engine["trials_planned"] == _counts(run_dir)["sklearn"] == 2
    assert not (run_dir / "state").exists()


def test_a_finished_run_cannot_be_resumed(runs):
    proc = run_cli("resume", str(runs["fashion"]), cwd=runs["fashion"])
    assert proc.returncode == 2 and "cannot resume: the run finished" in _one_error(proc.stderr)


def test_compare_keeps_trial_ids_as_text(runs, tmp_path):
    out = tmp_path / "cmp.csv"
    proc = run_cli(
        "compare", str(runs["fashion"]), str(runs["california"]), "--output", str(out), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert len(rows) == 4 and {r["engine"] for r in rows} == set(ENGINES)
    for row in rows:  # the text in the file, not a number
        summary = _summary(runs["fashion" if row["dataset"] == "fashion_mnist" else "california"])
        assert len(row["best_trial"]) == 3 and row["best_trial"].isdigit(), row["best_trial"]
        assert row["best_trial"] == summary[row["engine"]]["best_trial"]


def test_unusable_output_dir_is_exit_2(tmp_path, cli):
    study = write_study(tmp_path, "california_housing", ["sklearn"], n=1)
    rc, _, err = cli("run", str(study), "--output-dir", "/proc/nope", "--quiet")
    assert rc == 2 and "/proc/nope" in _one_error(err)
