"""The engine registry: one line per engine, name -> the module holding its `ENGINE`.

Engine modules keep Keras and the search libraries behind their `run`, so looking an
engine up (to validate a study, to list choices) is cheap.
"""

from __future__ import annotations

import importlib

from hpsearch.engines.base import MAXIMIZE, MINIMIZE, Engine, EngineContext, EngineResult

REGISTRY: dict[str, str] = {
    "sklearn": "hpsearch.engines.sklearn_engine",
    "keras_tuner": "hpsearch.engines.tuner_engine",
    "optuna": "hpsearch.engines.optuna_engine",
}
DEFAULT_ENGINES = ("sklearn", "keras_tuner")  # what a study without `engines` runs


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def get(name: str) -> Engine:
    """The registered engine `name` (KeyError if unknown: config has validated names)."""
    return importlib.import_module(REGISTRY[name]).ENGINE


__all__ = [
    "DEFAULT_ENGINES",
    "MAXIMIZE",
    "MINIMIZE",
    "Engine",
    "EngineContext",
    "EngineResult",
    "REGISTRY",
    "get",
    "names",
]
