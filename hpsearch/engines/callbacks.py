"""Keras callbacks both engines train with."""

from __future__ import annotations

import math
from typing import Any

import keras

from hpsearch.runtime import interrupt


def training_callbacks(patience: int) -> list[Any]:
    """Keras callbacks: fail a diverging fit, and stop on val_loss restoring the best weights."""
    callbacks: list[Any] = [FailOnNonFiniteLoss()]
    if patience > 0:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=patience, restore_best_weights=True
            )
        )
    return callbacks


class FailOnNonFiniteLoss(keras.callbacks.Callback):
    """Raise as soon as the loss is NaN/inf, so the trial is recorded as failed with a reason."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        interrupt.check()  # a Ctrl-C swallowed inside Keras still stops at the epoch's end
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise FloatingPointError(f"loss became {float(loss)} at epoch {epoch + 1}")
