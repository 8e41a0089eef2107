"""A Keras model as a fitted scikit-learn pipeline: what the engines that train Keras models
themselves (Keras Tuner, Optuna) share to hand their best model on, and to rebuild any
trial's model from its saved weights."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.study.config import split_params

if TYPE_CHECKING:
    from hpsearch.engines.base import KerasObjectiveEngine
    from hpsearch.study.config import Study


def estimator_from_weights(
    engine: KerasObjectiveEngine, study: Study, params: dict[str, Any], weights: Path, data: Any
) -> Any:
    """A trial's model rebuilt as a fitted pipeline: the study's model factory with its
    parameters and the weights it saved (preprocessing fitted on the training data, as in the
    search)."""
    from hpsearch.model.factory import build  # lazy: loads Keras

    steps = fitted_preprocessing(study, data.x_train)
    keras_model = build(
        study,
        split_params(params)[0],
        transform(steps, data.x_train[:1]).shape[1:],
        data.n_outputs,
    )
    keras_model.optimizer.build(keras_model.trainable_variables)  # as saved: no warning
    with warnings.catch_warnings():  # a checkpoint without optimizer state predicts the same
        warnings.simplefilter("ignore", UserWarning)
        keras_model.load_weights(str(weights))
    return as_estimator(engine, study, steps, params, keras_model, data)


def fitted_preprocessing(study: Study, x_train: Any) -> list[tuple[str, Any]]:
    """The study's preprocessing steps, each fitted on the training data (the step before's output)."""
    from hpsearch.engines.common import preprocessing  # lazy: loads NumPy

    steps = preprocessing(study)
    for _, step in steps:  # fitted on training data only, each on the step before's output
        x_train = step.fit_transform(x_train)
    return steps


def transform(steps: list[tuple[str, Any]], x: Any) -> Any:
    """`x` through fitted steps."""
    for _, step in steps:
        x = step.transform(x)
    return x


def as_estimator(
    engine: KerasObjectiveEngine,
    study: Study,
    steps: list[tuple[str, Any]],
    params: dict[str, Any],
    keras_model: Any,
    data: Any,
) -> Any:
    """The best trial as a fitted scikit-learn pipeline: the same preprocessing, then
    hpsearch's wrapper of the study's model factory with the trial's hyperparameters and
    weights."""
    from sklearn.pipeline import Pipeline

    from hpsearch.engines.callbacks import monitored, training_callbacks  # lazy: Keras
    from hpsearch.model.factory import scikeras_model  # lazy: loads Keras
    from hpsearch.model.wrappers import (  # lazy: loads scikeras, SciPy, scikit-learn
        KerasClassifier,
        KerasRegressor,
    )

    cls = KerasClassifier if study.task == "classification" else KerasRegressor
    patience = study.settings[engine.name].patience
    # A user who refits it gets the trial's training: early stopping needs validation data.
    split = {"validation_split": 0.1} if patience else {}
    build, fit = split_params(params)
    wrapper = cls(
        model=scikeras_model(study),
        epochs=study.epochs,
        verbose=0,
        callbacks=training_callbacks(patience, *monitored(engine, study)),
        **split,
        **{f"model__{k}": v for k, v in build.items()},
        **{"batch_size": study.batch_size, **fit},
    )
    wrapper.initialize(transform(steps, data.x_train), data.y_train)  # builds, trains nothing
    wrapper.model_.set_weights(keras_model.get_weights())
    # Saved with an untrained optimizer, the model would warn on every load (2 of 10 variables).
    wrapper.model_.optimizer.build(wrapper.model_.trainable_variables)
    return Pipeline([*steps, ("model", wrapper)])
