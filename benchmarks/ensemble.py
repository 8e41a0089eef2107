"""How much a finished run's best trials gain together: the test score of the average of the
top-k trials' predictions (by validation, across engines), for k = 1..K.

A measurement for the quality targets, not a feature: if averaging the models a study already
trained beats the best single model by more than the gap to a target, that gap is selection
and variance, not the budget. Needs a run kept with --keep-state (every trial's weights).

    python benchmarks/ensemble.py RUN_DIR [--top 8] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]


def ensemble_scores(task: str, y_true: Any, predictions: list[Any]) -> list[float]:
    """The test score (accuracy, or RMSE) of the mean of the first k predictions, for each k.
    Classification averages class probabilities; regression, the predicted values."""
    out, total = [], None
    for k, pred in enumerate(predictions, start=1):
        total = pred if total is None else total + pred
        mean = total / k
        if task == "classification":
            out.append(float(np.mean(np.argmax(mean, axis=1) == np.asarray(y_true))))
        else:
            err = mean.reshape(len(y_true), -1) - np.asarray(y_true).reshape(len(y_true), -1)
            out.append(float(math.sqrt(np.mean(err**2))))
    return out


def main(argv: list[str] | None = None) -> int:
    from hpsearch.data import load_dataset
    from hpsearch.report.trial_models import trial_model
    from hpsearch.rundir.resume import stored_study
    from hpsearch.study.trials import MAXIMIZE, read_trials

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--top", type=int, default=8)
    p.add_argument("--json")
    args = p.parse_args(argv)
    info = json.loads((args.run_dir / "run.json").read_text())
    study = stored_study(args.run_dir, info)
    data = load_dataset(study)
    records = [r for r in read_trials(args.run_dir / "trials.csv") if r.ok]
    if not records:
        raise SystemExit(f"{args.run_dir}: no finished trial in trials.csv")
    sign = -1 if records[0].direction == MAXIMIZE else 1
    records.sort(key=lambda r: sign * r.val_score)
    chosen, predictions = [], []
    for r in records:
        if len(chosen) == args.top:
            break
        model = trial_model(args.run_dir, r.engine, r.trial, data)
        if model is None:
            continue
        proba = study.task == "classification"
        predictions.append(
            np.asarray(model.predict_proba(data.x_test) if proba else model.predict(data.x_test))
        )
        chosen.append(r)
    scores = ensemble_scores(study.task, data.y_test, predictions)
    singles = [ensemble_scores(study.task, data.y_test, [p])[0] for p in predictions]
    metric = "accuracy" if study.task == "classification" else "rmse"
    print(f"run: {args.run_dir} ({study.name}); test {metric} of the mean of the top k by val")
    print(f"{'k':>2}  {'engine':<12} {'trial':>5}  {'val':>7}  {'alone':>7}  {'top-k mean':>10}")
    for k, (r, alone, score) in enumerate(zip(chosen, singles, scores, strict=True), start=1):
        print(
            f"{k:>2}  {r.engine:<12} {r.trial:>5}  {r.val_score:7.4f}  {alone:7.4f}  {score:10.4f}"
        )
    if args.json:
        rows = [
            {"engine": r.engine, "trial": r.trial, "val": r.val_score, "alone": a, "top_k": s}
            for r, a, s in zip(chosen, singles, scores, strict=True)
        ]
        Path(args.json).write_text(json.dumps({"run": str(args.run_dir), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
