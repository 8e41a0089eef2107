"""Memory per trial: resident memory over many fits, with and without releasing Keras state.

Runs N fits of `build_model` (the sklearn engine's per-fit path) in a fresh process per
mode and prints resident memory (RSS) as fits accumulate, and the growth per fit:
  - "release": `seed_keras` before each build (keras.backend.clear_session() and the fit's
               seed, as the engines do before every fit)
  - "keep":    plain `build_model`, models dropped but Keras state kept

    python benchmarks/trial_memory.py [--fits 40] [--neurons 256]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(mode: str, fits: int, neurons: int) -> None:
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import gc

    import numpy as np

    from hpsearch.engines.common import seed_keras
    from hpsearch.model.mlp import build_model

    def make(**kwargs):
        if mode == "release":
            seed_keras(0, f"fit:{len(marks)}")
        return build_model(**kwargs)

    rng = np.random.default_rng(0)
    X = rng.random((2000, 784), dtype=np.float32)
    y = rng.integers(0, 10, 2000)
    marks = []
    for _i in range(1, fits + 1):
        model = make(n_hidden=2, n_neurons=neurons, n_features=784, n_classes=10)
        model.fit(X, y, epochs=1, batch_size=128, verbose=0)
        del model
        gc.collect()
        marks.append(round(rss_mb(), 1))
    print(json.dumps(marks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=40)
    parser.add_argument("--neurons", type=int, default=256)
    parser.add_argument("--child", choices=["release", "keep"])
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.fits, args.neurons)
    print(
        f"{args.fits} fits of a 784-{args.neurons}-{args.neurons}-10 MLP, 1 epoch on 2,000 rows; "
        f"backend {os.environ.get('KERAS_BACKEND', 'jax')}"
    )
    print(f"{'mode':8} {'RSS@5 MB':>9} {'RSS@end MB':>11} {'growth/fit MB':>14}")
    for mode in ("release", "keep"):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                mode,
                "--fits",
                str(args.fits),
                "--neurons",
                str(args.neurons),
            ],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        marks = json.loads(out.stdout.strip().splitlines()[-1])
        growth = (marks[-1] - marks[4]) / (len(marks) - 5)  # after warm-up (JIT caches)
        print(f"{mode:8} {marks[4]:9.1f} {marks[-1]:11.1f} {growth:14.2f}")


if __name__ == "__main__":
    main()
