"""Search engines: each turns (study, dataset) into trial records and a tested best model.

`run_engine(name, study, data, workdir, verbose)` returns an `EngineResult`;
`watch_engine(name, study, workdir)` gives (planned steps, poll) for live progress,
read from the engine's state directory. The runner knows nothing else about them.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable

from hpsearch.engines.common import EngineResult

# name -> (module, run function); modules import Keras, so they load on first use.
_MODULES = {"sklearn": ("hpsearch.engines.sklearn_engine", "run_sklearn"),
            "keras_tuner": ("hpsearch.engines.tuner_engine", "run_keras_tuner")}


def run_engine(name: str, study: Any, data: Any, workdir: Path, verbose: int = 0) -> EngineResult:
    module, function = _MODULES[name]
    return getattr(importlib.import_module(module), function)(study, data, workdir, verbose)


def watch_engine(name: str, study: Any,
                 workdir: Path) -> tuple[int | None, Callable[[], tuple[int, float | None]]]:
    return importlib.import_module(_MODULES[name][0]).watch(study, workdir)


__all__ = ["EngineResult", "run_engine", "watch_engine"]
