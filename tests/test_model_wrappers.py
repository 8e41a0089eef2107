"""build_model shapes and losses; the wrappers' sklearn tags, pipelines, pickle and clone."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy.stats import loguniform
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.model_selection import RandomizedSearchCV, StratifiedKFold, check_cv, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hpsearch import KerasClassifier, KerasRegressor, build_model


def _blobs(n=240, classes=3, features=5, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), n // classes)
    X = rng.normal(size=(n, features)).astype("float32") + y[:, None] * 2.0
    return X, y


@pytest.mark.parametrize("n_hidden", [0, 1, 3])
def test_build_model_classification_shapes_and_loss(n_hidden):
    model = build_model(n_hidden=n_hidden, n_neurons=7, n_features=12, n_classes=4)
    dense = [layer for layer in model.layers]
    assert len(dense) == n_hidden + 1
    assert all(layer.units == 7 for layer in dense[:-1])
    assert model.output_shape == (None, 4)
    assert dense[-1].activation.__name__ == "softmax"
    assert model.loss == "sparse_categorical_crossentropy"
    assert model.input_shape == (None, 12)


def test_build_model_regression_head_and_optimizer():
    model = build_model(
        n_hidden=2,
        n_neurons=5,
        activation="tanh",
        optimizer="rmsprop",
        learning_rate=0.05,
        n_features=8,
    )
    assert model.output_shape == (None, 1)
    assert model.layers[-1].activation.__name__ == "linear"
    assert model.layers[0].activation.__name__ == "tanh"
    assert model.loss == "mse"
    assert type(model.optimizer).__name__ == "RMSprop"
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)


def test_build_model_reads_scikeras_meta():
    model = build_model(n_hidden=1, meta={"n_features_in_": 3, "n_classes_": 5})
    assert model.input_shape == (None, 3) and model.output_shape == (None, 5)


@pytest.mark.parametrize("bad", [{"optimizer": "adagrad"}, {"n_features": None}])
def test_build_model_refuses_bad_arguments(bad):
    kwargs = {"n_features": 4, **bad}
    with pytest.raises(ValueError):
        build_model(**kwargs)


def test_tags_make_sklearn_treat_wrappers_right():
    clf, reg = KerasClassifier(build_model), KerasRegressor(build_model)
    assert is_classifier(clf) and not is_regressor(clf)
    assert is_regressor(reg) and not is_classifier(reg)
    y = np.array([0, 1, 2] * 10)
    assert isinstance(check_cv(3, y, classifier=is_classifier(clf)), StratifiedKFold)
    # inside a pipeline too: the last step's tags decide
    assert is_classifier(make_pipeline(StandardScaler(), clf))


def test_integer_cv_on_classifier_is_stratified_in_practice():
    """With sorted labels, plain KFold would leave classes out of training folds entirely."""
    X, y = _blobs(n=90, classes=3)
    clf = KerasClassifier(
        build_model, model__n_hidden=1, model__n_neurons=8, epochs=1, verbose=0, random_state=0
    )
    from sklearn.model_selection import cross_validate

    folds = cross_validate(clf, X, y, cv=3, return_indices=True)["indices"]["test"]
    for test_idx in folds:
        assert sorted(np.unique(y[test_idx])) == [0, 1, 2]


def test_user_pipeline_search_pickle_and_clone():
    """The README's library use: a pipeline with our regressor inside RandomizedSearchCV."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 4)).astype("float32") * [1, 10, 100, 1000]
    y = (X[:, 0] + X[:, 1] / 10).astype("float32")
    pipe = make_pipeline(
        StandardScaler(), KerasRegressor(build_model, epochs=3, verbose=0, random_state=0)
    )
    search = RandomizedSearchCV(
        pipe,
        {
            "kerasregressor__model__n_hidden": [1, 2],
            "kerasregressor__model__learning_rate": loguniform(1e-3, 1e-2),
        },
        n_iter=2,
        cv=2,
        random_state=0,
    )
    search.fit(X, y)
    assert search.best_params_["kerasregressor__model__n_hidden"] in (1, 2)
    best = search.best_estimator_
    restored = pickle.loads(pickle.dumps(best))
    np.testing.assert_allclose(restored.predict(X), best.predict(X), rtol=1e-5, atol=1e-5)
    fresh = clone(best)
    assert (
        fresh.get_params()["kerasregressor__model__n_hidden"]
        == best.get_params()["kerasregressor__model__n_hidden"]
    )
    assert not hasattr(fresh[-1], "model_")  # clone is unfitted


def test_classifier_learns_and_survives_pickle():
    X, y = _blobs()
    clf = KerasClassifier(
        build_model,
        model__n_hidden=1,
        model__n_neurons=16,
        model__learning_rate=0.01,
        epochs=15,
        verbose=0,
        random_state=0,
    )
    score = cross_val_score(clf, X, y, cv=3).mean()
    assert score > 0.8  # separable blobs; chance is 1/3
    clf.fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    assert (restored.predict(X) == clf.predict(X)).all()


def test_every_optimizer_a_study_may_name_is_built():
    from hpsearch.model.mlp import OPTIMIZER_CLASSES
    from hpsearch.study.config import OPTIMIZERS

    assert set(OPTIMIZERS) == set(OPTIMIZER_CLASSES)
    for name in OPTIMIZERS:
        model = build_model(
            n_hidden=1, n_neurons=2, optimizer=name, learning_rate=0.02, n_features=3
        )
        assert float(model.optimizer.learning_rate) == pytest.approx(0.02)
