"""Scale-out: the same small study on 1 and 2 workers (1 thread each), for each engine.

    python benchmarks/scale_out.py [--quick] [--no-pin] [--engines sklearn keras_tuner optuna] [--json PATH]

Each engine runs in its distributed mode with real processes on this machine (loopback):
  - sklearn: a `dask scheduler` and N `dask worker --nthreads 1` processes; the run is
    `hpsearch run STUDY --scheduler ADDRESS` (candidates x folds go to the workers);
  - keras_tuner: `hpsearch run STUDY --chief ADDRESS` (it serves the oracle, trains nothing)
    and N `hpsearch worker STUDY --chief ADDRESS`;
  - optuna: `hpsearch run STUDY --storage sqlite:///...` (it trains too) and N - 1
    `hpsearch worker STUDY --storage ...`.
Every training process gets one thread for the numeric libraries (XLA without its intra-op
pool, BLAS/OpenMP 1) and, unless --no-pin, one CPU of its own (worker i on CPU i): on JAX a
"one-thread" fit still keeps ~1.7 cores busy here (the Python loop feeding batches and XLA's
compute thread run side by side), so without pinning one worker already uses most of a
2-core machine and a second one has little left to add.

Figures per engine and worker count, from the run's own tables:
  - search seconds: from the first trial's start to the last trial's end (trials.csv, to the
    second): the search itself, without process start-up (workers of Keras Tuner and Optuna
    start beside the run and import Keras while it waits) or the best model's final build;
  - engine seconds: the engine's wall time in summary.csv, for reference (it includes that
    waiting and, for sklearn, the serial refit of the best candidate);
  - busy seconds: the sum of every fit's own training time (trials.csv fit_seconds);
  - efficiency = busy / (search seconds x workers): the share of the workers' time spent
    training; overhead per fit = (search seconds x workers - busy) / fits: what each fit costs
    on top of its training (scheduling, model build, idle slots at the end).
A reader predicts N workers as speedup ~ N x efficiency, while there are at least N fits to
run at a time; the measured speedup is search seconds (1 worker) / search seconds (2 workers).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

from machine import COMPARABLE, header_lines, machine_info  # noqa: E402

GOAL = 1.6  # speedup of 2 workers over 1 on 2 cores
ENGINES = ("sklearn", "keras_tuner", "optuna")
FULL = {"train": 20_000, "eval": 5_000, "epochs": 5, "trials": 8}
QUICK = {"train": 500, "eval": 200, "epochs": 2, "trials": 4}
STUDY = """
[study]
name = "scale_out"
dataset = "fashion_mnist"
engines = ["{engine}"]
seed = 11
max_train_samples = {train}
max_eval_samples = {eval}

[train]
epochs = {epochs}
batch_size = 128

[space]
n_hidden = {{ low = 1, high = 2 }}
n_neurons = [64, 128, 256]
learning_rate = {{ low = 5e-4, high = 5e-3, log = true }}

[sklearn]
n_iter = {trials}
cv = "validation"

[keras_tuner]
max_trials = {trials}
patience = 0

[optuna]
n_trials = {trials}
pruner = "none"
patience = 0
"""


def pinned_env() -> dict[str, str]:
    """One thread per process, set before anything imports a numeric library."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "KERAS_BACKEND": "jax",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        **COMPARABLE,
        "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false",
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
    }
    env.update({v: "1" for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PIN = True  # give each training process a CPU of its own (--no-pin: share them all)


def spawn(args: list[str], cwd: Path, log: Path, cpu: int | None = None) -> subprocess.Popen:
    """A process of the benchmark; a training one (`cpu` given) on that CPU alone."""
    cpus = sorted(os.sched_getaffinity(0))
    pin = (
        (lambda: os.sched_setaffinity(0, {cpus[cpu % len(cpus)]}))
        if cpu is not None and PIN
        else None
    )
    return subprocess.Popen(
        args,
        cwd=cwd,
        env=pinned_env(),
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        preexec_fn=pin,
    )


def hpsearch(*args: str) -> list[str]:
    return [sys.executable, "-m", "hpsearch", *args]


def dask_cluster(workers: int, cwd: Path) -> tuple[str, list[subprocess.Popen]]:
    """A scheduler and `workers` one-thread workers, started as a user would start them."""
    address = f"tcp://127.0.0.1:{free_port()}"
    port = address.rsplit(":", 1)[1]
    scheduler = spawn(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            port,
            "--dashboard-address",
            "127.0.0.1:0",
        ],
        cwd,
        cwd / "scheduler.log",
    )
    procs = [scheduler] + [
        spawn(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_worker",
                address,
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--name",
                f"w{i}",
            ],
            cwd,
            cwd / f"dask-w{i}.log",
            i,
        )
        for i in range(workers)
    ]
    from distributed import Client

    with Client(address, timeout=60) as client:  # wait until every worker has joined
        client.wait_for_workers(workers, timeout=120)
    return address, procs


