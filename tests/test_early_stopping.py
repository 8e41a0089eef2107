"""Early stopping watches each engine's objective and restores its best epoch, falling back to
val_loss where the model reports no such metric; the benchmark's replay of the rule agrees with
Keras's own callback."""

from __future__ import annotations

import random
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from hpsearch.engines.callbacks import ObjectiveStopping, monitored, training_callbacks
from hpsearch.study.trials import MAXIMIZE, MINIMIZE

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from early_stopping import replay  # noqa: E402

# val_loss is best at epoch 1 and rises (overconfidence) while val_accuracy climbs to epoch 4.
LOSS = [0.50, 0.40, 0.42, 0.45, 0.47, 0.52, 0.55, 0.58, 0.60, 0.61]
ACCURACY = [0.80, 0.84, 0.85, 0.86, 0.87, 0.86, 0.86, 0.85, 0.86, 0.86]


def drive(callback: keras.callbacks.EarlyStopping, logs: list[dict]) -> tuple[int, int]:
    """Run `callback` over per-epoch logs on a tiny model whose weights mark the epoch; the
    epoch whose weights it restored and the number of epochs trained."""
    model = keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(1)])
    model.stop_training = False  # as fit sets it
    callback.set_model(model)
    callback.on_train_begin()
    trained = 0
    for epoch, epoch_logs in enumerate(logs):
        model.layers[0].kernel.assign(np.full((1, 1), float(epoch), dtype="float32"))
        callback.on_epoch_end(epoch, epoch_logs)
        trained += 1
        if model.stop_training:
            break
    callback.on_train_end()
    return int(model.layers[0].kernel.numpy()[0, 0]), trained


def logs(**series: list[float]) -> list[dict]:
    return [dict(zip(series, values, strict=True)) for values in zip(*series.values(), strict=True)]


def test_stops_on_the_objective_and_restores_its_best_epoch() -> None:
    (stopping,) = training_callbacks(3, "val_accuracy", MAXIMIZE)[1:]
    assert isinstance(stopping, ObjectiveStopping)
    restored, trained = drive(stopping, logs(val_loss=LOSS, val_accuracy=ACCURACY))
    assert (restored, trained) == (4, 8)  # by val_loss it would have been epoch 1, after 5


def test_val_loss_is_still_watched_when_asked() -> None:
    (stopping,) = training_callbacks(3)[1:]
    assert drive(stopping, logs(val_loss=LOSS, val_accuracy=ACCURACY)) == (1, 5)


def test_a_metric_the_model_does_not_report_falls_back_to_val_loss() -> None:
    (stopping,) = training_callbacks(3, "val_f1_macro", MAXIMIZE)[1:]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert drive(stopping, logs(val_loss=LOSS, val_accuracy=ACCURACY)) == (1, 5)
    assert not [w for w in seen if "not available" in str(w.message)]


def test_no_patience_no_stopping() -> None:
    assert [type(c).__name__ for c in training_callbacks(0, "val_accuracy", MAXIMIZE)] == [
        "FailOnNonFiniteLoss"
    ]


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        (("accuracy", MAXIMIZE), ("val_accuracy", MAXIMIZE)),  # a scikit-learn scorer
        (("root_mean_squared_error", MINIMIZE), ("val_root_mean_squared_error", MINIMIZE)),
        (("val_accuracy", MAXIMIZE), ("val_accuracy", MAXIMIZE)),  # a Keras objective
    ],
)
def test_monitored_names_the_keras_metric(metric: tuple, expected: tuple) -> None:
    engine = SimpleNamespace(metric=lambda study: metric)
    assert monitored(engine, None) == expected


@pytest.mark.parametrize("seed", range(5))
def test_the_benchmarks_replay_agrees_with_keras(seed: int) -> None:
    rng = random.Random(seed)
    values = [round(rng.uniform(0.8, 0.9), 2) for _ in range(30)]  # rounded: ties happen
    stopping = ObjectiveStopping("val_accuracy", MAXIMIZE, patience=4)
    restored, trained = drive(stopping, logs(val_accuracy=values, val_loss=values))
    assert replay(values, 4, maximize=True) == (restored, trained - 1)
