"""The strongest peers on hpsearch's own backend, for `benchmarks/anchors.py --peers`.

    anchor_peers.py optuna       --study S --budget SECONDS --work DIR --out JSON   # JAX
    anchor_peers.py kt-hyperband --study S --budget SECONDS --work DIR --out JSON   # JAX

Each peer is what a competent user writes, over the study's own `[space]` read from its TOML
(int ranges, log or linear floats, categorical lists, fixed values), with what the study
fixes: hpsearch's data split (hpsearch.data), the study's preprocessing fitted on the training
split as hpsearch fits it (California: scaled, then piecewise-linear encoded), the same MLP as
hpsearch.model.mlp builds (`build_mlp` below), `[train] epochs` as the epochs cap,
`[train] batch_size` unless the space searches it, and early stopping on the objective with the
patience of the study's section for that library ([optuna] / [keras_tuner] patience).

- optuna: `create_study(sampler=TPESampler(seed), pruner=HyperbandPruner(min_resource=1,
  max_resource=epochs, reduction_factor=3))` and `optimize(timeout=budget)`, no trial cap.
  The pruning callback is the one Optuna's Keras example shows (optuna-integration's
  KerasPruningCallback, which is not installed for Keras 3), reporting after epoch k at step k
  (the pruner's resource: epochs trained, as min_resource=1 reads). EarlyStopping restores
  the best weights (by the objective) and the trial returns the validation score of that epoch, as
  hpsearch's engines do, so the score is the kept model's.
- kt-hyperband: `keras_tuner.Hyperband(max_epochs=epochs, factor=3)`, the batch size drawn
  in `HyperModel.fit` as Keras Tuner's guide shows, EarlyStopping (on the objective) as its
  docs show; `hyperband_iterations` "as high as fits within your resource budget" (its
  docs), so unbounded here: the budget stops it. Keras Tuner scores a trial by its best
  epoch's objective and keeps that epoch's checkpoint (its own behaviour, kept).

Choices the study does not make, taken from the libraries' docs: Hyperband's factor 3 (both
libraries' default), the objective: val_accuracy (classification), val RMSE (regression).

Both stop at the budget (hpsearch's wall time): a trial still training when it ends is
stopped there and not counted. Their clocks start after the data is loaded, as hpsearch's
run.json clock does; fitting the preprocessing counts. Each trial that is a new best by
validation keeps its model (Optuna: its weights, in memory; Keras Tuner: its checkpoint), and
its test score is computed after the clock stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from anchor_minutes import PEERS
from anchor_peer_parts import (
    FACTOR,
    BudgetSpent,
    build_mlp,
    early_stopping,
    hp_params,
    model_params,
    prepare,
    setup,
    suggest,
    test_score,
)
from anchors import MAXIMIZE, better, score_new_bests


def optuna_side(study_path: str, work: Path, budget: float) -> dict[str, Any]:
    """Optuna, TPE and a HyperbandPruner, as its documentation shows, until the budget."""
    import keras
    import optuna

    s = setup(study_path, "optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    keras.utils.set_random_seed(s.seed)
    timeline: list[dict[str, Any]] = []
    kept: dict[str, tuple[dict[str, Any], list[Any]]] = {}  # new bests: (params, weights)
    best: list[float] = []  # the best validation score so far
    start = time.perf_counter()
    deadline = start + budget
    x_train, x_val, x_test = prepare(s)

    class PruningCallback(keras.callbacks.Callback):
        """Optuna's Keras pruning callback; also stops the trial when the budget is spent."""

        def __init__(self, trial: Any) -> None:
            super().__init__()
            self.trial = trial

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            if time.perf_counter() > deadline:  # within a batch of the budget's end
                raise BudgetSpent

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            value = (logs or {}).get(s.monitor)
            if value is None:
                return
            self.trial.report(float(value), step=epoch + 1)
            if self.trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch + 1}")

    def finished(trial: Any, value: float) -> None:  # on the search's clock
        timeline.append(
            {
                "group": "optuna",
                "trial": str(trial.number),
                "direction": s.direction,
                "elapsed": time.perf_counter() - start,
                "val_score": value,
            }
        )

    def objective(trial: Any) -> float:
        keras.backend.clear_session()  # as Optuna's Keras example does before each model
        params = suggest(trial, s.space)
        model = build_mlp(model_params(params), x_train.shape[1], s.n_classes)
        stopping = early_stopping(s, restore=True)
        try:
            history = model.fit(
                x_train,
                s.data.y_train,
                validation_data=(x_val, s.data.y_val),
                epochs=s.epochs,
                batch_size=params.get("batch_size", s.batch_size),
                callbacks=[*stopping, PruningCallback(trial)],
                verbose=0,
            ).history[s.monitor]
        except optuna.TrialPruned:
            finished(trial, math.nan)  # a trial, as hpsearch counts its pruned ones; no model
            raise
        value = float(history[stopping[0].best_epoch if stopping else -1])  # the kept weights'
        if math.isfinite(value) and (not best or better(value, best[-1], s.direction)):
            best.append(value)  # a new best (as anchors.new_bests picks them): keep its model
            kept[str(trial.number)] = (params, model.get_weights())
        finished(trial, value)
        return value

    study = optuna.create_study(
        direction=s.direction,
        sampler=optuna.samplers.TPESampler(seed=s.seed),
        pruner=optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=s.epochs, reduction_factor=FACTOR
        ),
    )
    with contextlib.suppress(BudgetSpent):  # Optuna marks the trial in progress failed
        study.optimize(objective, n_trials=None, timeout=budget)
    wall = time.perf_counter() - start
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)

    def score(event: dict[str, Any]) -> tuple[float, str]:  # the trial's own weights
        params, weights = kept[event["trial"]]
        model = build_mlp(model_params(params), x_train.shape[1], s.n_classes)
        model.set_weights(weights)
        return test_score(s, model, x_test), "trial's own weights (best epoch by the objective)"

    note = (
        f"peer optuna: TPESampler(seed={s.seed}), HyperbandPruner(min_resource=1, max_resource="
        f"{s.epochs}, reduction_factor={FACTOR}), EarlyStopping({s.monitor}, patience="
        f"{s.patience}, restore_best_weights); {pruned} trials pruned"
    )
    return _result("Optuna TPE + HyperbandPruner", budget, wall, timeline, score, note)


