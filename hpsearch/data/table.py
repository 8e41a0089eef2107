"""`TableEncoder`: raw table rows (a DataFrame shaped like the training file) to model inputs.

It is the first step of every engine's saved pipeline for CSV and Parquet data, fitted on the
training rows only: numeric columns get the median for a missing value (plus a column saying
it was missing) and are standardised; categorical ones get their own "missing" category (or
the most frequent one) and are one-hot (or ordinal) encoded, a category never seen in training
being accepted. So `predict` takes raw rows: extra columns (the target, dropped ones) are
ignored; a missing column, or text in a numeric column, is one clear error.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

MISSING = "(missing)"  # the category of a missing categorical value


class TableEncoder(TransformerMixin, BaseEstimator):
    """Impute, scale and encode the columns of a DataFrame; float32 out."""

    def __init__(
        self,
        categorical: tuple[str, ...] | None = None,
        encoding: str = "onehot",
        max_categories: int | None = None,
        missing: str = "category",
    ) -> None:
        self.categorical = categorical
        self.encoding = encoding
        self.max_categories = max_categories
        self.missing = missing

    def fit(self, X: Any, y: Any = None) -> TableEncoder:
        frame = _frame(X)
        self.columns_ = [str(c) for c in frame.columns]
        self.categorical_ = (
            [str(c) for c in self.categorical]
            if self.categorical is not None
            else [c for c in self.columns_ if not pd.api.types.is_numeric_dtype(frame[c])]
        )
        self.numeric_ = [c for c in self.columns_ if c not in self.categorical_]
        self.n_features_in_ = len(self.columns_)
        self.feature_names_in_ = np.asarray(self.columns_, dtype=object)
        parts: list[tuple[str, Any, list[str]]] = []
        if self.numeric_:
            numeric = make_pipeline(
                SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
            )
            parts.append(("numeric", numeric, self.numeric_))
        if self.categorical_:
            fill = (
                SimpleImputer(strategy="most_frequent")
                if self.missing == "most_frequent"
                else SimpleImputer(strategy="constant", fill_value=MISSING)
            )
            encoder: Any = (
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
                if self.encoding == "ordinal"
                else OneHotEncoder(
                    handle_unknown="infrequent_if_exist" if self.max_categories else "ignore",
                    max_categories=self.max_categories,
                    sparse_output=False,
                )
            )
            parts.append(("categorical", make_pipeline(fill, encoder), self.categorical_))
        self.transformer_ = ColumnTransformer(parts, sparse_threshold=0.0)
        self.transformer_.fit(self._coerce(frame))
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "transformer_")
        return np.asarray(self.transformer_.transform(self._coerce(_frame(X))), dtype=np.float32)

    def _coerce(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The training columns, in order: numbers as floats, categories as text."""
        frame = frame.rename(columns=str)
        missing = [c for c in self.columns_ if c not in frame.columns]
        if missing:
            raise ValueError(
                f"expected the training file's columns; missing: {', '.join(missing)} "
                f"(expected {', '.join(self.columns_)})"
            )
        out = pd.DataFrame(index=frame.index)
        for column in self.numeric_:
            raw = frame[column]
            values = pd.to_numeric(raw, errors="coerce")
            text = raw[values.isna() & raw.notna()]
            if len(text):
                raise ValueError(
                    f"column {column!r}: expected numbers, found text such as {text.iloc[0]!r}"
                )
            out[column] = values.astype(np.float64)
        for column in self.categorical_:
            out[column] = frame[column].astype(object).map(_category)
        return out


def _category(value: Any) -> Any:
    """One spelling per category: 2007, 2007.0 and "2007" are the same island of values."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return np.nan
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _frame(X: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    raise TypeError(
        f"expected rows as a pandas DataFrame with the training file's columns, got "
        f"{type(X).__name__}"
    )
