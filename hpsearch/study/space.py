"""Map the study's search space onto each engine's vocabulary.

One space, every engine: scikit-learn's searches want lists and scipy distributions under
the pipeline's parameter prefix, Keras Tuner wants `hp.*` calls (Optuna's `suggest_*` calls
live with its engine).
"""

from __future__ import annotations

import warnings
from typing import Any

from scipy import stats
from sklearn.model_selection import ParameterSampler

from hpsearch.files import canonical
from hpsearch.study.config import TRAINING_PARAMS, Choice, Fixed, IntRange, Param


def to_sklearn(param: Param) -> Any:
    """A value list or a scipy distribution for `RandomizedSearchCV`."""
    if isinstance(param, Fixed):
        return [param.value]
    if isinstance(param, Choice):
        return list(param.values)
    if param.low == param.high:  # scipy's laws have no zero-width form
        return [param.low]
    if isinstance(param, IntRange):
        return (
            _LogInt(param.low, param.high)
            if param.log
            else stats.randint(param.low, param.high + 1)
        )
    if param.log:
        return stats.loguniform(param.low, param.high)
    return stats.uniform(param.low, param.high - param.low)


class _LogInt:
    """Integers drawn log-uniformly in [low, high] (scipy has no such discrete law)."""

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high
        self._law = stats.loguniform(low, high + 1)

    def rvs(self, random_state: Any = None) -> int:
        return int(min(self.high, max(self.low, int(self._law.rvs(random_state=random_state)))))

    def __repr__(self) -> str:
        return f"log_int({self.low}, {self.high})"


def unique_samples(
    distributions: dict[str, Any], n: int, random_state: Any
) -> list[dict[str, Any]]:
    """The first `n` distinct draws of sklearn's ParameterSampler (fewer if the space is smaller)."""
    seen: dict[str, dict[str, Any]] = {}
    with warnings.catch_warnings():  # a grid smaller than n * 50 is sampled whole: expected
        warnings.simplefilter("ignore", UserWarning)
        for params in ParameterSampler(distributions, n * 50, random_state=random_state):
            seen.setdefault(canonical(params), params)
            if len(seen) == n:
                break
    return list(seen.values())


def sklearn_distributions(
    space: dict[str, Param], prefix: str = "", training_prefix: str | None = None
) -> dict[str, Any]:
    """`param_distributions` for `RandomizedSearchCV`, keys prefixed (e.g. 'model__');
    training parameters (batch_size) take `training_prefix` when given (the wrapper's own)."""

    def key(name: str) -> str:
        own = training_prefix is not None and name in TRAINING_PARAMS
        return (training_prefix if training_prefix is not None and own else prefix) + name

    return {key(name): to_sklearn(param) for name, param in space.items()}


def from_hp(hp: Any, space: dict[str, Param]) -> dict[str, Any]:
    """Draw every parameter from a Keras Tuner `HyperParameters` (the adapter to `build_model`)."""
    values: dict[str, Any] = {}
    for name, param in space.items():
        if isinstance(param, Fixed):
            values[name] = hp.Fixed(name, param.value)
        elif isinstance(param, Choice):
            values[name] = hp.Choice(name, list(param.values))
        elif param.low == param.high:
            values[name] = hp.Fixed(name, param.low)
        elif isinstance(param, IntRange):
            values[name] = hp.Int(
                name, param.low, param.high, sampling="log" if param.log else "linear"
            )
        else:
            values[name] = hp.Float(
                name, param.low, param.high, sampling="log" if param.log else "linear"
            )
    return values
