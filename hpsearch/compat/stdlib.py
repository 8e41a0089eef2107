"""The standard library's private parts and patches: `random`'s shared instance (its module
functions rebound, one stream per thread), and the interpreter's own exit steps
(`threading._shutdown`, `atexit._run_exitfuncs`).

Version guard: a fallback outside SUPPORTED or where the name is missing. `random.random`
is bound to the shared instance, so `random.random.__self__` finds it just as well; without
the exit steps, `exit_now` exits the ordinary way (a clean exit, only without the guard
against native threads crashing the interpreter's teardown).
"""

from __future__ import annotations

import atexit
import os
import platform
import sys
import threading
from typing import Any

from hpsearch.compat import Span, supported

SUPPORTED: Span = ("3.11", "3.13")  # requires-python >= 3.11; 3.11 tested


def in_range() -> bool:
    return supported("python", SUPPORTED, found=platform.python_version())


def shared_random() -> Any:
    """The `random.Random` instance behind the `random` module's functions."""
    import random

    if in_range() and hasattr(random, "_inst"):
        return random._inst
    return random.random.__self__  # type: ignore[attr-defined]


def per_thread_random() -> None:
    """Python's `random` functions, each thread with its own stream. Keras draws a fit's
    initial weights from `random`, seeded for that fit; a worker's event loop draws from it
    too, at any moment (tornado's jitter, distributed's back-off): with one shared stream,
    fits on Dask workers came out different from loky's, and from run to run."""
    import random

    if hasattr(random, "_hpsearch_streams"):
        return  # a worker serving a second run
    local = threading.local()

    def stream() -> random.Random:
        if not hasattr(local, "rng"):
            local.rng = random.Random()
        return local.rng

    shared = shared_random()  # the module functions' one instance
    for name in [n for n in dir(random) if getattr(getattr(random, n), "__self__", None) is shared]:
        setattr(random, name, lambda *args, _name=name, **kw: getattr(stream(), _name)(*args, **kw))
    random._hpsearch_streams = local  # type: ignore[attr-defined]


def exit_now(code: int) -> None:
    """Exit with `code` after joining the threads and running the exit handlers, in the
    interpreter's own order, skipping its teardown (see hpsearch/__main__.py)."""
    sys.stdout.flush()
    sys.stderr.flush()
    shutdown = getattr(threading, "_shutdown", None)
    run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)
    if not (in_range() and callable(shutdown) and callable(run_exitfuncs)):
        sys.exit(code)
    shutdown()  # as the interpreter would: join threads first (pools wait on it),
    run_exitfuncs()  # then the exit handlers
    os._exit(code)
