"""Which hyperparameters mattered: fANOVA importances of each engine's finished trials.

Optuna's fANOVA evaluator (Hutter et al., 2014) fits a random forest to the trials' scores
and splits the score's variance among the parameters; it takes any engine's trials once they
are Optuna trials built from the records. The space comes from the run's study.toml (ranges
with their log scale, choices), read without loading the study's data or model.
"""

from __future__ import annotations

import math
import tomllib
from typing import Any

import pandas as pd

from hpsearch.errors import HPSearchError
from hpsearch.rundir.folder import STUDY
from hpsearch.rundir.read import Run

# Fewer finished trials than this, and a forest of them says nothing.
MIN_TRIALS = 5
SEED = 0  # fANOVA's forest is random: a fixed seed gives the same answer on every read


class NoOptuna(HPSearchError):
    exit_code = 2


def importances(run: Run) -> dict[str, dict[str, float]]:
    """engine -> {parameter: share of the score's variance}, largest first; engines with
    fewer than MIN_TRIALS finished trials, or nothing varied, are left out."""
    try:
        import optuna  # lazy: loads Optuna
    except ImportError:
        raise NoOptuna('importances need Optuna: pip install "hpsearch[optuna]"') from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    space = varied_space(run)
    out: dict[str, dict[str, float]] = {}
    trials = run.trials
    if trials.empty or not space:
        return out
    for engine, rows in trials.groupby("engine", sort=False):
        ok = rows[(rows["status"] == "ok") & rows["val_score"].map(_finite)]
        made = [t for t in (_trial(optuna, space, row) for _, row in ok.iterrows()) if t]
        if len(made) < MIN_TRIALS:
            continue
        minimize = str(ok["direction"].iloc[0]) == "minimize"
        study = optuna.create_study(direction="minimize" if minimize else "maximize")
        study.add_trials(made)
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=SEED)
        found = optuna.importance.get_param_importances(study, evaluator=evaluator)
        out[str(engine)] = {name: float(value) for name, value in found.items()}
    return out


def varied_space(run: Run) -> dict[str, Any]:
    """The study's [space] parameters that vary (a range, or two choices or more)."""
    try:
        doc = tomllib.loads((run.path / STUDY).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    space = doc.get("space", {})
    return {
        name: raw
        for name, raw in space.items()
        if isinstance(raw, dict) or (isinstance(raw, list) and len(set(map(str, raw))) > 1)
    }


def _trial(optuna: Any, space: dict[str, Any], row: pd.Series) -> Any:
    """One finished trial as an Optuna trial over `space` (None if its values do not fit)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    params: dict[str, Any] = {}
    distributions: dict[str, Any] = {}
    for name, raw in space.items():
        value = row.get(f"param_{name}")
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if isinstance(raw, list):
            choices = list(raw)
            same = [c for c in choices if c == value or str(c) == str(value)]
            if not same:
                return None
            params[name], distributions[name] = same[0], CategoricalDistribution(choices)
            continue
        low, high, log = raw.get("low"), raw.get("high"), bool(raw.get("log", False))
        if isinstance(low, int) and isinstance(high, int) and not isinstance(low, bool):
            params[name] = min(max(int(round(float(value))), low), high)
            distributions[name] = IntDistribution(low, high, log=log)
        else:
            params[name] = min(max(float(value), float(low)), float(high))  # float32 noise
            distributions[name] = FloatDistribution(float(low), float(high), log=log)
    return optuna.trial.create_trial(
        params=params, distributions=distributions, value=float(row["val_score"])
    )


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def table(found: dict[str, dict[str, float]]) -> pd.DataFrame:
    """engine, parameter, importance: one row each, largest first within an engine."""
    rows = [
        {"engine": engine, "parameter": name, "importance": round(value, 4)}
        for engine, values in found.items()
        for name, value in values.items()
    ]
    return pd.DataFrame(rows, columns=["engine", "parameter", "importance"])
