"""scikeras's wrappers, made to pass scikit-learn's (>= 1.6) estimator checks.

scikeras 0.13 predates scikit-learn 1.6: it only defines the old `_more_tags` and lists
`ClassifierMixin`/`RegressorMixin` after `BaseEstimator`, so sklearn saw no estimator
type (`is_classifier` was False, an integer `cv` used KFold, not StratifiedKFold). It
also words a feature-count mismatch its own way and fails on `y=None` with an
AttributeError. These subclasses fix that; the fitting itself is scikeras's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scikeras import wrappers as _scikeras
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import Tags, get_tags
from sklearn.utils.validation import column_or_1d

from hpsearch.compat import scikeras as scikeras_compat
from hpsearch.mixin import Mixin

# sklearn >= 1.6 reads only `__sklearn_tags__`: scikeras's `_more_tags` is dead code, which
# its checks refuse; drop it (those of its tags that are true are set in `__sklearn_tags__`).
scikeras_compat.drop_more_tags()  # and the version guard of the overrides below

_TASK_MIXINS = (ClassifierMixin, RegressorMixin)


class _TaskMixinFirst(type):
    """Puts sklearn's task mixin right before `BaseEstimator` in the MRO.

    scikeras declares `KerasClassifier(BaseWrapper, ClassifierMixin)`, so C3 keeps the
    mixin after `BaseEstimator` in every subclass (`class X(ClassifierMixin,
    scikeras.KerasClassifier)` is even an MRO error). Moving it just before
    `BaseEstimator` lets the mixin's `__sklearn_tags__` run as sklearn intends, while
    every method scikeras defines (`score` included) still wins.
    """

    def mro(cls) -> list[type]:
        order = super().mro()
        if BaseEstimator not in order:
            return order
        mixins = [k for k in order if k in _TASK_MIXINS]
        rest = [k for k in order if k not in _TASK_MIXINS]
        at = rest.index(BaseEstimator)
        return rest[:at] + mixins + rest[at:]


def _shape(a: Any) -> tuple[int, ...]:
    """The shape of any array-like, without numpy's array functions (some refuse them)."""
    return tuple(a.shape) if hasattr(a, "shape") else np.asarray(a).shape


class _SklearnChecks(Mixin):
    """What both wrappers add to scikeras's input validation: sklearn's conventions."""

    def _validate_data(
        self, X: Any = None, y: Any = None, reset: bool = False, y_numeric: bool = False
    ) -> tuple[Any, Any]:
        if X is not None and sparse.issparse(X):
            # Keras on JAX densifies sparse batches slowly, and scikeras casts sparse X
            # to float32 so a later float64 dense X is refused: densify once, here
            X = X.toarray()
        if X is not None and not reset and hasattr(self, "n_features_in_"):
            self._check_n_features(X)
        if y is not None and not get_tags(self).target_tags.multi_output:
            y = self._column_to_1d(y)
        return super()._validate_data(X=X, y=y, reset=reset, y_numeric=y_numeric)

    def _check_n_features(self, X: Any) -> None:
        """sklearn's own wording (its checks match it), before scikeras's shape check."""
        shape = _shape(X)
        if len(shape) >= 2 and shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {shape[1]} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input."
            )

    @staticmethod
    def _column_to_1d(y: Any) -> Any:
        """A column-vector y is a 1d target, with sklearn's DataConversionWarning."""
        shape = _shape(y)
        if len(shape) == 2 and shape[1] == 1:
            return column_or_1d(y, warn=True)
        return y

    def _fit(self, X: Any, y: Any, *args: Any, **kwargs: Any) -> None:
        # fit, partial_fit and warm starts all pass here; scikeras would fail later
        # with "'NoneType' object has no attribute 'dtype'"
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        super()._fit(X, y, *args, **kwargs)


class KerasClassifier(_SklearnChecks, _scikeras.KerasClassifier, metaclass=_TaskMixinFirst):
    """`scikeras.wrappers.KerasClassifier` that passes scikit-learn's estimator checks.

    A multilabel indicator target (2-D 0/1) is supported; a column vector y is taken
    as 1-D, with a DataConversionWarning.
    """

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()  # ClassifierMixin's: estimator_type, required y
        tags.classifier_tags.multi_label = True  # build_model gives it sigmoids + BCE
        tags.input_tags.sparse = True  # densified in _validate_data
        return tags


class KerasRegressor(_SklearnChecks, _scikeras.KerasRegressor, metaclass=_TaskMixinFirst):
    """`scikeras.wrappers.KerasRegressor` that passes scikit-learn's estimator checks.

    A 2-D target gets one output unit per column (see `build_model`); predictions
    come back in the target's float dtype (float64 for an integer target), as
    scikit-learn's regressors do, not Keras's float32.
    """

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()  # RegressorMixin's: estimator_type, required y
        tags.regressor_tags.poor_score = True  # minibatch SGD on the checks' tiny datasets
        tags.target_tags.multi_output = True  # build_model: one unit per target column
        tags.input_tags.sparse = True  # densified in _validate_data
        return tags

    def predict(self, X: Any, **kwargs: Any) -> np.ndarray:
        y_pred = super().predict(X, **kwargs)
        dtype = self.y_dtype_ if self.y_dtype_.kind == "f" else np.float64
        return np.asarray(y_pred, dtype=dtype)
