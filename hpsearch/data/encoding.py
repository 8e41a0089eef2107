"""Piecewise-linear encoding of numeric features (a scikit-learn transformer).

Each feature becomes one column per quantile bin of its training values: 1 for the bins
below the value, the value's position inside its own bin, 0 above (Gorishniy et al., 2022,
"On Embeddings for Numerical Features in Tabular Deep Learning"). An MLP then fits
thresholds and kinks it would otherwise have to learn: on California housing it took a
3 x 256 MLP from test RMSE 0.52 to 0.49 (README, "Tabular data").
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data


class PiecewiseLinearEncoder(TransformerMixin, BaseEstimator):
    """`n_bins` quantile bins per feature (fewer where a feature has fewer distinct values);
    a constant feature keeps one column of zeros."""

    def __init__(self, n_bins: int = 32) -> None:
        self.n_bins = n_bins

    def fit(self, X: Any, y: Any = None) -> PiecewiseLinearEncoder:
        if not isinstance(self.n_bins, (int, np.integer)) or self.n_bins < 1:
            raise ValueError(f"n_bins must be a positive integer, got {self.n_bins!r}")
        X = validate_data(self, X, dtype=np.float64)
        quantiles = np.linspace(0, 1, self.n_bins + 1)
        self.edges_ = [np.unique(np.quantile(column, quantiles)) for column in X.T]
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "edges_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        columns = []
        for j, edges in enumerate(self.edges_):
            if len(edges) < 2:  # constant in training: nothing to tell apart
                columns.append(np.zeros((len(X), 1)))
                continue
            low, high = edges[:-1], edges[1:]
            columns.append(np.clip((X[:, j : j + 1] - low) / (high - low), 0.0, 1.0))
        return np.concatenate(columns, axis=1).astype(np.float32)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
