"""Keras Tuner's private parts (`keras_tuner.src`): its state-file writer and debug flag,
the oracle's gRPC service, lock and retry queue, and the worker client's timeout.

Version guard: an error outside SUPPORTED, no fallback. There is no public way to serve an
oracle, to requeue a trial or to write its state files atomically: guessing at a changed
Keras Tuner would break resumes and distributed runs silently.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from hpsearch.compat import Span, require

DIST = "keras-tuner"
SUPPORTED: Span = ("1.4", "1.4")  # pyproject asks >= 1.4.7; 1.4.8 tested


def check() -> None:
    require(DIST, SUPPORTED, "Keras Tuner integration (state files, chief and workers)")


@contextlib.contextmanager
def patched_state(debug: bool, save_json: Callable[[str, Any], Any]) -> Iterator[None]:
    """Keras Tuner's DEBUG flag (failed trials' tracebacks) and its `utils.save_json`, which
    writes every oracle, trial and tuner state file, replaced while inside."""
    check()
    from keras_tuner.src import config, utils

    saved = config.DEBUG, utils.save_json
    config.DEBUG, utils.save_json = debug, save_json
    try:
        yield
    finally:
        config.DEBUG, utils.save_json = saved


def oracle_servicer() -> type:
    """Keras Tuner's gRPC servicer class for an oracle (`OracleServicer(oracle)`)."""
    check()
    from keras_tuner.src.distribute.oracle_chief import OracleServicer

    return OracleServicer


def add_servicer(servicer: Any, server: Any) -> None:
    """Register an oracle servicer on a grpc server, as Keras Tuner's chief does."""
    from keras_tuner.src import protos

    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)


def end_trial_response() -> Any:
    """An empty EndTrial answer (a trial that ended already)."""
    from keras_tuner.src import protos

    return protos.get_service().EndTrialResponse()


def synchronized(func: Callable) -> Callable:
    """Keras Tuner's oracle lock around `func(oracle, ...)` (reentrant within a thread)."""
    from keras_tuner.src.engine.oracle import synchronized as kt_synchronized

    return kt_synchronized(func)


def release_lock(oracle: Any) -> None:
    """Release `oracle`'s lock if this thread holds it: Keras Tuner's `synchronized` never
    releases it when the method raises."""
    from keras_tuner.src.engine import oracle as oracle_module

    if oracle_module.THREADS.get(oracle) == threading.current_thread().name:
        oracle_module.THREADS[oracle] = None
        oracle_module.LOCKS[oracle].release()


def retry_queue(oracle: Any) -> list[str]:
    """The oracle's retry queue itself (trial ids given again before new ones): mutable."""
    queue: list[str] = oracle._retry_queue
    return queue


def set_client_timeout(seconds: float) -> float:
    """Set a worker's gRPC call timeout; returns the one it replaces."""
    check()
    from keras_tuner.src.distribute import oracle_client

    previous: float = oracle_client.TIMEOUT
    oracle_client.TIMEOUT = seconds
    return previous
