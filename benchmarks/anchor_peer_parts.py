"""What benchmarks/anchor_peers.py's peers share: the study file read as their users would
(its [space] table, epochs, batch size, patience), hpsearch's data split and preprocessing,
hpsearch's MLP, and the space as Optuna's `suggest_*` and Keras Tuner's `hp.*` calls."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anchors import MAXIMIZE, MINIMIZE

from hpsearch.data import load_dataset
from hpsearch.engines.common import test_scores
from hpsearch.engines.keras_estimator import fitted_preprocessing, transform
from hpsearch.study.config import load_study

FACTOR = 3  # Hyperband's reduction factor: Optuna's and Keras Tuner's default
MONITORS = {  # the objective: the validation metric hpsearch's engines select on by default
    "classification": ("val_accuracy", MAXIMIZE),
    "regression": ("val_root_mean_squared_error", MINIMIZE),
}


class BudgetSpent(Exception):
    """The wall budget ran out: the trial in progress is stopped and not counted."""


@dataclass
class Setup:
    """What a peer reads from the study file, and its data (hpsearch's split)."""

    task: str
    space: dict[str, Any]  # the [space] table as the TOML has it
    epochs: int
    batch_size: int
    patience: int
    seed: int
    monitor: str
    direction: str
    n_classes: int | None
    data: Any
    study: Any


def setup(study_path: str, section: str) -> Setup:
    study = load_study(study_path)
    raw = tomllib.loads(Path(study_path).read_text(encoding="utf-8"))
    monitor, direction = MONITORS[study.task]
    data = load_dataset(study)
    return Setup(
        task=study.task,
        space=raw["space"],
        epochs=study.epochs,
        batch_size=study.batch_size,
        patience=int(getattr(study.settings.get(section), "patience", 0) or 0),
        seed=study.seed,
        monitor=monitor,
        direction=direction,
        n_classes=data.n_outputs if study.task == "classification" else None,
        data=data,
        study=study,
    )


def prepare(s: Setup) -> tuple[Any, Any, Any]:
    """The study's preprocessing, fitted on the training split: (train, val, test) inputs."""
    steps = fitted_preprocessing(s.study, s.data.x_train)
    x_train, x_val, x_test = (
        transform(steps, x) for x in (s.data.x_train, s.data.x_val, s.data.x_test)
    )
    return x_train, x_val, x_test


def build_mlp(params: dict[str, Any], n_features: int, n_classes: int | None) -> Any:
    """hpsearch's MLP (hpsearch.model.mlp.build_model, its defaults): `n_hidden` Dense layers
    of `n_neurons`, each followed by Dropout when `dropout` > 0, then the task's head."""
    import keras

    model = keras.Sequential([keras.Input(shape=(n_features,))])
    for _ in range(int(params.get("n_hidden", 2))):
        model.add(
            keras.layers.Dense(int(params.get("n_neurons", 100)), params.get("activation", "relu"))
        )
        if params.get("dropout", 0.0):
            model.add(keras.layers.Dropout(params["dropout"]))
    if n_classes:
        model.add(keras.layers.Dense(n_classes, activation="softmax"))
        loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
    else:
        model.add(keras.layers.Dense(1))
        loss, metrics = "mse", [keras.metrics.RootMeanSquaredError()]
    optimizer = keras.optimizers.get(
        {
            "class_name": params.get("optimizer", "adam"),
            "config": {"learning_rate": params.get("learning_rate", 1e-3)},
        }
    )
    model.compile(loss=loss, optimizer=optimizer, metrics=metrics)
    return model


def _range(spec: dict[str, Any]) -> tuple[Any, Any, bool, bool]:
    """(low, high, log, integers) of a `{ low, high, log }` range."""
    unknown = set(spec) - {"low", "high", "log"}
    if unknown:
        raise ValueError(f"a space range with {sorted(unknown)}: not read by the peers")
    low, high = spec["low"], spec["high"]
    integers = isinstance(low, int) and isinstance(high, int)
    return low, high, bool(spec.get("log", False)), integers


def suggest(trial: Any, space: dict[str, Any]) -> dict[str, Any]:
    """Optuna's `suggest_*` for each parameter of the study's [space]."""
    params: dict[str, Any] = {}
    for name, spec in space.items():
        if isinstance(spec, dict):
            low, high, log, integers = _range(spec)
            suggest_range = trial.suggest_int if integers else trial.suggest_float
            params[name] = suggest_range(name, low, high, log=log)
        elif isinstance(spec, list):
            params[name] = trial.suggest_categorical(name, spec)
        else:
            params[name] = spec
    return params


def hp_params(hp: Any, space: dict[str, Any]) -> dict[str, Any]:
    """Keras Tuner's `hp.*` for each parameter of the study's [space]."""
    params: dict[str, Any] = {}
    for name, spec in space.items():
        if isinstance(spec, dict):
            low, high, log, integers = _range(spec)
            sampling = "log" if log else "linear"
            draw = hp.Int if integers else hp.Float
            params[name] = draw(name, low, high, sampling=sampling)
        elif isinstance(spec, list):
            params[name] = hp.Choice(name, spec)
        else:
            params[name] = hp.Fixed(name, spec)
    return params


def model_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k != "batch_size"}


def test_score(s: Setup, model: Any, x_test: Any) -> float:
    import numpy as np

    predicted = model.predict(x_test, verbose=0)
    if s.task == "classification":
        predicted = np.argmax(predicted, axis=1)
    scores = test_scores(s.task, s.data.y_test, predicted)
    return scores["test_accuracy" if s.task == "classification" else "test_rmse"]


def early_stopping(s: Setup, restore: bool) -> list[Any]:
    import keras

    if s.patience <= 0:
        return []
    return [
        keras.callbacks.EarlyStopping(  # on the objective, as hpsearch's engines stop
            monitor=s.monitor,
            mode="max" if s.direction == MAXIMIZE else "min",
            patience=s.patience,
            restore_best_weights=restore,
        )
    ]
