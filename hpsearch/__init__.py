"""hpsearch: hyperparameter search for Keras models that fits into scikit-learn.

`build_model`, `KerasClassifier` and `KerasRegressor` import Keras, so they load on
first use: `python -m hpsearch --help` and `validate` stay fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = [
    "build_model",
    "KerasClassifier",
    "KerasRegressor",
    "load_best",
    "load_study",
    "trial_model",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name == "build_model":
        from hpsearch.model import build_model

        return build_model
    if name in ("KerasClassifier", "KerasRegressor"):
        from hpsearch import wrappers

        return getattr(wrappers, name)
    if name == "load_best":  # unpickling the model loads Keras then, not here
        from hpsearch.best import load_best

        return load_best
    if name == "trial_model":
        from hpsearch.trial_models import trial_model

        return trial_model
    if name == "load_study":
        from hpsearch.config import load_study

        return load_study
    raise AttributeError(f"module 'hpsearch' has no attribute {name!r}")
