"""`[sklearn] n_jobs = "auto"`: how many loky workers train at once, one thread each.

On 2 cores, two one-thread trials beat one two-thread trial (benchmarks/parallel.py: 1.18x
on JAX, 1.58x on TensorFlow), so "auto" takes every core that is free, as long as memory
holds a worker per core and there are fits enough to keep them busy. `decide` is a plain
function of what `measure` reads (well under a second, no trial fit), so that it is tested
on made-up machines.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from hpsearch.runtime.threads import usable_cores

GIB = 2**30
# What one more worker process costs besides the data: the framework loaded (JAX or
# TensorFlow with Keras: 0.4 to 0.6 GiB resident on CPU) plus a model's buffers.
WORKER_BASE = GIB // 2
DATA_COPIES = 3  # the data loky hands a worker, Keras's float32 copy of it, one batch queue
SAMPLE_S = 0.2  # how long `measure` watches the cores
# Below this many sample-epochs a batch of fits (rows x epochs x fits at a time) is seconds of
# training: about 20 s of the benchmarks' 784-300-100-10 MLP at 0.6 s per 55k-image epoch,
# where two workers save ~15% (benchmarks/parallel.py, JAX), less than starting them costs
# (each imports Python, JAX and Keras: seconds). Small tables stay in this process.
MIN_WORK = 2_000_000


@dataclass(frozen=True)
class Machine:
    """What "auto" goes by: the cores this process may use, how many of them other processes
    keep busy, and the memory available (None where unknown)."""

    cores: int
    busy: float
    available: int | None


def decide(machine: Machine, data_bytes: int, tasks: int, work: int = MIN_WORK) -> tuple[int, str]:
    """Workers for "auto", and why in a few words: every free core, no more than memory holds
    (`data_bytes` of training data a worker) nor than `tasks`, the fits that can run at once;
    one where those fits are too little `work` (sample-epochs) to repay starting workers."""
    if machine.cores <= 1:
        return 1, "1 core"
    if work < MIN_WORK:
        return 1, f"{work:,} sample-epochs a batch of fits: too few to repay starting workers"
    free = max(1, min(machine.cores, int(machine.cores - machine.busy + 0.5)))
    why = [f"{machine.cores} cores, {machine.busy:.1f} busy"]
    n = free
    if machine.available is not None:
        per_worker = WORKER_BASE + DATA_COPIES * data_bytes
        fits = max(1, machine.available // per_worker)
        why.append(
            f"{machine.available / GIB:.1f} GiB free for {per_worker / GIB:.1f} GiB a worker"
        )
        n = min(n, fits)
    if tasks < n:
        why.append(f"{tasks} fit{'s' * (tasks != 1)} at a time")
    n = max(1, min(n, tasks))
    return n, ", ".join(why)


def data_bytes(*arrays: object) -> int:
    """The size of a search's training data: NumPy arrays, or pandas tables of raw rows."""
    size = 0
    for a in arrays:
        if hasattr(a, "memory_usage"):  # a DataFrame (no nbytes) or Series: strings too
            size += int(a.memory_usage(deep=True).sum())
        else:
            size += int(getattr(a, "nbytes", 0))
    return size


def measure(sample_s: float = SAMPLE_S) -> Machine:
    """This machine now: the cores of this process's affinity, how busy other processes keep
    them (/proc/stat over `sample_s`, this process asleep; else the 1-minute load less this
    process), the memory available (/proc/meminfo, else psutil, else unknown)."""
    return Machine(usable_cores(), _busy(sample_s), _available())


def _busy(sample_s: float) -> float:
    """Cores kept busy by others: the share of /proc/stat's CPU time not idle, times the
    machine's CPUs; else the 1-minute load average less this process's own 1."""
    first = _cpu_times()
    if first is not None:
        time.sleep(sample_s)
        second = _cpu_times()
        if second is not None and second[0] > first[0]:
            total, idle = second[0] - first[0], second[1] - first[1]
            return round((total - idle) / total * (os.cpu_count() or 1), 2)
    try:
        return max(0.0, os.getloadavg()[0] - 1.0)
    except OSError:
        return 0.0


def _cpu_times() -> tuple[int, int] | None:
    """(all, idle + iowait) jiffies from /proc/stat's first line; None where unreadable."""
    try:
        line = Path("/proc/stat").read_text().splitlines()[0]
        values = [int(v) for v in line.split()[1:]]
        return sum(values[:8]), values[3] + values[4]  # user .. steal; guests are in user
    except (OSError, IndexError, ValueError):
        return None


def _available() -> int | None:
    """Bytes of memory available to new processes (MemAvailable); None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil  # type: ignore[import-untyped]  # optional: not a dependency
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)