def kt_side(study_path: str, work: Path, budget: float) -> dict[str, Any]:
    """Keras Tuner Hyperband over the study's space, as its documentation shows, until the
    budget."""
    import keras
    import keras_tuner as kt

    s = setup(study_path, "keras_tuner")
    keras.utils.set_random_seed(s.seed)
    timeline: list[dict[str, Any]] = []
    start = time.perf_counter()
    deadline = start + budget
    x_train, x_val, x_test = prepare(s)

    class OutOfBudget(kt.errors.FatalError):  # a FatalError: Keras Tuner lets it through
        pass

    class Deadline(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            if time.perf_counter() > deadline:
                raise OutOfBudget("the budget is spent")

    class MLP(kt.HyperModel):
        def build(self, hp: Any) -> Any:
            params = model_params(hp_params(hp, s.space))
            return build_mlp(params, x_train.shape[1], s.n_classes)

        def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
            batch_size = hp.values.get("batch_size", s.batch_size)
            return model.fit(*args, batch_size=batch_size, **kwargs)

    class TimedHyperband(kt.Hyperband):
        """Notes when each trial ends, on the search's clock; starts none past the budget."""

        def on_trial_begin(self, trial: Any) -> None:
            if time.perf_counter() > deadline:
                raise OutOfBudget("the budget is spent")
            super().on_trial_begin(trial)

        def on_trial_end(self, trial: Any) -> None:
            super().on_trial_end(trial)
            score = self.oracle.trials[trial.trial_id].score
            timeline.append(
                {
                    "group": "kt-hyperband",
                    "trial": trial.trial_id,
                    "direction": s.direction,
                    "elapsed": time.perf_counter() - start,
                    "val_score": float(score) if score is not None else math.nan,
                }
            )

    tuner = TimedHyperband(
        MLP(),
        objective=kt.Objective(s.monitor, "max" if s.direction == MAXIMIZE else "min"),
        max_epochs=s.epochs,
        factor=FACTOR,
        hyperband_iterations=10**6,  # "as high as fits within your budget": the budget stops it
        seed=s.seed,
        overwrite=True,
        directory=str(work),
        project_name="kt-hyperband",
    )
    with contextlib.suppress(OutOfBudget):
        tuner.search(
            x_train,
            s.data.y_train,
            epochs=s.epochs,
            validation_data=(x_val, s.data.y_val),
            callbacks=[*early_stopping(s, restore=False), Deadline()],
            verbose=0,
        )
    wall = time.perf_counter() - start

    def score(event: dict[str, Any]) -> tuple[float, str]:  # the trial's own checkpoint
        model = tuner.load_model(tuner.oracle.trials[event["trial"]])
        return test_score(s, model, x_test), "trial checkpoint (best epoch)"

    note = (
        f"peer kt-hyperband: max_epochs {s.epochs}, factor {FACTOR}, hyperband_iterations "
        f"unbounded (the budget stops it), EarlyStopping({s.monitor}, patience={s.patience})"
    )
    return _result("Keras Tuner Hyperband", budget, wall, timeline, score, note)


def _result(
    label: str,
    budget: float,
    wall: float,
    timeline: list[dict[str, Any]],
    score: Callable[[dict[str, Any]], tuple[float, str]],
    note: str,
) -> dict[str, Any]:
    """A peer's figures: the trials that finished within the budget (the one in progress at
    its end is not counted), each new best scored on the test set by `score`, now."""
    import keras

    counted = [t for t in timeline if t["elapsed"] <= budget]
    events, eval_seconds = score_new_bests(counted, score)  # the clock has stopped
    return {
        "label": label,
        "backend": keras.backend.backend(),
        "budget_seconds": budget,
        "wall_seconds": wall,
        "n_trials": len(counted),
        "final_test": events[-1]["test_score"] if events else math.nan,
        "events": events,
        "finals": [],
        "eval_seconds": eval_seconds,
        "notes": [
            f"{note}; {len(counted)} trials finished within the budget, the one in progress "
            "at its end not counted (wall s: until it was stopped)"
        ],
    }


SIDES = {"optuna": optuna_side, "kt-hyperband": kt_side}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("side", choices=PEERS)
    parser.add_argument("--study", required=True)
    parser.add_argument("--budget", type=float, required=True, help="wall seconds")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    result = SIDES[args.side](args.study, args.work, args.budget)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
