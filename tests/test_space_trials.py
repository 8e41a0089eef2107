"""The space's mapping to each engine, and the trial tables."""

from __future__ import annotations

import dataclasses
import math

import keras_tuner as kt
import numpy as np
import pandas as pd
from sklearn.model_selection import ParameterSampler

from hpsearch.study.config import Choice, Fixed, FloatRange, IntRange
from hpsearch.study.space import from_hp, sklearn_distributions
from hpsearch.study.trials import COLUMNS, TrialRecord, best_trial, trials_dataframe

SPACE = {
    "n_hidden": IntRange(1, 3),
    "n_neurons": IntRange(16, 512, log=True),
    "activation": Choice(("relu", "tanh")),
    "optimizer": Fixed("adam"),
    "learning_rate": FloatRange(1e-4, 1e-2, log=True),
}


def test_sklearn_samples_stay_in_range_and_cover_it():
    dists = sklearn_distributions(SPACE, prefix="m__")
    samples = list(ParameterSampler(dists, n_iter=300, random_state=0))
    hidden = {s["m__n_hidden"] for s in samples}
    neurons = np.array([s["m__n_neurons"] for s in samples])
    rates = np.array([s["m__learning_rate"] for s in samples])
    assert hidden == {1, 2, 3}
    assert neurons.min() >= 16 and neurons.max() <= 512
    assert all(type(s["m__n_neurons"]) is int for s in samples)
    # log-uniform: about half the draws below the geometric mean
    assert 0.35 < np.mean(neurons < math.sqrt(16 * 512)) < 0.65
    assert rates.min() >= 1e-4 and rates.max() <= 1e-2
    assert 0.35 < np.mean(rates < 1e-3) < 0.65
    assert {s["m__optimizer"] for s in samples} == {"adam"}
    assert {s["m__activation"] for s in samples} == {"relu", "tanh"}


def test_unique_samples_are_distinct_deterministic_and_cover_small_spaces():
    from hpsearch.study.space import unique_samples

    small = sklearn_distributions({"n_hidden": IntRange(1, 2), "activation": Choice(("a", "b"))})
    draws = unique_samples(small, 10, random_state=0)  # only 4 combinations exist
    assert len(draws) == 4
    assert {(d["n_hidden"], d["activation"]) for d in draws} == {
        (1, "a"),
        (1, "b"),
        (2, "a"),
        (2, "b"),
    }
    assert unique_samples(small, 10, random_state=0) == draws  # a resumed search sees the same
    big = unique_samples(sklearn_distributions(SPACE), 20, random_state=3)
    assert len({tuple(sorted(d.items())) for d in big}) == 20


def test_zero_width_ranges_are_fixed_values():
    dists = sklearn_distributions(
        {"learning_rate": FloatRange(0.01, 0.01, log=True), "n_neurons": IntRange(8, 8, log=True)}
    )
    assert dists == {"learning_rate": [0.01], "n_neurons": [8]}
    hp = kt.HyperParameters()
    assert from_hp(hp, {"learning_rate": FloatRange(0.01, 0.01, log=True)}) == {
        "learning_rate": 0.01
    }


def test_keras_tuner_adapter_declares_the_same_space():
    hp = kt.HyperParameters()
    values = from_hp(hp, SPACE)
    assert set(values) == set(SPACE)
    declared = {p.name: p for p in hp.space}
    assert declared["n_hidden"].min_value == 1 and declared["n_hidden"].max_value == 3
    assert declared["n_neurons"].sampling == "log"
    assert declared["learning_rate"].sampling == "log"
    assert list(declared["activation"].values) == ["relu", "tanh"]
    assert values["optimizer"] == "adam"


def _rec(trial, score, status="ok", engine="sklearn", direction="maximize"):
    return TrialRecord(
        engine=engine,
        trial=trial,
        status=status,
        params={"n_hidden": 1},
        metric="accuracy",
        direction=direction,
        val_score=score,
    )


def test_best_trial_skips_failed_and_nan_and_respects_direction():
    records = [_rec("0", 0.5), _rec("1", math.nan), _rec("2", 0.9, status="failed"), _rec("3", 0.7)]
    assert best_trial(records).trial == "3"
    lower = [dataclasses.replace(r, direction="minimize") for r in records]
    assert best_trial(lower).trial == "0"  # the direction travels with each record
    assert best_trial([_rec("0", 1.0, status="failed")]) is None


def test_trials_dataframe_columns_and_rows():
    frame = trials_dataframe([_rec("0", 0.5), _rec("1", 0.6, engine="keras_tuner")])
    assert list(frame.columns[: len(COLUMNS)]) == COLUMNS
    assert frame["engine"].tolist() == ["sklearn", "keras_tuner"]
    assert frame["param_n_hidden"].tolist() == [1, 1]
    assert isinstance(frame, pd.DataFrame) and len(frame) == 2


def test_trial_ids_and_float32_scores_have_one_form():
    from hpsearch.study.trials import float32_score, trial_id

    assert [trial_id(i) for i in (0, 7, 42, 1234)] == ["000", "007", "042", "1234"]
    assert float32_score(0.8880000114440918) == 0.888  # float32 noise dropped
    assert float32_score(0.5212345) == 0.5212345
