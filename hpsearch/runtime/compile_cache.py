"""XLA's compiled programs kept on disk, so a trial whose model has the shape of an earlier
one skips compilation (JAX backend).

Every trial builds a new Keras model, and on JAX each new model traces and compiles its train,
test and predict steps: for a small model that is most of a trial (benchmarks/many_trials.py:
447 ms a trial without the cache, 101 ms with it, see benchmarks/RESULTS.md). Models that differ
only in values (a learning rate, a dropout rate, the seed) compile to the same program, and
JAX's persistent cache finds it by the program's contents, across trials, runs and processes.

`HPSEARCH_COMPILE_CACHE`: a folder, or "off". By default `~/.cache/hpsearch/jax` (or under
`$XDG_CACHE_HOME`), at most 1 GiB, least recently used entries evicted first. JAX's own
`JAX_COMPILATION_CACHE_*` variables, where set, win.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV = "HPSEARCH_COMPILE_CACHE"
MAX_BYTES = 1 << 30
OFF = ("off", "0", "false", "no", "none")


def folder() -> Path | None:
    """Where the cache lives, or None when turned off."""
    setting = os.environ.get(ENV, "").strip()
    if setting.lower() in OFF:
        return None
    if setting:
        return Path(setting).expanduser()
    home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(home) / "hpsearch" / "jax"


def configure() -> Path | None:
    """Point JAX at the cache before it compiles anything; the folder, or None (off, or not
    writable: trials then compile as before)."""
    path = folder()
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(path, os.W_OK | os.X_OK):
        return None
    settings: dict[str, type] = {
        "jax_compilation_cache_dir": str,
        # JAX caches only programs that took a second to compile; a trial's take 0.05-0.3 s
        "jax_persistent_cache_min_compile_time_secs": float,
        "jax_persistent_cache_min_entry_size_bytes": int,
        "jax_compilation_cache_max_size": int,
    }
    defaults = (str(path), 0.0, 0, MAX_BYTES)
    for name, value in zip(settings, defaults, strict=True):
        os.environ.setdefault(name.upper(), str(value))  # read by JAX when it is imported
    jax = sys.modules.get("jax")
    if jax is not None:  # imported already (a notebook): it works if nothing compiled yet
        for name, kind in settings.items():
            jax.config.update(name, kind(os.environ[name.upper()]))
    return path
