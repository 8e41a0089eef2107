"""The optuna section of a study: its settings, samplers and pruners, and the checks of a storage
URL. Light: it imports no Optuna."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hpsearch.errors import HPSearchError
from hpsearch.study.schema import Checker

# name -> class in optuna.samplers (each takes `seed`); the first is the default.
SAMPLERS = {
    "tpe": "TPESampler",
    "random": "RandomSampler",
    "cmaes": "CmaEsSampler",
    "qmc": "QMCSampler",
    "nsgaii": "NSGAIISampler",
    "gp": "GPSampler",
}
# Samplers that need a package Optuna does not install itself.
SAMPLER_NEEDS = {"cmaes": "cmaes", "gp": "torch"}
PRUNERS = ("median", "successive_halving", "hyperband", "none")
# Keyword arguments of each pruner (optuna's defaults; tests may lower n_startup_trials).
PRUNER_KWARGS: dict[str, dict[str, Any]] = {"median": {}, "successive_halving": {}, "hyperband": {}}


class OptunaMissing(HPSearchError):
    """The study uses the optuna engine but Optuna is not installed."""

    exit_code = 2


@dataclass(frozen=True)
class OptunaSettings:
    n_trials: int = 10
    sampler: str = "tpe"
    pruner: str = "median"
    objective: str = ""  # "" -> the task's default
    patience: int = 3
    storage: str = ""  # "" -> a journal file in the engine's folder; else shared by `worker`s
    worker_timeout: float = 60.0  # seconds without a trial's heartbeat before it is retried
    # last: settings built by position stay as they were
    direction: str = ""  # "maximize" / "minimize": an objective of a model factory's own metric
    n_jobs: int | str = 1  # trial processes on this machine ("auto": the usable cores)


def check_storage(c: Checker, url: str) -> str:
    """An Optuna storage: a database URL (RDB, with heartbeats) or journal:FILE."""
    import re

    if not (re.match(r"[a-z][a-z0-9+]*://.", url) or (url.startswith("journal:") and url[8:])):
        raise c.fail(
            "optuna.storage",
            "an Optuna storage: sqlite:///FILE, postgresql://USER@HOST/DB "
            "(any SQLAlchemy URL) or journal:FILE",
            url,
        )
    return url
