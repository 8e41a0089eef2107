"""A local trial process: `python -m hpsearch.run.local RUN_DIR ENGINE NAME ADDRESS VERBOSE PID`.

Started by the run itself (engines/local_workers.py, `n_jobs` > 1) with one-thread settings in
its environment; it joins that run as `hpsearch worker` would, without looking for it. Its
output goes to the log file the run gave it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
from pathlib import Path

from hpsearch.errors import HPSearchError
from hpsearch.rundir.folder import RUN
from hpsearch.runtime import interrupt
from hpsearch.runtime.threads import ONE_THREAD, XLA_ONE_THREAD


def die_with(parent: int) -> None:
    """SIGTERM when the run (pid `parent`) dies, even by SIGKILL (Linux's PR_SET_PDEATHSIG;
    asked for here, not in the run between fork and exec, where Python code may deadlock on
    JAX's threads); exit now if it is gone already."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:
        raise SystemExit(f"local worker: its run (pid {parent}) has ended")


def main(argv: list[str]) -> int:
    run_dir, engine, name, address, verbose, parent = argv
    interrupt.install()  # the run's SIGTERM stops it as Ctrl-C stops a run: resumably
    die_with(int(parent))
    settings = {k: os.environ.get(k, "") for k in (*ONE_THREAD, "XLA_FLAGS")}
    pinned = all(settings[k] == "1" for k in ONE_THREAD) and all(
        flag in settings["XLA_FLAGS"] for flag in XLA_ONE_THREAD
    )
    # The log says how this process was set up, before any framework loads: the proof of
    # its pinning.
    print(
        f"local worker {name} pid {os.getpid()}: {'pinned' if pinned else 'NOT pinned'} "
        f"({', '.join(f'{k}={v}' for k, v in settings.items())})",
        flush=True,
    )
    try:
        from hpsearch.run.worker import run_worker  # lazy: loads pandas
        from hpsearch.rundir.resume import stored_study

        folder = Path(run_dir)
        study = stored_study(folder, json.loads((folder / RUN).read_text(encoding="utf-8")))
        _, trained = run_worker(study, engine, address, name, verbose=int(verbose), run_dir=folder)
    except HPSearchError as exc:
        print(f"hpsearch: error: {exc}", flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"local worker {name}: stopped", flush=True)
        return 130
    print(f"local worker {name}: trained {trained} {engine} trials", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
