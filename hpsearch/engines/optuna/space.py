"""The study's space as Optuna draws it, and a trial's parameters read back in the space's order."""

from __future__ import annotations

from typing import Any

from hpsearch.study.config import Choice, Fixed, IntRange


def suggest(trial: Any, space: dict[str, Any]) -> dict[str, Any]:
    """Draw every parameter of the study's space from an Optuna trial."""
    values: dict[str, Any] = {}
    for name, param in space.items():
        if isinstance(param, Fixed):
            values[name] = param.value
        elif isinstance(param, Choice):
            values[name] = trial.suggest_categorical(name, list(param.values))
        elif isinstance(param, IntRange):
            values[name] = trial.suggest_int(name, param.low, param.high, log=param.log)
        else:
            values[name] = trial.suggest_float(name, param.low, param.high, log=param.log)
    return values


def trial_params(suggested: dict[str, Any], space: dict[str, Any]) -> dict[str, Any]:
    """A trial's suggested parameters plus the space's fixed ones, in the space's order."""
    return {
        name: param.value if isinstance(param, Fixed) else suggested[name]
        for name, param in space.items()
        if isinstance(param, Fixed) or name in suggested
    }
