"""Your own tables: hpsearch against the baselines people compare with, in one run.

Two tables with categorical columns:
- penguins (../shared/data/penguins/penguins.csv: text labels, text columns, missing values);
- California housing with two of its numeric columns turned into text categories (house age
  by decade, latitude band), a regression with categoricals made from the real file.

Three sides per table, each scored once on the same held-out test rows:
- hpsearch: a study over the table with `[data]` (Optuna, TPE), its wall time measured;
- scikit-learn's HistGradientBoosting with its defaults (categorical columns declared), the
  baseline users reach for first;
- Keras Tuner's RandomSearch written as its documentation shows (a `build(hp)` function, the
  table one-hot encoded and scaled by hand), given hpsearch's wall time as its budget.

    python benchmarks/tabular.py              # both tables (about 10 min on 2 cores)
    python benchmarks/tabular.py --quick      # a smoke run: tiny budgets, numbers mean nothing
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import header_lines, machine_info  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("HPSEARCH_DATA_DIR", ROOT.parent / "shared" / "data"))


def tables(work: Path) -> dict[str, dict[str, Any]]:
    """name -> the CSV written under `work`, its target and task."""
    penguins = pd.read_csv(DATA / "penguins" / "penguins.csv")
    from sklearn.datasets import fetch_california_housing

    cal = fetch_california_housing(
        data_home=str(DATA / "scikit_learn_data"), download_if_missing=False, as_frame=True
    ).frame
    cal["HouseAge"] = (cal["HouseAge"] // 10 * 10).astype(int).astype(str) + "s"
    cal["Latitude"] = pd.cut(cal["Latitude"], [0, 34, 36, 38, 90], labels=["S", "SC", "NC", "N"])
    out = {}
    for name, frame, target, task in (
        ("penguins", penguins.drop(columns=["year"]), "species", "classification"),
        ("california_categorical", cal, "MedHouseVal", "regression"),
    ):
        path = work / f"{name}.csv"
        frame.to_csv(path, index=False)
        out[name] = {"path": path, "target": target, "task": task}
    return out


def hpsearch_side(table: dict[str, Any], work: Path, trials: int, epochs: int) -> dict[str, Any]:
    """The study over the file; its split is the one every side uses."""
    from hpsearch.data import load_dataset
    from hpsearch.run.runner import run_study
    from hpsearch.study.config import parse_study

    text = f"""