def run_engine(engine: str, workers: int, study: Path, cwd: Path) -> Path:
    """The study on `workers` workers; the run directory."""
    helpers: list[subprocess.Popen] = []
    try:
        if engine == "sklearn":
            address, helpers = dask_cluster(workers, cwd)
            run = spawn(
                hpsearch("run", str(study), "--quiet", "--scheduler", address), cwd, cwd / "run.log"
            )
        elif engine == "keras_tuner":
            address = f"127.0.0.1:{free_port()}"
            run = spawn(
                hpsearch("run", str(study), "--quiet", "--chief", address), cwd, cwd / "run.log"
            )
            helpers = [
                spawn(
                    hpsearch("worker", str(study), "--chief", address, "--id", f"w{i}"),
                    cwd,
                    cwd / f"w{i}.log",
                    i,
                )
                for i in range(workers)
            ]
        else:
            address = f"sqlite:///{cwd / 'optuna.db'}"
            run = spawn(
                hpsearch("run", str(study), "--quiet", "--storage", address),
                cwd,
                cwd / "run.log",
                0,
            )  # the run trains too: worker 0
            helpers = [
                spawn(
                    hpsearch("worker", str(study), "--storage", address, "--id", f"w{i}"),
                    cwd,
                    cwd / f"w{i}.log",
                    i,
                )
                for i in range(1, workers)
            ]
        out, _ = run.communicate(timeout=3600)
        if run.returncode != 0:
            raise RuntimeError(
                f"{engine} x{workers} failed: {(cwd / 'run.log').read_text()[-2000:]}"
            )
        return cwd / out.strip().splitlines()[-1]
    finally:
        for proc in helpers:
            if proc.poll() is None:
                proc.terminate()
            proc.wait(timeout=60)


def figures(run_dir: Path, workers: int) -> dict[str, Any]:
    import pandas as pd

    summary = pd.read_csv(run_dir / "summary.csv").iloc[0]
    trials = pd.read_csv(run_dir / "trials.csv")
    span = pd.to_datetime(trials["finished_at"]).max() - pd.to_datetime(trials["started_at"]).min()
    search_s = span.total_seconds()
    busy, fits = float(trials["fit_seconds"].sum()), int(trials["n_fits"].sum())
    return {
        "workers": workers,
        "search_seconds": search_s,
        "engine_seconds": round(float(summary["engine_seconds"]), 2),
        "busy_seconds": round(busy, 2),
        "fits": fits,
        "trials": len(trials),
        "failed": int((trials["status"] != "ok").sum()),
        "efficiency": round(busy / (search_s * workers), 3),
        "overhead_per_fit_s": round((search_s * workers - busy) / fits, 3),
        "best_val_score": float(summary["best_val_score"]),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK} (default {FULL})")
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="let every process use every CPU (default: a CPU per training process)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    global PIN
    PIN = not args.no_pin
    settings = QUICK if args.quick else FULL
    info = machine_info()
    title = "scale-out: 1 and 2 workers (1 thread each" + (
        ", a CPU each)" if PIN else ", CPUs shared)"
    )
    print("\n".join([f"{title} per engine", *header_lines(info)]), flush=True)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="hpsearch-scale-out-") as tmp:
        for engine in args.engines:
            results[engine] = {}
            for workers in (1, 2):
                cwd = Path(tmp) / f"{engine}-{workers}"
                cwd.mkdir()
                study = cwd / "scale_out.toml"
                study.write_text(STUDY.format(engine=engine, **settings))
                started = time.perf_counter()
                row = figures(run_engine(engine, workers, study, cwd), workers)
                row["wall_seconds"] = round(time.perf_counter() - started, 1)
                results[engine][workers] = row
                print(
                    f"{engine:12s} x{workers}: search {row['search_seconds']:6.0f} s (engine "
                    f"{row['engine_seconds']:.0f} s), busy "
                    f"{row['busy_seconds']:7.1f} s over {row['fits']} fits, efficiency "
                    f"{row['efficiency']:.2f}, overhead {row['overhead_per_fit_s']:.2f} s/fit "
                    f"(wall with start-up {row['wall_seconds']:.0f} s)",
                    flush=True,
                )
            one, two = results[engine][1], results[engine][2]
            results[engine]["speedup"] = round(one["search_seconds"] / two["search_seconds"], 2)
            print(
                f"{engine:12s} speedup 2 vs 1 worker: {results[engine]['speedup']:.2f}x "
                f"(goal {GOAL}x)",
                flush=True,
            )
    out = {
        "benchmark": "scale_out",
        "machine": info,
        "settings": settings,
        "goal": GOAL,
        "pinned": PIN,
        "engines": results,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return out


if __name__ == "__main__":
    main()
