"""The CNN of examples/cnn.py on each Keras backend: seconds per epoch of 10,000 images.

XLA's CPU convolutions are much slower than TensorFlow's (oneDNN) on this machine, while
XLA wins on MLPs (README: 0.51 s JAX against 1.59 s TensorFlow an epoch). Each backend runs in
its own process (a backend is chosen as Keras loads), after a warm-up fit that compiles, and
the backends alternate `--repeats` times so that a drift in the machine's speed hits both.

    python benchmarks/cnn_backends.py [--filters 32] [--repeats 2] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("jax", "tensorflow")
CHILD = """
import sys, time
sys.path.insert(0, {examples!r})
import numpy as np
from cnn import build_cnn
rng = np.random.default_rng(0)
x = rng.random((10000, 784), dtype=np.float32)
y = rng.integers(0, 10, 10000)
m = build_cnn(filters={filters}, kernel_size=3, dense=128, dropout=0.3, learning_rate=1e-3,
              input_shape=(784,), n_classes=10)
m.fit(x[:1000], y[:1000], epochs=1, batch_size=128, verbose=0)  # compiles
t = time.perf_counter()
m.fit(x, y, epochs=1, batch_size=128, verbose=0)
print(time.perf_counter() - t)
"""


def epoch_seconds(backend: str, filters: int) -> float:
    """One timed epoch of 10,000 images in a fresh process on `backend`."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    code = CHILD.format(examples=str(ROOT / "examples"), filters=filters)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from machine import header_lines, machine_info

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--filters", type=int, default=32)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--json")
    args = p.parse_args(argv)
    info = machine_info()
    print("\n".join(header_lines(info)))
    times: dict[str, list[float]] = {b: [] for b in BACKENDS}
    for _ in range(args.repeats):
        for backend in BACKENDS:
            times[backend].append(epoch_seconds(backend, args.filters))
            print(f"{backend:<11} {times[backend][-1]:6.2f} s per 10k images", flush=True)
    median = {b: statistics.median(v) for b, v in times.items()}
    print(
        f"median: jax {median['jax']:.2f} s, tensorflow {median['tensorflow']:.2f} s; "
        f"tensorflow is {median['jax'] / median['tensorflow']:.2f}x faster "
        f"(build_cnn filters={args.filters}, kernel 3, dense 128, batch 128)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "seconds": times}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
