"""An example model factory for `[model] factory = "cnn:build_cnn"` (with `path = "examples"`
in a study under the repository root; see studies/fashion_cnn.toml).

hpsearch calls it with the study's searched parameters and the context arguments it
declares (here `input_shape` and `n_classes`); it returns a compiled Keras model.
"""

from __future__ import annotations

import keras

# Flat samples of these sizes are square grey images: Fashion-MNIST (784), sklearn digits (64).
SQUARES = {784: 28, 64: 8}


def build_cnn(
    filters: int = 16,
    kernel_size: int = 3,
    dense: int = 64,
    dropout: float = 0.0,
    learning_rate: float = 1e-3,
    *,
    input_shape: tuple[int, ...],
    n_classes: int,
) -> keras.Model:
    """Two convolution blocks (`filters`, then twice as many), a Dense layer of `dense` units
    and a softmax over `n_classes`; Adam at `learning_rate`, sparse cross-entropy, accuracy.

    A flat sample of 784 or 64 values is reshaped to its square image first, so that the
    built-in fashion_mnist dataset (flat vectors of 784 pixels) runs as it is.
    """
    inputs = keras.Input(shape=input_shape)
    x = inputs
    if len(input_shape) == 1:
        side = SQUARES.get(input_shape[0])
        if side is None:
            raise ValueError(
                f"build_cnn needs an image, or a flat square of 784 or 64 values, "
                f"got samples of shape {input_shape}"
            )
        x = keras.layers.Reshape((side, side, 1))(x)
    elif len(input_shape) == 2:  # one grey channel
        x = keras.layers.Reshape((*input_shape, 1))(x)
    for scale in (1, 2):
        x = keras.layers.Conv2D(filters * scale, kernel_size, padding="same", activation="relu")(x)
        if min(x.shape[1:3]) >= 4:  # pool while there is room: an 8x8 digit ends at 2x2
            x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(dense, activation="relu")(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
