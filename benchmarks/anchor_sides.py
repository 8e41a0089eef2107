"""The sides of benchmarks/anchors.py, each run in its own subprocess by anchors.py.

    anchor_sides.py hyperband    --study S --work DIR --out JSON [--quick]   # TensorFlow
    anchor_sides.py randomsearch --study S --work DIR --out JSON [--quick]   # TensorFlow
    anchor_sides.py hpsearch     --run-dir RUN --out JSON                    # JAX, after the run

Each writes one JSON: wall time, trials, every new best by validation with its elapsed time
(when its trial finished, on the search's own clock) and its test score, computed after the
search stopped its clock.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from anchors import MAXIMIZE, MINIMIZE, score_new_bests

from hpsearch.data import load_dataset
from hpsearch.engines.common import test_scores
from hpsearch.study.config import load_study

# The anchors' textbook settings (Géron, Hands-On Machine Learning, ch. 10), and their --quick.
HYPERBAND = {"max_epochs": 10, "factor": 3, "hyperband_iterations": 2, "patience": 2, "batch": 32}
HYPERBAND_QUICK = {**HYPERBAND, "max_epochs": 2, "hyperband_iterations": 1}
RANDOMSEARCH = {"n_iter": 10, "cv": 3, "epochs": 100, "patience": 10}
RANDOMSEARCH_QUICK = {**RANDOMSEARCH, "n_iter": 2, "epochs": 2}
SEED = 42


def _test(task: str, y_true: Any, y_pred: Any) -> float:
    scores = test_scores(task, y_true, y_pred)
    return scores["test_accuracy" if task == "classification" else "test_rmse"]


def hyperband(study_path: str, work: Path, quick: bool) -> dict[str, Any]:
    """Keras Tuner Hyperband with the textbook's model, space and settings."""
    import keras
    import keras_tuner as kt
    import numpy as np

    s = HYPERBAND_QUICK if quick else HYPERBAND
    data = load_dataset(load_study(study_path))
    x_train, x_val, x_test = (
        x.reshape(-1, 28, 28) for x in (data.x_train, data.x_val, data.x_test)
    )

    def build_model(hp: Any) -> Any:  # the textbook's, on pixels scaled to [0, 1]
        n_hidden = hp.Int("n_hidden", min_value=0, max_value=8, default=2)
        n_neurons = hp.Int("n_neurons", min_value=16, max_value=256)
        learning_rate = hp.Float("learning_rate", min_value=1e-4, max_value=1e-2, sampling="log")
        optimizer = hp.Choice("optimizer", values=["sgd", "adam"])
        optimizer = (keras.optimizers.SGD if optimizer == "sgd" else keras.optimizers.Adam)(
            learning_rate=learning_rate
        )
        model = keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten()])
        for _ in range(n_hidden):
            model.add(
                keras.layers.Dense(int(n_neurons), activation="relu")
            )  # numpy ints: Keras 3 refuses
        model.add(keras.layers.Dense(10, activation="softmax"))
        model.compile(
            loss="sparse_categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"]
        )
        return model

    timeline: list[dict[str, Any]] = []

    class TimedHyperband(kt.Hyperband):
        """Notes when each trial ends, on the search's clock (nothing else changes)."""

        def on_trial_end(self, trial: Any) -> None:
            super().on_trial_end(trial)
            score = self.oracle.trials[trial.trial_id].score
            timeline.append(
                {
                    "group": "hyperband",
                    "trial": trial.trial_id,
                    "direction": MAXIMIZE,
                    "elapsed": time.perf_counter() - start,
                    "val_score": float(score) if score is not None else math.nan,
                }
            )

    keras.utils.set_random_seed(SEED)
    start = time.perf_counter()
    tuner = TimedHyperband(
        build_model,
        objective="val_accuracy",
        seed=SEED,
        max_epochs=s["max_epochs"],
        factor=s["factor"],
        hyperband_iterations=s["hyperband_iterations"],
        overwrite=True,
        directory=str(work),
        project_name="hyperband",
    )
    tuner.search(
        x_train,
        data.y_train,
        epochs=s["max_epochs"],
        batch_size=s["batch"],
        validation_data=(x_val, data.y_val),
        verbose=0,
        callbacks=[keras.callbacks.EarlyStopping(patience=s["patience"])],
    )
    wall = time.perf_counter() - start

    def score(event: dict[str, Any]) -> tuple[float, str]:  # the trial's own checkpoint
        model = tuner.load_model(tuner.oracle.trials[event["trial"]])
        predicted = np.argmax(model.predict(x_test, verbose=0), axis=1)
        return _test("classification", data.y_test, predicted), "trial checkpoint (best epoch)"

    events, eval_seconds = score_new_bests(timeline, score)  # the clock has stopped
    return {
        "label": "Keras Tuner Hyperband (textbook)",
        "backend": keras.backend.backend(),
        "wall_seconds": wall,
        "n_trials": len(tuner.oracle.trials),
        "final_test": events[-1]["test_score"] if events else math.nan,
        "events": events,
        "finals": [],
        "eval_seconds": eval_seconds,
        "settings": s,
        "notes": [
            "anchor: n_hidden 0-8, n_neurons 16-256, lr 1e-4..1e-2 log, sgd/adam, "
            f"max_epochs {s['max_epochs']}, factor {s['factor']}, hyperband_iterations "
            f"{s['hyperband_iterations']}, EarlyStopping(patience={s['patience']}) on val_loss, "
            f"batch {s['batch']}; its final model is its best trial's checkpoint"
        ],
    }


