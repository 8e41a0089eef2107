"""dropout and batch_size as study space parameters, in every engine: each trial trains with
its own values, the records carry them, and the kept best model is built with them."""

from __future__ import annotations

from collections import Counter
from typing import Any

import keras
import pytest

from hpsearch.model.mlp import build_model
from hpsearch.study.config import parse_study

from test_engines import run_engine, study_text, synthetic

SPACE = (
    'n_hidden = 1\nn_neurons = 8\noptimizer = "adam"\nlearning_rate = 0.01\n'
    "dropout = [0.0, 0.5]\nbatch_size = [16, 64]"
)


def dropout_of(model: keras.Model) -> float:
    rates = {layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)}
    assert len(rates) <= 1
    return rates.pop() if rates else 0.0


def test_build_model_adds_dropout_after_each_hidden_layer():
    model = build_model(3, 16, dropout=0.25, n_features=4, n_classes=3)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Dense", "Dropout"] * 3 + ["Dense"]
    assert dropout_of(model) == 0.25
    assert [type(layer).__name__ for layer in build_model(2, 16, n_features=4).layers] == [
        "Dense"
    ] * 3
    with pytest.raises(ValueError, match="dropout must be in"):
        build_model(1, 4, dropout=1.0, n_features=4)


@pytest.mark.parametrize("engine", ["sklearn", "keras_tuner", "optuna"])
def test_each_trial_trains_with_its_dropout_and_batch_size(engine, tmp_path, monkeypatch):
    fits: list[tuple[int, float]] = []
    real_fit = keras.Model.fit

    def spy(self: keras.Model, *args: Any, **kwargs: Any) -> Any:
        fits.append((kwargs.get("batch_size"), dropout_of(self)))
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy)
    text = (
        study_text("fashion_mnist", (engine,), SPACE, epochs=1)
        .replace("n_iter = 2", "n_iter = 4")
        .replace("max_trials = 2", "max_trials = 4")
    )
    text += '\n[optuna]\nn_trials = 4\nsampler = "random"\n'
    study = parse_study(text)
    result, reported = run_engine(engine, study, synthetic("fashion_mnist"), tmp_path)

    trained = {(r.params["batch_size"], r.params["dropout"]) for r in reported}
    assert all(r.status == "ok" for r in reported), [r.error for r in reported]
    assert len(trained) >= 2  # the draws differ, so a fixed batch or rate would be caught
    # one fit per trial (sklearn: its refit of the best as well), each with the trial's values
    per_trial = Counter((r.params["batch_size"], r.params["dropout"]) for r in reported)
    if engine == "sklearn":
        per_trial[result.best.params["batch_size"], result.best.params["dropout"]] += 1
    assert Counter(fits) == per_trial

    wrapper = result.model.steps[-1][1]
    assert wrapper.batch_size == result.best.params["batch_size"]
    assert dropout_of(wrapper.model_) == result.best.params["dropout"]
