"""Piecewise-linear encoding against plain scaling on California housing, one MLP each.

The same 3 x 256 relu MLP (adam 1e-3, batch 256, early stopping on the validation split with
patience 15, best weights restored, up to 300 epochs), seeded alike, on the default study's
split, with the features standard-scaled or scaled then encoded in 16 / 32 / 64 quantile bins
per feature (hpsearch.data.encoding). Prints validation and test RMSE, epochs and seconds.

    python benchmarks/encoding.py [--seeds 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

from machine import header_lines, machine_info  # noqa: E402

ENCODINGS = [
    ("standard", 0),
    ("piecewise_linear", 16),
    ("piecewise_linear", 32),
    ("piecewise_linear", 64),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="fits per encoding (seeds 0..n-1)")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    import dataclasses

    import keras
    import numpy as np

    from hpsearch.data import load_dataset
    from hpsearch.engines.keras_estimator import fitted_preprocessing, transform
    from hpsearch.model.mlp import build_model
    from hpsearch.study.config import load_study

    study = load_study(ROOT / "studies" / "california.toml")
    data = load_dataset(study)
    info = machine_info(measure_speed=True)
    print("\n".join(header_lines(info)))
    print(
        f"data: {len(data.x_train)} train / {len(data.x_val)} val / {len(data.x_test)} test "
        f"(studies/california.toml's split)\n"
    )
    rows = []
    for encoding, bins in ENCODINGS:
        # the engines' own preprocessing, fitted on the training split
        steps = fitted_preprocessing(
            dataclasses.replace(study, encoding=encoding, bins=bins or 32), data.x_train
        )
        x_train, x_val, x_test = (
            transform(steps, x) for x in (data.x_train, data.x_val, data.x_test)
        )
        for seed in range(args.seeds):
            keras.utils.set_random_seed(seed)
            model = build_model(3, 256, "relu", "adam", 1e-3, n_features=x_train.shape[1])
            stop = keras.callbacks.EarlyStopping(patience=15, restore_best_weights=True)
            start = time.perf_counter()
            history = model.fit(
                x_train,
                data.y_train,
                validation_data=(x_val, data.y_val),
                epochs=300,
                batch_size=256,
                verbose=0,
                callbacks=[stop],
            )
            seconds = time.perf_counter() - start
            predicted = model.predict(x_test, verbose=0).ravel()
            rows.append(
                {
                    "encoding": encoding,
                    "bins": bins,
                    "seed": seed,
                    "width": x_train.shape[1],
                    "val_rmse": min(history.history["val_root_mean_squared_error"]),
                    "test_rmse": float(np.sqrt(np.mean((predicted - data.y_test) ** 2))),
                    "epochs": len(history.history["loss"]),
                    "seconds": seconds,
                }
            )
            r = rows[-1]
            print(
                f"{encoding:17s} bins {bins or '-':>3}  seed {seed}  width {r['width']:4d}  "
                f"val {r['val_rmse']:.4f}  test {r['test_rmse']:.4f}  {r['epochs']:3d} epochs  "
                f"{seconds:5.1f} s",
                flush=True,
            )
    print("\nmean test RMSE over seeds:")
    for encoding, bins in ENCODINGS:
        mine = [r["test_rmse"] for r in rows if (r["encoding"], r["bins"]) == (encoding, bins)]
        print(
            f"  {encoding:17s} bins {bins or '-':>3}: {statistics.mean(mine):.4f} "
            f"(min {min(mine):.4f}, max {max(mine):.4f})"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
