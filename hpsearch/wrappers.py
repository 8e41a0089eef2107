"""scikeras's wrappers with the scikit-learn tags that scikit-learn >= 1.6 reads.

scikeras 0.13 only defines the old `_more_tags`, so `is_classifier` is False and an
integer `cv` silently uses KFold instead of StratifiedKFold. These subclasses set
the new-style tags; everything else is scikeras.
"""
from __future__ import annotations

from scikeras import wrappers as _scikeras
from sklearn.utils import ClassifierTags, RegressorTags


class KerasClassifier(_scikeras.KerasClassifier):
    """`scikeras.wrappers.KerasClassifier` that scikit-learn recognises as a classifier."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        tags.classifier_tags = ClassifierTags(multi_label=True)
        tags.target_tags.required = True
        return tags


class KerasRegressor(_scikeras.KerasRegressor):
    """`scikeras.wrappers.KerasRegressor` that scikit-learn recognises as a regressor."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "regressor"
        tags.regressor_tags = RegressorTags(poor_score=True)
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        return tags
