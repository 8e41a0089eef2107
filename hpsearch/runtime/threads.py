"""One thread per process for the numeric libraries, for processes that train side by side.

Two one-thread trials beat one two-thread trial on 2 cores (benchmarks/parallel.py: 1.18x on
JAX, 1.58x on TensorFlow), but only if each process really keeps to one thread: XLA and
TensorFlow size their own pools at start-up and read neither OMP_NUM_THREADS nor joblib's
limits. So the settings go in the environment before the backend loads.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping

ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
}
XLA_ONE_THREAD = ("--xla_cpu_multi_thread_eigen=false",)


def usable_cores() -> int:
    """The cores this process may run on (its affinity, where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def one_thread_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) with one thread for every framework: the
    environment to start a child process with. Settings already in `base` are kept."""
    env = dict(os.environ if base is None else base)
    pin(env)
    return env


def pin(env: MutableMapping[str, str]) -> None:
    """Add the one-thread settings to `env` in place, keeping any it already has."""
    for name, value in ONE_THREAD.items():
        env.setdefault(name, value)
    flags = env.get("XLA_FLAGS", "")
    for flag in XLA_ONE_THREAD:
        if flag.split("=")[0] not in flags:
            flags = f"{flags} {flag}".strip()
    env["XLA_FLAGS"] = flags


def pin_this_process() -> bool:
    """One thread for this process's frameworks, if none is loaded yet (they read the
    settings once, as they load). Returns whether it could."""
    if any(name in sys.modules for name in ("keras", "jax", "tensorflow")):
        return False
    pin(os.environ)
    return True