def randomsearch(study_path: str, work: Path, quick: bool) -> dict[str, Any]:
    """scikeras RandomizedSearchCV, textbook style, on standardized California housing."""
    import keras
    import numpy as np
    from scikeras.wrappers import KerasRegressor
    from scipy.stats import loguniform
    from sklearn.base import clone
    from sklearn.model_selection import ParameterSampler, RandomizedSearchCV
    from sklearn.preprocessing import StandardScaler

    s = RANDOMSEARCH_QUICK if quick else RANDOMSEARCH
    data = load_dataset(load_study(study_path))
    scaler = StandardScaler()
    x_train = scaler.fit_transform(data.x_train)
    x_val, x_test = scaler.transform(data.x_val), scaler.transform(data.x_test)

    def build_model(n_hidden: int = 1, n_neurons: int = 30, learning_rate: float = 3e-3) -> Any:
        model = keras.Sequential([keras.Input(shape=(x_train.shape[1],))])
        for _ in range(n_hidden):
            model.add(
                keras.layers.Dense(int(n_neurons), activation="relu")
            )  # numpy ints: Keras 3 refuses
        model.add(keras.layers.Dense(1))
        model.compile(loss="mse", optimizer=keras.optimizers.SGD(learning_rate=learning_rate))
        return model

    timeline: list[dict[str, Any]] = []

    class TimedSearch(RandomizedSearchCV):
        """RandomizedSearchCV's own candidates, evaluated one by one to note when each ends."""

        def _run_search(self, evaluate_candidates: Any) -> None:
            for params in ParameterSampler(
                self.param_distributions, self.n_iter, random_state=self.random_state
            ):
                results = evaluate_candidates([params])
                mse = -float(results["mean_test_score"][-1])
                timeline.append(
                    {
                        "group": "RandomizedSearchCV",
                        "trial": str(len(timeline)),
                        "direction": MINIMIZE,
                        "params": params,
                        "elapsed": time.perf_counter() - start,
                        "val_score": math.sqrt(mse) if mse >= 0 else math.nan,
                    }
                )

    regressor = KerasRegressor(
        model=build_model,
        model__n_hidden=1,
        model__n_neurons=30,
        model__learning_rate=3e-3,
        epochs=s["epochs"],
        verbose=0,
    )
    distributions = {
        "model__n_hidden": [0, 1, 2, 3],
        "model__n_neurons": np.arange(1, 100),
        "model__learning_rate": loguniform(3e-4, 3e-2),
    }
    fit_params = {
        "validation_data": (x_val, data.y_val),
        "callbacks": [keras.callbacks.EarlyStopping(patience=s["patience"])],
    }
    # Scored by MSE, as the textbook's (older) wrapper's score did; scikeras's default is R².
    search = TimedSearch(
        regressor,
        distributions,
        n_iter=s["n_iter"],
        cv=s["cv"],
        scoring="neg_mean_squared_error",
        random_state=SEED,
    )
    keras.utils.set_random_seed(SEED)
    start = time.perf_counter()
    search.fit(x_train, data.y_train, **fit_params)  # then refits the best on all of x_train
    wall = time.perf_counter() - start

    def score(event: dict[str, Any]) -> tuple[float, str]:
        # A k-fold candidate has no single model: refit it on all of x_train (the best one's
        # refit is the search's own best_estimator_).
        if event["trial"] == str(search.best_index_):
            model, how = search.best_estimator_, "the search's refit (best_estimator_)"
        else:
            keras.utils.set_random_seed(SEED)
            model = (
                clone(regressor)
                .set_params(**event["params"])
                .fit(x_train, data.y_train, **fit_params)
            )
            how = "candidate refit on train (k-fold CV: no single model)"
        return _test("regression", data.y_test, model.predict(x_test, verbose=0)), how

    events, eval_seconds = score_new_bests(timeline, score)  # the clock has stopped
    for event in events:
        event.pop("params")
    final = _test("regression", data.y_test, search.best_estimator_.predict(x_test, verbose=0))
    return {
        "label": "scikeras RandomizedSearchCV (textbook)",
        "backend": keras.backend.backend(),
        "wall_seconds": wall,
        "n_trials": len(timeline),
        "final_test": final,
        "events": events,
        "finals": [
            {
                "group": "RandomizedSearchCV",
                "elapsed": wall,
                "test_score": final,
                "model": "final model: best_estimator_, refit on train",
            }
        ],
        "eval_seconds": eval_seconds,
        "settings": s,
        "notes": [
            f"anchor: n_iter {s['n_iter']}, cv {s['cv']}, n_hidden 0-3, n_neurons 1-99, lr "
            f"3e-4..3e-2 loguniform, SGD, MSE, epochs {s['epochs']}, EarlyStopping(patience="
            f"{s['patience']}) on val_loss, batch 32, StandardScaler, selected by CV MSE "
            f"(val = its root)",
            "anchor: a k-fold candidate has no single model: each new best's test RMSE is "
            "that candidate refit on the training split, outside the clock",
        ],
    }


