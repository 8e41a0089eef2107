"""Early stopping on val_loss or on the objective (val_accuracy): which model tests better?

One training per configuration gives both answers: each epoch's val_loss, val_accuracy and
test accuracy are recorded with no early stopping, then Keras's EarlyStopping rule (patience,
restore the best weights) is replayed on each monitor: the epoch it would have restored and
that epoch's test accuracy. Configurations: the hand-tuned MLP (2x590 gelu, dropout 0.26,
nadam 1e-3, batch 128) and `--sample` draws from the default study's space, on the default
study's data split (55k/5k, the 10k test set), capped at the study's epochs.

    python benchmarks/early_stopping.py [--study studies/fashion.toml] [--sample 4] [--json P]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]
os.environ.setdefault("KERAS_BACKEND", "jax")

HAND_TUNED = {
    "n_hidden": 2,
    "n_neurons": 590,
    "activation": "gelu",
    "optimizer": "nadam",
    "learning_rate": 1e-3,
    "dropout": 0.26,
    "batch_size": 128,
}


def replay(values: list[float], patience: int, maximize: bool) -> tuple[int, int]:
    """Keras's EarlyStopping over per-epoch `values` (min_delta 0): the epoch it restores and
    the epoch it stops after (the last epoch when it never stops)."""
    best, best_epoch, wait = None, 0, 0
    for epoch, value in enumerate(values):
        improved = best is None or (value > best if maximize else value < best)
        if improved:
            best, best_epoch, wait = value, epoch, 0
        else:
            wait += 1
            if wait >= patience:
                return best_epoch, epoch
    return best_epoch, len(values) - 1


def draw(space: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """One configuration from a study's [space] (ranges: uniform, log where said; lists:
    a choice; anything else: fixed)."""
    import math

    params = {}
    for name, spec in space.items():
        if isinstance(spec, list):
            params[name] = rng.choice(spec)
        elif isinstance(spec, dict):
            low, high = spec["low"], spec["high"]
            if isinstance(low, int) and isinstance(high, int) and not spec.get("log"):
                params[name] = rng.randint(low, high)
            elif spec.get("log"):
                value = math.exp(rng.uniform(math.log(low), math.log(high)))
                params[name] = round(value) if isinstance(low, int) else value
            else:
                params[name] = rng.uniform(low, high)
        else:
            params[name] = spec
    return params


def train(params: dict[str, Any], data: Any, epochs: int, patience: int, seed: int) -> dict:
    """Train without early stopping until both monitors' rules have stopped; per-epoch logs."""
    import keras
    import numpy as np

    from hpsearch.model.mlp import build_model

    keras.utils.set_random_seed(seed)
    keras.backend.clear_session()
    build = {k: v for k, v in params.items() if k != "batch_size"}
    model = build_model(**build, n_features=data.x_train.shape[1], n_classes=data.n_outputs)
    logs: dict[str, list[float]] = {"val_loss": [], "val_accuracy": [], "test_accuracy": []}
    x_test, y_test = data.x_test, data.y_test

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, epoch_logs: dict | None = None) -> None:
            epoch_logs = epoch_logs or {}
            logs["val_loss"].append(float(epoch_logs["val_loss"]))
            logs["val_accuracy"].append(float(epoch_logs["val_accuracy"]))
            pred = np.argmax(self.model.predict(x_test, verbose=0, batch_size=1024), axis=1)
            logs["test_accuracy"].append(float(np.mean(pred == y_test)))
            done = [
                replay(logs[k], patience, k != "val_loss")[1] < epoch
                for k in ("val_loss", "val_accuracy")
            ]
            if all(done):
                self.model.stop_training = True

    start = time.perf_counter()
    model.fit(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        epochs=epochs,
        batch_size=params.get("batch_size", 128),
        verbose=0,
        callbacks=[Record()],
    )
    out: dict[str, Any] = {"params": params, "epochs_run": len(logs["val_loss"]), **logs}
    out["seconds"] = round(time.perf_counter() - start, 1)
    for monitor in ("val_loss", "val_accuracy"):
        kept, stopped = replay(logs[monitor], patience, monitor != "val_loss")
        out[monitor + "_rule"] = {
            "kept_epoch": kept + 1,
            "stopped_after": stopped + 1,
            "test_accuracy": logs["test_accuracy"][kept],
            "val_accuracy": logs["val_accuracy"][kept],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    import tomllib

    from machine import header_lines, machine_info

    from hpsearch.data import load_dataset
    from hpsearch.study.config import load_study

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--study", default=str(ROOT / "studies/fashion.toml"))
    p.add_argument("--sample", type=int, default=4, help="draws from the study's space")
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json")
    args = p.parse_args(argv)
    raw = tomllib.loads(Path(args.study).read_text())
    study = load_study(args.study)
    data = load_dataset(study)
    info = machine_info()
    print("\n".join(header_lines(info)))
    rng = random.Random(args.seed)
    configs = [HAND_TUNED] + [draw(raw["space"], rng) for _ in range(args.sample)]
    rows = []
    print(f"{'config':<58} {'val_loss rule':>16} {'val_acc rule':>16}")
    for i, params in enumerate(configs):
        row = train(params, data, study.epochs, args.patience, args.seed + i)
        rows.append(row)
        shown = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
        )
        a, b = row["val_loss_rule"], row["val_accuracy_rule"]
        print(
            f"{shown[:58]:<58} {a['test_accuracy']:.4f} @{a['kept_epoch']:>2}/{a['stopped_after']:>2}"
            f"   {b['test_accuracy']:.4f} @{b['kept_epoch']:>2}/{b['stopped_after']:>2}",
            flush=True,
        )
    diffs = [
        r["val_accuracy_rule"]["test_accuracy"] - r["val_loss_rule"]["test_accuracy"] for r in rows
    ]
    epochs = [
        r["val_accuracy_rule"]["stopped_after"] - r["val_loss_rule"]["stopped_after"] for r in rows
    ]
    print(
        f"test accuracy, val_accuracy rule minus val_loss rule: mean {sum(diffs) / len(diffs):+.4f} "
        f"({sum(d > 0 for d in diffs)} better, {sum(d < 0 for d in diffs)} worse of {len(diffs)}); "
        f"epochs trained: mean {sum(epochs) / len(epochs):+.1f}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
