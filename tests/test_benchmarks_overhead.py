"""The benchmarks' quick paths, made smaller still: overhead.py and parallel.py run, train
what they claim on both sides, and write the figures they print."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.data
TINY = ["--quick", "--train", "300", "--val", "100", "--epochs", "2", "--repeats", "1"]


def load(name: str):
    spec = importlib.util.spec_from_file_location(
        f"bench_{name}", ROOT / "benchmarks" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def machine() -> dict:
    """The header's figures, measured once (a subprocess training two epochs on 55k images)
    and given to both benchmarks."""
    info = load("machine").machine_info()
    assert info["cpu_count"] >= 1 and info["cpu_model"] and info["date"]
    assert info["seconds_per_epoch"] > 0
    return info


def test_overhead_every_engine_trains_the_bare_fit(
    tmp_path: Path, capsys, monkeypatch, machine: dict
) -> None:
    from hpsearch import engines

    overhead = load("overhead")
    monkeypatch.setattr(overhead, "machine_info", lambda: machine)
    out = tmp_path / "overhead.json"
    overhead.main([*TINY, "--json", str(out)])
    printed = capsys.readouterr().out
    saved = json.loads(out.read_text())
    assert saved["machine"] == machine
    assert f"speed:   {machine['seconds_per_epoch']:.2f} s per epoch" in printed
    assert saved["settings"]["train"] == 300 and saved["settings"]["epochs"] == 2
    assert set(saved["engines"]) == set(engines.names())
    for name, r in saved["engines"].items():
        # The same model trained the same epochs on both sides, compiling the same steps.
        assert r["epochs_bare"] == r["epochs_engine"] == [2], name
        assert r["compiles_bare"] == r["compiles_engine"] and r["compiles_bare"][0] >= 2, name
        for run in r["runs"]["bare"] + r["runs"]["engine"]:
            assert 0 < run["jit_seconds"] < run["seconds"], (name, run)
        engine_run = r["runs"]["engine"][0]
        assert 0 < engine_run["setup_seconds"] < engine_run["seconds"], name
        net = r["engine_seconds_without_jit"] / r["bare_seconds_without_jit"]
        assert r["ratio"] == pytest.approx(net, abs=0.002)
        assert r["meets_goal"] == (r["ratio"] <= overhead.GOAL)
        verdict = "ok" if r["meets_goal"] else "MISSED"
        assert any(line.startswith(name) and verdict in line for line in printed.splitlines())


def test_parallel_same_work_in_each_configuration(
    tmp_path: Path, capsys, monkeypatch, machine: dict
) -> None:
    parallel = load("parallel")
    monkeypatch.setattr(parallel, "machine_info", lambda: machine)
    out = tmp_path / "parallel.json"
    parallel.main(
        [
            "--quick",
            "--backends",
            "jax",
            "--configs",
            "2x1",
            "1x2",
            "--trials",
            "2",
            "--train",
            "500",
            "--val",
            "200",
            "--epochs",
            "1",
            "--json",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    saved = json.loads(out.read_text())
    assert saved["machine"] == machine and "machine: " in printed
    two, one = saved["results"]["jax"]["2x1"], saved["results"]["jax"]["1x2"]
    for run, workers in ((two, 2), (one, 1)):
        assert run["trials"] == 2 and run["epochs"] == [1]
        assert len(run["cpu_use_per_worker"]) == workers and run["wall_seconds"] > 0
    # The thread limits reached the workers (set before their imports).
    assert two["worker_env"]["XLA_FLAGS"] == "--xla_cpu_multi_thread_eigen=false"
    assert two["worker_env"]["OMP_NUM_THREADS"] == "1"
    assert one["worker_env"]["XLA_FLAGS"] is None and one["worker_env"]["OMP_NUM_THREADS"] == "2"
    verdict = saved["verdicts"]["jax"]
    assert verdict["speedup_2x1_over_1x2"] == round(one["wall_seconds"] / two["wall_seconds"], 3)
    assert verdict["faster"] == ("2x1" if two["wall_seconds"] < one["wall_seconds"] else "1x2")
    assert f"jax: {verdict['faster']} (" in printed
