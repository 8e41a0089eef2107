"""The one model factory both engines call."""

from __future__ import annotations

from typing import Any

import keras

OPTIMIZER_CLASSES = {
    "sgd": keras.optimizers.SGD,
    "adam": keras.optimizers.Adam,
    "rmsprop": keras.optimizers.RMSprop,
    "nadam": keras.optimizers.Nadam,
    "adamw": keras.optimizers.AdamW,
}


def build_model(
    n_hidden: int = 2,
    n_neurons: int = 100,
    activation: str = "relu",
    optimizer: str = "adam",
    learning_rate: float = 1e-3,
    dropout: float = 0.0,
    *,
    meta: dict[str, Any] | None = None,
    n_features: int | None = None,
    n_classes: int | None = None,
) -> keras.Model:
    """A compiled MLP: `n_hidden` Dense layers of `n_neurons` (each followed by Dropout
    when `dropout` > 0), then the task's head.

    The task follows the data: scikeras passes `meta` (classification when it has
    `n_classes_`); called directly, give `n_features` and `n_classes` (None or 0
    for regression). Classification: softmax + sparse categorical cross-entropy;
    a multilabel indicator target: one sigmoid per label + binary cross-entropy;
    regression: one linear unit per target column + MSE.
    """
    multilabel, n_outputs = False, 1
    if meta is not None:
        n_features = meta["n_features_in_"]
        n_classes = meta.get("n_classes_")
        if "n_classes_" in meta and not n_classes:
            # scikeras leaves n_classes_ None for multiclass-multioutput: no head fits it
            raise ValueError(f"build_model cannot fit a {meta.get('target_type_')!r} target")
        # one-hot targets are multilabel-indicator too: sigmoids + argmax still decode them
        multilabel = meta.get("target_type_") == "multilabel-indicator"
        n_outputs = meta.get("n_outputs_") or 1  # columns of a regression target
    if not n_features:
        raise ValueError(f"build_model needs n_features (or scikeras's meta), got {n_features!r}")
    if optimizer not in OPTIMIZER_CLASSES:
        raise ValueError(
            f"optimizer must be one of {', '.join(OPTIMIZER_CLASSES)}, got {optimizer!r}"
        )
    model = keras.Sequential([keras.Input(shape=(n_features,))])
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    for _ in range(n_hidden):
        model.add(keras.layers.Dense(n_neurons, activation=activation))
        if dropout:
            model.add(keras.layers.Dropout(dropout))
    if multilabel:
        # labels are independent: a sigmoid each; Keras maps "accuracy" to binary accuracy
        model.add(keras.layers.Dense(n_classes, activation="sigmoid"))
        loss, metrics = "binary_crossentropy", ["accuracy"]
    elif n_classes:
        model.add(keras.layers.Dense(n_classes, activation="softmax"))
        loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
    else:
        model.add(keras.layers.Dense(n_outputs))
        loss, metrics = "mse", [keras.metrics.RootMeanSquaredError()]
    model.compile(
        loss=loss,
        optimizer=OPTIMIZER_CLASSES[optimizer](learning_rate=learning_rate),
        metrics=metrics,
    )
    return model
