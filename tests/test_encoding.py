"""Piecewise-linear encoding: the transformer itself, scikit-learn's checks on it, and each
engine training and keeping a model behind it (`[train] encoding = "piecewise_linear"`)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from hpsearch.data.encoding import PiecewiseLinearEncoder
from hpsearch.study.config import parse_study

from test_engines import run_engine, study_text, synthetic


def test_each_value_is_ones_below_its_bin_its_position_inside_and_zeros_above():
    X = np.arange(9.0).reshape(-1, 1)  # quantile edges 0, 2, 4, 6, 8
    encoder = PiecewiseLinearEncoder(n_bins=4).fit(X)
    np.testing.assert_allclose(encoder.edges_[0], [0, 2, 4, 6, 8])
    np.testing.assert_allclose(
        encoder.transform([[3.0], [8.0], [-5.0], [100.0]]),
        [[1, 0.5, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 1, 1]],
    )


def test_width_is_the_bins_of_each_feature_and_order_is_kept():
    rng = np.random.default_rng(0)
    X = np.c_[rng.normal(size=500), rng.integers(0, 3, size=500), np.full(500, 7.0)]
    encoder = PiecewiseLinearEncoder(n_bins=16).fit(X)
    Z = encoder.transform(X)
    # 16 bins; a feature with 3 values has 2 bins; a constant one keeps a column of zeros
    assert Z.shape == (500, 16 + 2 + 1) and Z.dtype == np.float32
    assert Z.min() >= 0 and Z.max() <= 1 and not Z[:, -1].any()
    order = np.argsort(X[:, 0])
    assert np.all(np.diff(Z[order, :16].sum(axis=1)) >= 0)  # monotone in the feature


@pytest.mark.parametrize("bad", [0, 2.5, "8"])
def test_bad_bins_are_refused(bad):
    with pytest.raises(ValueError, match="n_bins must be a positive integer"):
        PiecewiseLinearEncoder(n_bins=bad).fit(np.ones((4, 1)))


@parametrize_with_checks([PiecewiseLinearEncoder(n_bins=4)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


SPACE = 'n_hidden = 1\nn_neurons = [8, 16]\noptimizer = "adam"\nlearning_rate = 0.01'


@pytest.mark.parametrize("engine", ["sklearn", "keras_tuner", "optuna"])
def test_every_engine_trains_and_keeps_its_model_behind_the_encoder(engine, tmp_path):
    text = study_text("california_housing", (engine,), SPACE, epochs=2).replace(
        "batch_size = 32", 'batch_size = 32\nencoding = "piecewise_linear"\nbins = 5'
    )
    text += "\n[optuna]\nn_trials = 2\n"
    study = parse_study(text)
    data = synthetic("california_housing")
    # far from standard scale, so that edges fitted before scaling would be caught
    data = dataclasses.replace(data, x_train=data.x_train * 10 + 50, x_val=data.x_val * 10 + 50)
    result, reported = run_engine(engine, study, data, tmp_path)
    assert [r.status for r in reported] == ["ok", "ok"], [r.error for r in reported]
    model = result.model
    assert [name for name, _ in model.steps] == ["scale", "encode", "model"]
    assert model.steps[-1][1].model_.input_shape == (None, 8 * 5)  # 5 bins of 8 features
    # edges fitted on the scaled training data: its bins are filled evenly (mean 0.5)
    assert abs(model[:-1].transform(data.x_train).mean() - 0.5) < 0.05
    new_rows = synthetic("california_housing", n=40, seed=9).x_train * 10 + 50
    predicted = model.predict(new_rows)
    assert predicted.shape == (len(new_rows),) and np.isfinite(predicted).all()
