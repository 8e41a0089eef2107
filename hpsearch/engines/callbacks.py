"""Keras callbacks every engine trains with."""

from __future__ import annotations

import math
from typing import Any

import keras

from hpsearch.runtime import interrupt
from hpsearch.study.trials import MAXIMIZE, MINIMIZE

LOSS = "val_loss"


def training_callbacks(
    patience: int, objective: str = LOSS, direction: str = MINIMIZE
) -> list[Any]:
    """Keras callbacks: fail a diverging fit, and stop on the trial's objective (the metric
    it is selected on) restoring its best epoch's weights."""
    callbacks: list[Any] = [FailOnNonFiniteLoss()]
    if patience > 0:
        callbacks.append(ObjectiveStopping(objective, direction, patience))
    return callbacks


class ObjectiveStopping(keras.callbacks.EarlyStopping):
    """Early stopping on the objective, restoring the best weights by it, or on val_loss where
    the model reports no such metric (a scikit-learn scorer Keras does not compute).

    Why not always val_loss: the trial is scored and selected by its objective at the epoch
    restored, and the best epoch by loss is often not the best by accuracy (validation loss
    rises from overconfidence while accuracy still climbs; benchmarks/early_stopping.py)."""

    def __init__(self, objective: str, direction: str, patience: int) -> None:
        mode = "max" if direction == MAXIMIZE else "min"
        super().__init__(monitor=objective, mode=mode, patience=patience, restore_best_weights=True)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        monitor = str(getattr(self, "monitor"))  # noqa: B009 (Keras sets it untyped)
        if logs and monitor not in logs and monitor != LOSS and LOSS in logs:
            self.monitor, self.mode, self.monitor_op = LOSS, "min", None
        super().on_epoch_end(epoch, logs)


class FailOnNonFiniteLoss(keras.callbacks.Callback):
    """Raise as soon as the loss is NaN/inf, so the trial is recorded as failed with a reason."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        interrupt.check()  # a Ctrl-C swallowed inside Keras still stops at the epoch's end
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise FloatingPointError(f"loss became {float(loss)} at epoch {epoch + 1}")


def monitored(engine: Any, study: Any) -> tuple[str, str]:
    """The Keras metric early stopping watches for `engine`'s trials, and its direction: the
    engine's objective (a scikit-learn scorer's name gets Keras's `val_` prefix)."""
    name, direction = engine.metric(study)
    return (name if name.startswith("val_") else f"val_{name}"), direction
