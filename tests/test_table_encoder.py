"""TableEncoder: raw rows in (missing values, unseen categories, extra columns), one clear
error for a missing column or text in a numeric one; LabelledClassifier answers with labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from hpsearch.data.table import TableEncoder
from hpsearch.model.labels import LabelledClassifier

TRAIN = pd.DataFrame(
    {
        "size": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0],
        "colour": ["red", "blue", "red", None, "blue", "red"],
        "year": [2007, 2008, 2007, 2009, 2008, 2007],
    }
)


def test_missing_values_and_unseen_categories_are_encoded_not_refused():
    enc = TableEncoder(categorical=("colour", "year")).fit(TRAIN)
    out = enc.transform(TRAIN)
    # size (scaled) + its missing flag; colour: blue, red, (missing); year: 3 values
    assert out.shape == (6, 2 + 3 + 3) and out.dtype == np.float32
    assert np.isfinite(out).all()
    rows = pd.DataFrame(
        {"size": [np.nan], "colour": ["green"], "year": [2007.0], "species": ["ignored"]}
    )
    new = enc.transform(rows)
    assert new.shape == (1, 8) and np.isfinite(new).all()
    assert new[0, 1] == out[2, 1] > out[0, 1]  # the missing flag of size, as row 2's (scaled)
    assert new[0, 2:5].sum() == 0.0  # green: no colour column is hot
    # 2007.0 read back as a float is the year 2007 of training
    np.testing.assert_array_equal(new[0, 5:], enc.transform(TRAIN.iloc[[0]])[0, 5:])


def test_non_numeric_columns_are_categorical_by_default_and_ordinal_works():
    enc = TableEncoder().fit(TRAIN)
    assert enc.categorical_ == ["colour"] and enc.numeric_ == ["size", "year"]
    ordinal = TableEncoder(encoding="ordinal").fit(TRAIN)
    assert ordinal.transform(TRAIN).shape == (6, 2 + 1 + 1)
    unseen = ordinal.transform(TRAIN.assign(colour="green").iloc[:1])
    assert unseen[0, -1] == -1.0


def test_a_missing_column_or_text_in_a_numeric_one_is_one_clear_error():
    enc = TableEncoder().fit(TRAIN)
    with pytest.raises(ValueError, match=r"missing: year \(expected size, colour, year\)"):
        enc.transform(TRAIN.drop(columns=["year"]))
    with pytest.raises(
        ValueError, match=r"column 'size': expected numbers, found text such as 'big'"
    ):
        enc.transform(TRAIN.astype({"size": object}).assign(size="big"))
    with pytest.raises(TypeError, match="expected rows as a pandas DataFrame"):
        enc.transform(TRAIN.to_numpy())


def test_a_labelled_classifier_predicts_and_refits_with_the_original_labels():
    x = pd.DataFrame({"a": np.r_[np.zeros(20), np.ones(20)], "c": ["u", "v"] * 20})
    positions = np.r_[np.zeros(20, int), np.ones(20, int)]
    inner = make_pipeline(TableEncoder(), LogisticRegression()).fit(x, positions)
    model = LabelledClassifier(inner, ("Adelie", "Gentoo"))
    assert list(model.predict(x.iloc[[0, -1]])) == ["Adelie", "Gentoo"]
    assert list(model.classes_) == ["Adelie", "Gentoo"]
    assert model.predict_proba(x).shape == (40, 2)
    assert model.score(x, np.where(positions == 1, "Gentoo", "Adelie")) == 1.0
    model.fit(x, np.where(positions == 1, "Adelie", "Gentoo"))  # labels swapped
    assert list(model.predict(x.iloc[[0]])) == ["Gentoo"]
    with pytest.raises(ValueError, match="labels not among the classes"):
        model.fit(x, ["Chinstrap"] * 40)
