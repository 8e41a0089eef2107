"""TensorBoard logs (hpsearch/track/tensorboard.py), read back by a real `tensorboard` server:
its HParams dashboard lists every trial with its values, score and outcome, and each trial's
per-epoch curves are there with their steps."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hpsearch.study.trials import read_histories, read_trials
from hpsearch.track.tensorboard import EVENTS, TensorBoardLog, sync

from test_report import make_run

RUN = "20260101-100000-aaaa"


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A run folder (two engines, one failed trial) and its TensorBoard log."""
    root = tmp_path_factory.mktemp("tb")
    run_dir = make_run(root / "results", RUN)
    trials = (run_dir / "trials.csv").read_text().splitlines()
    row = next(i for i, t in enumerate(trials) if t.startswith("keras_tuner,004,ok,"))
    trials[row] = trials[row].replace(",ok,", ",pruned,", 1)  # stopped early, its score kept
    (run_dir / "trials.csv").write_text("\n".join(trials) + "\n")
    written = sync(TensorBoardLog(root / "tb", run_dir), run_dir)
    assert written == len(read_trials(run_dir / "trials.csv")) == 10
    return run_dir, root / "tb"


@pytest.fixture(scope="module")
def board(logged: tuple[Path, Path]):
    """`tensorboard --logdir` on a free loopback port, once it answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(logged[1])]
        + ["--host", "127.0.0.1", "--port", str(port), "--reload_interval", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/data/runs", timeout=5).json():  # the logs are loaded
                    break
            except (httpx.HTTPError, json.JSONDecodeError):
                pass
            time.sleep(0.5)
        else:
            pytest.fail("tensorboard did not answer in 120 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _groups(url: str) -> dict[str, dict]:
    request = {
        "experimentName": "",
        "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
        "colParams": [{"metric": {"tag": "val_score"}, "order": "ORDER_DESC"}],
        "startIndex": 0,
        "sliceSize": 100,
    }
    answer = httpx.post(f"{url}/data/plugin/hparams/session_groups", json=request, timeout=30)
    return {g["name"]: g for g in answer.json()["sessionGroups"]}


def test_the_hparams_dashboard_lists_every_trial(logged, board) -> None:
    run_dir, _ = logged
    groups = _groups(board)
    records = read_trials(run_dir / "trials.csv")
    assert set(groups) == {f"study/{RUN}/{r.engine}-{r.trial}" for r in records}
    for r in records:
        group = groups[f"study/{RUN}/{r.engine}-{r.trial}"]
        session = group["sessions"][0]
        assert session["status"] == ("STATUS_FAILURE" if r.failed else "STATUS_SUCCESS"), r.trial
        assert group["hparams"]["hpsearch/status"] == r.status
        assert group["hparams"]["hpsearch/engine"] == r.engine
        assert group["hparams"]["activation"] == r.params["activation"]
        assert group["hparams"]["n_neurons"] == pytest.approx(r.params["n_neurons"])
        scores = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
        if math.isfinite(r.val_score):  # a pruned trial's too
            assert scores["val_score"] == pytest.approx(r.val_score, rel=1e-6)
        else:  # a failed trial has no score
            assert "val_score" not in scores
    experiment = httpx.post(
        f"{board}/data/plugin/hparams/experiment", json={"experimentName": ""}, timeout=30
    ).json()
    types = {h["name"]: h["type"] for h in experiment["hparamInfos"]}
    assert (
        types["activation"] == "DATA_TYPE_STRING" and types["learning_rate"] == "DATA_TYPE_FLOAT64"
    )


def test_each_trial_has_its_curves_by_epoch(logged, board) -> None:
    run_dir, _ = logged
    rows = [
        r
        for r in read_histories(run_dir / "histories.csv")
        if r["engine"] == "keras_tuner" and r["trial"] == "002" and r["metric"] == "val_loss"
    ]
    got = httpx.get(
        f"{board}/data/plugin/scalars/scalars",
        params={"run": f"study/{RUN}/keras_tuner-002", "tag": "epoch/val_loss"},
        timeout=30,
    ).json()
    by_step = {step: value for _, step, value in got}
    assert sorted(by_step) == sorted({int(r["epoch"]) for r in rows})
    for r in rows:  # one fit a trial here: the mean over fits is its value
        assert by_step[int(r["epoch"])] == pytest.approx(r["value"], rel=1e-6)


def test_a_trial_is_written_once_and_whole(logged, tmp_path: Path) -> None:
    run_dir, logdir = logged
    log = TensorBoardLog(logdir, run_dir)
    assert sync(log, run_dir) == 0  # a resumed run, an export: nothing twice
    files = list((logdir / "study" / RUN).rglob("*"))
    assert not [p for p in files if p.is_file() and EVENTS not in p.name]  # no partial file
    # a fresh log written from another process imports no TensorFlow (seconds, ~1 GB)
    code = (
        "import sys; from pathlib import Path; from hpsearch.track.tensorboard import "
        f"TensorBoardLog, sync; run = Path({str(run_dir)!r}); "
        f"sync(TensorBoardLog(Path({str(tmp_path)!r}), run), run); "
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert len(list(tmp_path.rglob(f"{EVENTS}*"))) == 10


@pytest.mark.data
def test_a_run_with_track_tensorboard_writes_each_trial_and_a_resume_adds_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from hpsearch.cli import dispatch
    from hpsearch.run.runner import run_study
    from hpsearch.study.config import load_study

    from conftest import DATA_DIR

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "tb.toml"
    path.write_text(
        f"""[study]
name = "tb"
engines = ["optuna"]
seed = 3
[data]
train = "{DATA_DIR / "penguins" / "penguins.csv"}"
target = "species"
[train]
epochs = 2
batch_size = 32
[space]
n_hidden = 1
n_neurons = [8, 16]
optimizer = "adam"
learning_rate = {{ low = 3e-3, high = 1e-2, log = true }}
[optuna]
n_trials = 3
patience = 0
[track]
tensorboard = "logs"
"""
    )
    study = load_study(path)
    assert study.track == {"tensorboard": "logs"}
    run_dir = run_study(study, output_dir=str(tmp_path / "results"), keep_state=True)
    trials = read_trials(run_dir / "trials.csv")
    folder = tmp_path / "logs" / "tb" / run_dir.name
    assert sorted(p.name for p in folder.iterdir()) == [f"optuna-{r.trial}" for r in trials]
    info = json.loads((run_dir / "run.json").read_text())
    assert info["tensorboard"] == str(tmp_path / "logs")  # absolute: a resume finds it
    # a resumed run (stopped before it finished) writes no trial twice
    del info["finished_at"]
    (run_dir / "run.json").write_text(json.dumps(info))
    run_study(study, resume=run_dir)
    assert len(list(folder.rglob(f"{EVENTS}*"))) == len(trials)
    # an export elsewhere writes them all; the run names its folder when --logdir is left out
    assert dispatch(["export", "tensorboard", str(run_dir), "--logdir", "copy"]) == 0
    assert len(list((tmp_path / "copy").rglob(f"{EVENTS}*"))) == len(trials)
    assert dispatch(["export", "tensorboard", str(run_dir)]) == 0
    assert "0 trials written" in capsys.readouterr().err