[study]
name = "tabular"
engines = ["optuna"]
seed = 0
output_dir = "{work / "runs"}"
[data]
train = "{table["path"]}"
target = "{table["target"]}"
[train]
epochs = {epochs}
batch_size = 64
[space]
n_hidden = {{ low = 1, high = 3 }}
n_neurons = {{ low = 16, high = 256, log = true }}
activation = ["relu", "gelu"]
optimizer = "adam"
learning_rate = {{ low = 3e-4, high = 1e-2, log = true }}
dropout = {{ low = 0.0, high = 0.3 }}
[optuna]
n_trials = {trials}
patience = 8
"""
    study = parse_study(text, str(work / "tabular.toml"))
    data = load_dataset(study)
    started = time.perf_counter()
    run_dir = run_study(study, log=lambda msg: None)
    seconds = time.perf_counter() - started
    summary = pd.read_csv(run_dir / "summary.csv")
    score = summary.filter(like="test_").iloc[0].to_dict()
    return {"data": data, "seconds": seconds, "score": score}


def encoded(data: Any) -> tuple[np.ndarray, ...]:
    """The table one-hot encoded and scaled by hand, as a Keras Tuner user would."""
    train = pd.get_dummies(data.x_train, dummy_na=True).astype(float)
    columns = train.columns
    parts = [train] + [
        pd.get_dummies(x, dummy_na=True).astype(float).reindex(columns=columns, fill_value=0.0)
        for x in (data.x_val, data.x_test)
    ]
    median = train.median()
    parts = [p.fillna(median) for p in parts]
    mean, std = parts[0].mean(), parts[0].std().replace(0, 1)
    return tuple(((p - mean) / std).to_numpy(np.float32) for p in parts)


def keras_tuner_side(
    data: Any, task: str, budget: float, work: Path, epochs: int
) -> dict[str, Any]:
    """RandomSearch over a build(hp) like the documentation's, stopped at `budget` seconds."""
    import keras
    import keras_tuner

    x_train, x_val, x_test = encoded(data)
    n_out = len(data.classes) if task == "classification" else 1

    def build(hp: Any) -> keras.Model:
        model = keras.Sequential([keras.Input((x_train.shape[1],))])
        for i in range(hp.Int("layers", 1, 3)):
            model.add(keras.layers.Dense(hp.Int(f"units_{i}", 16, 256, sampling="log"), "relu"))
        if task == "classification":
            model.add(keras.layers.Dense(n_out, activation="softmax"))
            loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
        else:
            model.add(keras.layers.Dense(1))
            loss, metrics = "mse", [keras.metrics.RootMeanSquaredError()]
        lr = hp.Float("lr", 3e-4, 1e-2, sampling="log")
        model.compile(keras.optimizers.Adam(lr), loss=loss, metrics=metrics)
        return model

    objective = "val_accuracy" if task == "classification" else "val_loss"
    tuner = keras_tuner.RandomSearch(
        build,
        objective=objective,
        max_trials=10_000,
        seed=0,
        directory=str(work),
        project_name="kt",
    )
    started, trials = time.perf_counter(), 0
    stop = [keras.callbacks.EarlyStopping(patience=8, restore_best_weights=True)]
    while time.perf_counter() - started < budget:  # one trial at a time until the budget
        trials += 1
        tuner.oracle.max_trials = trials
        tuner.search(
            x_train,
            data.y_train,
            validation_data=(x_val, data.y_val),
            epochs=epochs,
            batch_size=64,
            callbacks=stop,
            verbose=0,
        )
    seconds = time.perf_counter() - started
    best = tuner.get_best_models(1)[0]
    predicted = best.predict(x_test, verbose=0)
    return {"seconds": seconds, "trials": trials, "score": score(task, data, predicted)}


def gradient_boosting_side(data: Any, task: str) -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    started = time.perf_counter()
    cls = (
        HistGradientBoostingClassifier
        if task == "classification"
        else HistGradientBoostingRegressor
    )
    x_fit = pd.concat([data.x_train, data.x_val])
    categorical = [not pd.api.types.is_numeric_dtype(x_fit[c]) for c in x_fit.columns]
    model = cls(categorical_features=categorical, random_state=0)

    def as_category(x: pd.DataFrame) -> pd.DataFrame:
        kinds = zip(x.columns, categorical, strict=True)
        return x.astype({c: "category" for c, k in kinds if k})

    model.fit(as_category(x_fit), np.concatenate([data.y_train, data.y_val]))
    predicted = model.predict(as_category(data.x_test))
    return {"seconds": time.perf_counter() - started, "score": score(task, data, predicted)}


def score(task: str, data: Any, predicted: Any) -> dict[str, float]:
    from hpsearch.engines.common import test_scores

    predicted = np.asarray(predicted)
    if task == "classification" and predicted.ndim == 2:
        predicted = predicted.argmax(axis=1)
    return test_scores(task, data.y_test, predicted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets: a smoke run")
    args = parser.parse_args()
    os.environ.setdefault("KERAS_BACKEND", "jax")
    trials, epochs = (2, 2) if args.quick else (15, 60)
    print("\n".join(header_lines(machine_info())))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, table in tables(work).items():
            ours = hpsearch_side(table, work, trials, epochs)
            data, task = ours["data"], table["task"]
            hgb = gradient_boosting_side(data, task)
            kt = keras_tuner_side(data, task, ours["seconds"], work / name, epochs)
            for side, result in (
                ("hpsearch (optuna)", ours),
                ("HistGradientBoosting", hgb),
                ("Keras Tuner RandomSearch", kt),
            ):
                rows.append(
                    {
                        "table": name,
                        "side": side,
                        "seconds": round(result["seconds"], 1),
                        **{k: round(v, 4) for k, v in result["score"].items()},
                        "trials": result.get(
                            "trials", trials if side.startswith("hpsearch") else 1
                        ),
                    }
                )
    frame = pd.DataFrame(rows)
    print(frame.to_string(index=False))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
