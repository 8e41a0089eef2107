"""The machine a benchmark ran on, and its speed, for the header of every benchmark's output.

Speed = seconds per epoch of a 784-300-100-10 MLP (relu, Adam) on 55,000 Fashion-MNIST
training images at batch 256, on the JAX backend: one warm-up epoch (compilation), then one
timed epoch. It runs in a fresh subprocess so that the caller's backend and threads do not
matter, and so that a caller on the TensorFlow backend can measure it too.

    from machine import header_lines, machine_info   # in a script run as python benchmarks/x.py
    info = machine_info(); print("\n".join(header_lines(info)))
    python benchmarks/machine.py            # prints the header lines
    python benchmarks/machine.py --json     # the same figures as JSON
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPEED_MODEL = "784-300-100-10 MLP, 55,000 images, batch 256, JAX backend"
# Sides run one after the other must each compile their own models: JAX's compile cache (on by
# default, hpsearch/runtime/compile_cache.py), warmed by one side, would favour the next (a
# serve_load.py baseline took 35 s compiling, the next 13 s loading). Given to their processes.
COMPARABLE = {"HPSEARCH_COMPILE_CACHE": "off"}


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ('unknown' where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_count() -> int:
    """CPUs this process may use (the affinity mask, not the host's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _speed_in_process(n_images: int = 55_000, batch: int = 256) -> float:
    """Seconds of one epoch after a warm-up epoch; the current process must use the JAX backend."""
    import keras

    if keras.backend.backend() != "jax":
        raise RuntimeError(
            f"the speed is measured on the JAX backend, this process uses "
            f"{keras.backend.backend()!r}; call epoch_seconds() instead"
        )
    x, y = _fashion_images(n_images)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(300, activation="relu"),
            keras.layers.Dense(100, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=batch, verbose=0)  # warm-up: compilation
    start = time.perf_counter()
    model.fit(x, y, epochs=1, batch_size=batch, verbose=0)
    return time.perf_counter() - start


def _fashion_images(n: int):
    """The first `n` Fashion-MNIST training images scaled to [0, 1] (hpsearch's own split)."""
    sys.path.insert(0, str(ROOT))
    from hpsearch.data import load_dataset
    from hpsearch.study.config import parse_study

    study = parse_study(
        '[study]\nname = "speed"\ndataset = "fashion_mnist"\n'
        'engines = ["sklearn"]\n[space]\nn_hidden = 1\n',
        "<machine speed>",
    )
    data = load_dataset(study)
    return data.x_train[:n], data.y_train[:n]


def epoch_seconds(timeout: float = 600) -> float:
    """The machine's speed (see the module docstring), measured in a fresh JAX subprocess."""
    env = dict(os.environ, KERAS_BACKEND="jax")
    out = subprocess.run(
        [sys.executable, __file__, "--speed-only"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if out.returncode != 0:
        raise RuntimeError(f"measuring the machine's speed failed: {out.stderr.strip()[-500:]}")
    return float(out.stdout.strip().splitlines()[-1])


def machine_info(measure_speed: bool = True) -> dict[str, Any]:
    """Date, command, CPUs and (optionally) the speed, as a dict for JSON output."""
    info: dict[str, Any] = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "cpu_count": cpu_count(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
    }
    if measure_speed:
        info["speed_model"] = SPEED_MODEL
        info["seconds_per_epoch"] = round(epoch_seconds(), 2)
    return info


def header_lines(info: dict[str, Any]) -> list[str]:
    """The header every benchmark prints: date, command, machine, speed."""
    lines = [
        f"date:    {info['date']}",
        f"command: {info['command']}",
        f"machine: {info['cpu_count']} CPUs, {info['cpu_model']}, Python {info['python']}",
    ]
    if "seconds_per_epoch" in info:
        lines.append(
            f"speed:   {info['seconds_per_epoch']:.2f} s per epoch ({info['speed_model']}; "
            f"one warm-up epoch, then one timed)"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--speed-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.speed_only:  # the subprocess of epoch_seconds()
        os.environ.setdefault("KERAS_BACKEND", "jax")
        print(f"{_speed_in_process():.4f}")
        return
    info = machine_info()
    print(json.dumps(info, indent=2) if args.json else "\n".join(header_lines(info)))


if __name__ == "__main__":
    main()