def _seconds(stamp: str, origin: datetime) -> float:
    return (datetime.fromisoformat(stamp) - origin).total_seconds()


def hpsearch_side(run_dir: Path) -> dict[str, Any]:
    """A finished hpsearch run (kept with --keep-state): its timeline from trials.csv and
    run.json, each new best's own model scored on the test set now, after the run."""
    import keras
    import pandas as pd

    from hpsearch.report.trial_models import trial_model
    from hpsearch.rundir.resume import stored_study
    from hpsearch.study.trials import read_trials

    info = json.loads((run_dir / "run.json").read_text())
    origin = datetime.fromisoformat(info["started_at"])
    study = stored_study(run_dir, info)  # data_dir as the study file had it
    data = load_dataset(study)
    records = read_trials(run_dir / "trials.csv")
    trials = [
        {
            "group": r.engine,
            "trial": r.trial,
            "direction": r.direction,
            "elapsed": _seconds(r.finished_at, origin),
            "val_score": r.val_score,
            "k_fold": math.isfinite(r.cv_mean),
            "metric": r.metric,
        }
        for r in records
        if r.ok and r.finished_at
    ]  # pruned: no score to compare

    def score(event: dict[str, Any]) -> tuple[float, str]:
        model = trial_model(run_dir, event["group"], event["trial"], data)
        if model is None:
            return math.nan, "no model kept"
        how = (
            "candidate refit on train+val (k-fold CV: no single model)"
            if event["k_fold"]
            else "trial's own weights"
        )
        return _test(study.task, data.y_test, model.predict(data.x_test)), how

    events, eval_seconds = score_new_bests(trials, score)  # after the run
    notes = []
    if any(e["k_fold"] for e in events):
        notes.append(
            "hpsearch: a k-fold candidate has no single model: its test score is the "
            "candidate refit on train+val (the run's own refit for its best), outside the clock"
        )
    summary = pd.read_csv(run_dir / "summary.csv")
    column = "test_accuracy" if study.task == "classification" else "test_rmse"
    finals = []
    for i, row in enumerate(summary.to_dict("records")):
        # When the engine's final model was ready: at the latest when the next engine's first
        # trial started, or when the run ended (the clock's resolution is one second).
        later = [
            _seconds(r.started_at, origin)
            for r in records
            if r.engine in list(summary["engine"])[i + 1 :] and r.started_at
        ]
        finals.append(
            {
                "group": row["engine"],
                "elapsed": min(later) if later else info["wall_seconds"],
                "test_score": float(row.get(column, math.nan)),
                "model": "final model (as the run saved it)",
            }
        )
    notes.append(
        "hpsearch: times from trials.csv and run.json (1 s resolution), from the run's "
        "start after loading the data"
    )
    best = min if study.task == "regression" else max
    return {
        "label": f"study {study.name}",
        "backend": keras.backend.backend(),
        "engines": list(study.engines),
        "sizes": info["sizes"],
        "run_dir": str(run_dir),
        "wall_seconds": float(info["wall_seconds"]),
        "n_trials": len(records),
        "final_test": best(f["test_score"] for f in finals) if finals else math.nan,
        "events": events,
        "finals": finals,
        "eval_seconds": eval_seconds,
        "notes": notes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("side", choices=["hyperband", "randomsearch", "hpsearch"])
    parser.add_argument("--study")
    parser.add_argument("--work", type=Path)
    parser.add_argument("--run-dir", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.side == "hpsearch":
        result = hpsearch_side(args.run_dir)
    else:
        result = (hyperband if args.side == "hyperband" else randomsearch)(
            args.study, args.work, args.quick
        )
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
