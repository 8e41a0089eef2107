"""Search engines: each turns (study, dataset) into trial records and a tested best model.

`ENGINES[name](study, data, workdir, verbose)` returns an `EngineResult`; the study
runner knows nothing else about them.
"""
from __future__ import annotations

from typing import Callable

from hpsearch.engines.common import EngineResult


def _sklearn(*args, **kwargs) -> EngineResult:
    from hpsearch.engines.sklearn_engine import run_sklearn

    return run_sklearn(*args, **kwargs)


def _keras_tuner(*args, **kwargs) -> EngineResult:
    from hpsearch.engines.tuner_engine import run_keras_tuner

    return run_keras_tuner(*args, **kwargs)


ENGINES: dict[str, Callable[..., EngineResult]] = {"sklearn": _sklearn, "keras_tuner": _keras_tuner}
__all__ = ["ENGINES", "EngineResult"]
