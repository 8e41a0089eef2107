"""hpsearch: hyperparameter search for Keras models that fits into scikit-learn.

`build_model`, `KerasClassifier` and `KerasRegressor` import Keras, so they load on
first use: `python -m hpsearch --help` and `validate` stay fast.
"""

from __future__ import annotations

from typing import Any

from hpsearch.study.config import load_study

__version__ = "0.1.0"
__all__ = [
    "build_model",
    "KerasClassifier",
    "KerasRegressor",
    "load_best",
    "load_study",
    "trial_model",
    "search",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name == "build_model":
        from hpsearch.model.mlp import build_model  # lazy: loads Keras

        return build_model
    if name in ("KerasClassifier", "KerasRegressor"):
        from hpsearch.model import wrappers  # lazy: loads scikeras, SciPy, scikit-learn

        return getattr(wrappers, name)
    if name == "load_best":  # unpickling the model loads Keras then, not here
        from hpsearch.report.best import load_best  # lazy: loads pandas

        return load_best
    if name == "trial_model":
        from hpsearch.report.trial_models import trial_model  # lazy: loads pandas

        return trial_model
    if name == "load_study":
        return load_study
    if name == "search":
        from hpsearch.api import search  # lazy: loads pandas

        return search
    raise AttributeError(f"module 'hpsearch' has no attribute {name!r}")
