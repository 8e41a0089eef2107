"""`LabelledClassifier`: a classifier trained on class positions (0..k-1) that answers with the
original labels ("Adelie", True, 7): what hpsearch saves for a study whose file has them."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class LabelledClassifier(ClassifierMixin, BaseEstimator):
    """`estimator` (fitted on positions) with `classes`, the label of each position."""

    def __init__(self, estimator: Any, classes: tuple[Any, ...]) -> None:
        self.estimator = estimator
        self.classes = classes

    @property
    def classes_(self) -> np.ndarray:
        return np.asarray(self.classes)

    @property
    def n_features_in_(self) -> Any:
        return getattr(self.estimator, "n_features_in_", None)

    @property
    def steps(self) -> Any:  # the pipeline's steps: where its first step tells what it takes
        return getattr(self.estimator, "steps", [])

    def fit(self, X: Any, y: Any, **fit_params: Any) -> LabelledClassifier:
        """Refit on labels: they become positions of `classes` (an unknown one is an error)."""
        index = {label: i for i, label in enumerate(self.classes)}
        unknown = sorted({str(v) for v in np.asarray(y).ravel() if v not in index})
        if unknown:
            raise ValueError(f"labels not among the classes {self.classes}: {', '.join(unknown)}")
        self.estimator.fit(X, np.asarray([index[v] for v in np.asarray(y).ravel()]), **fit_params)
        return self

    def predict(self, X: Any) -> np.ndarray:
        positions = np.asarray(self.estimator.predict(X)).reshape(-1).astype(np.int64)
        return self.classes_[positions]

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.asarray(self.estimator.predict_proba(X))
