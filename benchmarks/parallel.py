"""Parallel trials on 2 cores: 2 trials at a time on 1 thread each, or 1 at a time on 2 threads.

The same work in each configuration (`--trials` fits of one Fashion-MNIST MLP on a subset,
validation each epoch, each fit seeded and preceded by `keras.backend.clear_session()` as
hpsearch's engines do), for each Keras backend:

  - 2x1: two worker processes, each running half of the trials one after the other on one
         thread (JAX/XLA: XLA_FLAGS=--xla_cpu_multi_thread_eigen=false; TensorFlow:
         tf.config.threading intra-op and inter-op threads = 1; OMP/MKL/OpenBLAS = 1);
  - 1x2: one process running every trial on two threads (XLA's default on 2 CPUs;
         TensorFlow intra-op and inter-op threads = 2; OMP/MKL/OpenBLAS = 2);
  - 2xdefault: two workers with the thread settings hpsearch's sklearn
         engine gives its n_jobs = 2 workers today: joblib's loky workers get
         OMP/MKL/OpenBLAS = cpu_count // n_jobs = 1, which neither XLA nor TensorFlow's own
         thread pools read, so each worker keeps its backend's default (all CPUs).

Every configuration runs in fresh subprocesses (thread settings apply at start-up), each
restricted to the same `--cpus` CPUs. Each worker imports, loads the data and warms up (one
small fit: backend start-up, first compilation) before a common start signal, as the
long-lived workers of a search would; the wall time runs from that signal until the last
worker's last fit ends. A worker's CPU use (its CPU seconds over its wall time) shows the
threads it really used.

    python benchmarks/parallel.py [--quick] [--json PATH] [--backends jax tensorflow]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

from machine import COMPARABLE, header_lines, machine_info  # noqa: E402

MODEL = {
    "n_hidden": 2,
    "n_neurons": 256,
    "activation": "relu",
    "optimizer": "adam",
    "learning_rate": 1e-3,
}
# Full: real trials' size (all 55,000 training images), so compute outweighs compilation.
FULL = {"trials": 4, "train": 55_000, "val": 5_000, "epochs": 3, "batch": 128, "repeats": 2}
QUICK = {"trials": 4, "train": 2_000, "val": 500, "epochs": 2, "batch": 128, "repeats": 1}
# name -> (worker processes, threads per worker; 0 = the backend's default)
CONFIGS = {"2x1": (2, 1), "1x2": (1, 2), "2xdefault": (2, 0)}
LABELS = {
    "2x1": "2 trials at a time x 1 thread",
    "1x2": "1 trial at a time x 2 threads",
    "2xdefault": "2 trials at a time, default threads (hpsearch n_jobs=2 today)",
}
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
GO = "go"


def worker_env(backend: str, workers: int, threads: int, cpus: int) -> dict[str, str]:
    """Environment of one worker: its backend and thread limits, set before any import."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("XLA_FLAGS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
    }
    env.update(KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", **COMPARABLE)
    # What loky gives a worker when threads are left to the default: cpu_count // n_jobs.
    blas = threads or max(1, cpus // workers)
    env.update({var: str(blas) for var in THREAD_VARS})
    if threads == 1:  # XLA's CPU client: no intra-op thread pool (checked by CPU use below)
        env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false"
    if threads:
        env.update(TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS=str(threads))
    return env


def child(args: argparse.Namespace) -> None:
    """One worker: set up, say 'ready', wait for the signal, run its fits, print JSON."""
    if args.cpu_set:
        os.sched_setaffinity(0, [int(c) for c in args.cpu_set.split(",")])
    if args.backend == "tensorflow" and args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    import keras

    from hpsearch.data import load_dataset
    from hpsearch.engines.common import seed_keras
    from hpsearch.model.mlp import build_model
    from hpsearch.study.config import parse_study

    study = parse_study(
        f'[study]\nname = "parallel"\ndataset = "fashion_mnist"\n'
        f'engines = ["sklearn"]\nmax_train_samples = {args.train}\n'
        f"max_eval_samples = {args.val}\n",
        "<parallel benchmark>",
    )
    data = load_dataset(study)
    shape = {"n_features": data.n_features, "n_classes": data.n_outputs}

    def fit(epochs: int, rows: int) -> int:
        model = build_model(**MODEL, **shape)
        history = model.fit(
            data.x_train[:rows],
            data.y_train[:rows],
            epochs=epochs,
            batch_size=args.batch,
            verbose=0,
            validation_data=(data.x_val, data.y_val),
        )
        return len(history.history["loss"])

    seed_keras(0, "warm-up")  # imports TensorFlow for its seed, on either backend
    fit(1, 4 * args.batch)  # warm-up: backend start-up, first compilation
    print("ready", flush=True)
    if sys.stdin.readline().strip() != GO:
        return
    fits = []
    for trial in args.trial_ids:
        seed_keras(0, f"trial:{trial}")  # as the engines do before every fit
        started, cpu = time.time(), os.times()
        epochs = fit(args.epochs, len(data.x_train))
        used = os.times()
        fits.append(
            {
                "trial": trial,
                "started": started,
                "ended": time.time(),
                "epochs": epochs,
                "cpu_seconds": used.user + used.system - cpu.user - cpu.system,
            }
        )
    extra = {}
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        extra = {
            "tf_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "tf_inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        }
    print(
        json.dumps(
            {
                "fits": fits,
                "backend": keras.backend.backend(),
                "env": {k: os.environ.get(k) for k in (*THREAD_VARS, "XLA_FLAGS")},
                **extra,
            }
        ),
        flush=True,
    )


def run_config(
    backend: str, name: str, settings: dict[str, int], cpu_set: list[int]
) -> dict[str, Any]:
    """Start the workers of one configuration, release them together, time their fits."""
    workers, threads = CONFIGS[name]
    env = worker_env(backend, workers, threads, len(cpu_set))
    procs = []
    with tempfile.TemporaryDirectory(prefix="hpsearch-parallel-") as tmp:
        for w in range(workers):
            ids = [str(t) for t in range(w, settings["trials"], workers)]
            cmd = [
                sys.executable,
                __file__,
                "--child",
                "--backend",
                backend,
                "--threads",
                str(threads),
                "--cpu-set",
                ",".join(map(str, cpu_set)),
                "--trial-ids",
                *ids,
                *(f"--{k}={settings[k]}" for k in ("train", "val", "epochs", "batch")),
            ]
            err = open(Path(tmp) / f"{w}.err", "w+")  # noqa: SIM115 (the worker writes it until it ends)
            procs.append(
                (
                    subprocess.Popen(
                        cmd,
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        stderr=err,
                        text=True,
                        env=env,
                        cwd=ROOT,
                    ),
                    err,
                )
            )
        for proc, err in procs:  # every worker set up and warmed up before the clock starts
            if proc.stdout.readline().strip() != "ready":
                _fail(backend, name, proc, err)
        go = time.time()
        for proc, _ in procs:
            proc.stdin.write(GO + "\n")
            proc.stdin.flush()
        outs = []
        for proc, err in procs:
            out = proc.stdout.read()
            if proc.wait() != 0 or not out.strip():
                _fail(backend, name, proc, err)
            outs.append(json.loads(out.strip().splitlines()[-1]))
            err.close()
    fits = [f for out in outs for f in out["fits"]]
    wall = max(f["ended"] for f in fits) - go
    worker_walls = [max(f["ended"] for f in o["fits"]) - go for o in outs]
    cpu = [sum(f["cpu_seconds"] for f in o["fits"]) for o in outs]
    return {
        "wall_seconds": round(wall, 2),
        "trials": len(fits),
        "epochs": sorted({f["epochs"] for f in fits}),
        "fit_seconds_median": round(statistics.median(f["ended"] - f["started"] for f in fits), 2),
        "cpu_use_per_worker": [round(c / w, 2) for c, w in zip(cpu, worker_walls, strict=True)],
        "worker_env": outs[0]["env"],
        **{k: outs[0][k] for k in ("tf_intra_op", "tf_inter_op") if k in outs[0]},
    }


def _fail(backend: str, name: str, proc: subprocess.Popen, err: Any) -> None:
    proc.kill()
    err.seek(0)
    raise SystemExit(
        f"parallel.py: the {name} worker on {backend} failed "
        f"(exit {proc.wait()}): {err.read().strip()[-800:]}"
    )


def measure(
    backends: list[str], configs: list[str], settings: dict[str, int], cpu_set: list[int], log: Any
) -> dict[str, dict[str, Any]]:
    """Each configuration `repeats` times, order alternating, per backend; the median wall."""
    results: dict[str, dict[str, Any]] = {}
    for backend in backends:
        runs: dict[str, list[dict[str, Any]]] = {c: [] for c in configs}
        for rep in range(settings["repeats"]):
            for name in configs if rep % 2 == 0 else configs[::-1]:
                run = run_config(backend, name, settings, cpu_set)
                runs[name].append(run)
                log(
                    f"  {backend:10} {name:9} repeat {rep + 1}: {run['wall_seconds']:6.2f} s, "
                    f"CPU use per worker {run['cpu_use_per_worker']}"
                )
        results[backend] = {
            name: {
                **r[-1],
                "wall_seconds": statistics.median(x["wall_seconds"] for x in r),
                "wall_seconds_runs": [x["wall_seconds"] for x in r],
            }
            for name, r in runs.items()
        }
    return results


def verdicts(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per backend: which of 2x1 and 1x2 is faster, and by how much."""
    out = {}
    for backend, r in results.items():
        if "2x1" in r and "1x2" in r:
            a, b = r["2x1"]["wall_seconds"], r["1x2"]["wall_seconds"]
            out[backend] = {
                "faster": "2x1" if a < b else "1x2",
                "speedup_2x1_over_1x2": round(b / a, 3),
            }
    return out


def report(
    settings: dict[str, int],
    cpu_set: list[int],
    results: dict[str, dict[str, Any]],
    found: dict[str, dict[str, Any]],
) -> list[str]:
    model = f"784-{'-'.join([str(MODEL['n_neurons'])] * MODEL['n_hidden'])}-10"
    lines = [
        f"work:    {settings['trials']} fits of a {model} MLP ({MODEL['activation']}, "
        f"{MODEL['optimizer']}), {settings['epochs']} epochs, batch {settings['batch']}, on "
        f"{settings['train']:,} Fashion-MNIST images (+ {settings['val']:,} validated each epoch)",
        f"cpus:    {len(cpu_set)} (CPUs {cpu_set}); median of {settings['repeats']} run(s) per "
        f"configuration, fresh processes each, clock from a common start after warm-up",
        "",
        f"{'backend':10} {'config':9} {'wall s':>7} {'fits/min':>8} {'fit s':>6} "
        f"{'CPU use/worker':>15} {'epochs':>6}  what",
    ]
    for backend, r in results.items():
        for name, x in r.items():
            cpu = ",".join(f"{c:.2f}" for c in x["cpu_use_per_worker"])
            lines.append(
                f"{backend:10} {name:9} {x['wall_seconds']:7.2f} "
                f"{60 * x['trials'] / x['wall_seconds']:8.1f} {x['fit_seconds_median']:6.2f} "
                f"{cpu:>15} {','.join(map(str, x['epochs'])):>6}  {LABELS[name]}"
            )
    lines.append("")
    for backend, v in found.items():
        other = "1x2" if v["faster"] == "2x1" else "2x1"
        ratio = v["speedup_2x1_over_1x2"] if v["faster"] == "2x1" else 1 / v["speedup_2x1_over_1x2"]
        lines.append(
            f"{backend}: {v['faster']} ({LABELS[v['faster']]}) is {ratio:.2f}x faster than {other}"
        )
    lines += [
        "CPU use/worker: CPU seconds over wall seconds of each worker's fits (about 1.0 for "
        "one busy thread).",
        "hpsearch today: the sklearn engine's n_jobs runs joblib's loky worker processes; "
        "loky sets OMP/MKL/OpenBLAS",
        "  threads to cpu_count // n_jobs in them, which XLA and TensorFlow's own pools do "
        "not read (2xdefault).",
    ]
    return lines


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK} (default {FULL})")
    parser.add_argument(
        "--backends", nargs="+", choices=("jax", "tensorflow"), default=["jax", "tensorflow"]
    )
    parser.add_argument("--configs", nargs="+", choices=tuple(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--cpus", type=int, default=2, help="CPUs every configuration runs on")
    for key in FULL:
        parser.add_argument(f"--{key}", type=int, help=f"override the {key} setting")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    # a worker process (internal)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cpu-set", help=argparse.SUPPRESS)
    parser.add_argument("--trial-ids", nargs="+", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    settings = dict(QUICK if args.quick else FULL)
    settings.update({k: getattr(args, k) for k in FULL if getattr(args, k) is not None})
    if args.child:
        args.train, args.val, args.epochs, args.batch = (
            settings[k] for k in ("train", "val", "epochs", "batch")
        )
        child(args)
        return {}
    available = sorted(os.sched_getaffinity(0))
    if len(available) < args.cpus:
        raise SystemExit(
            f"parallel.py: --cpus {args.cpus}: expected at most the {len(available)} "
            f"CPUs this process may use, got {args.cpus}"
        )
    cpu_set = available[: args.cpus]
    info = machine_info()
    print(
        "\n".join(["parallel trials: 2 x 1 thread vs 1 x 2 threads", *header_lines(info)]),
        flush=True,
    )
    results = measure(
        args.backends, args.configs, settings, cpu_set, lambda s: print(s, flush=True)
    )
    found = verdicts(results)
    print("\n" + "\n".join(report(settings, cpu_set, results, found)))
    out = {
        "benchmark": "parallel",
        "machine": info,
        "settings": settings,
        "model": MODEL,
        "cpu_set": cpu_set,
        "results": results,
        "verdicts": found,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return out


if __name__ == "__main__":
    main()
