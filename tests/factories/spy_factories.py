"""Model factories for tests/test_model_factory.py, imported through a study's `[model] path`:
each records every call (its keyword arguments) in CALLS."""

from __future__ import annotations

from typing import Any

import keras

CALLS: list[dict[str, Any]] = []


def _compiled(units: int, learning_rate: float, n_out: int, task: str, metrics: list) -> Any:
    head = keras.layers.Dense(n_out, activation="softmax" if task == "classification" else None)
    model = keras.Sequential([keras.layers.Dense(units, activation="relu"), head])
    loss = "sparse_categorical_crossentropy" if task == "classification" else "mse"
    model.compile(keras.optimizers.Adam(learning_rate), loss, metrics=metrics)
    return model


def spy_shape(
    units: int = 8,
    learning_rate: float = 0.01,
    activation: str = "relu",
    *,
    input_shape: tuple[int, ...],
    n_outputs: int,
    task: str,
    **extra: Any,
) -> keras.Model:
    """Declares input_shape, n_outputs and task (and **extra, to catch what else comes)."""
    CALLS.append(
        dict(
            units=units,
            learning_rate=learning_rate,
            activation=activation,
            input_shape=input_shape,
            n_outputs=n_outputs,
            task=task,
            **extra,
        )
    )
    model = _compiled(units, learning_rate, n_outputs, task, ["accuracy"])
    model.build((None, *input_shape))
    return model


class SparseAUC(keras.metrics.AUC):
    """AUC of integer labels against class probabilities (the labels one-hot encoded)."""

    def __init__(self, n_classes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n_classes = n_classes

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        labels = keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32")
        return super().update_state(keras.ops.one_hot(labels, self.n_classes), y_pred)


def spy_meta(units: int = 8, *, n_features: int, n_classes: int, meta: dict) -> keras.Model:
    """Declares n_features, n_classes and meta; compiles an AUC metric (val_auc)."""
    CALLS.append(dict(units=units, n_features=n_features, n_classes=n_classes, meta=dict(meta)))
    model = _compiled(units, 0.01, n_classes, "classification", [SparseAUC(n_classes, name="auc")])
    model.build((None, n_features))
    return model


NOT_A_FUNCTION = 3
