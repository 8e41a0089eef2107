"""`hpsearch worker`: join a running run and train its trials.

A Keras Tuner worker asks the run's chief (`run --chief HOST:PORT`) for trials; an Optuna
worker draws them from the storage it shares with the run (`run --storage URL`). Either way
the worker writes where the run reads (trial checkpoints, weights, heartbeats), so it must
see the run directory: the same output folder, on a shared filesystem across machines.
Everything a worker needs is checked before it trains, and each failure is one line.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from hpsearch import registry
from hpsearch.data import load_dataset
from hpsearch.engines.base import EngineContext
from hpsearch.engines.optuna.shared import masked
from hpsearch.errors import InputError
from hpsearch.files import now
from hpsearch.rundir.folder import RUN, STATE
from hpsearch.rundir.live import read_status
from hpsearch.rundir.resume import RESUME_KEYS, factory_code, stored_study
from hpsearch.runtime.heartbeat import Heartbeat, interval_for
from hpsearch.runtime.provenance import changed_provenance
from hpsearch.study.config import Study


def _cluster(engine: str) -> Any:
    """The engine's distributed mode: the setting naming the run's coordinator, its option."""
    return registry.get(engine).cluster


class WorkerError(InputError):
    """A worker cannot join: no such run, a different study or data, an unreachable folder."""


def default_id() -> str:
    # Keras Tuner takes any tuner id containing "chief" for its chief (a host "kt-chief")
    return f"{socket.gethostname()}-{os.getpid()}".replace("chief", "chf")


def find_run(
    study: Study, engine: str, address: str, output_dir: str | None = None, wait: float = 0.0
) -> tuple[Path, dict]:
    """The newest unfinished, running run of `study` whose `engine` is coordinated at
    `address`, under the (shared) output folder; waiting up to `wait` seconds for it to
    start (workers are often started together with the run)."""
    import time

    deadline = time.monotonic() + wait
    while True:
        try:
            return _find_run(study, engine, address, output_dir)
        except WorkerError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


def _find_run(study: Study, engine: str, address: str, output_dir: str | None) -> tuple[Path, dict]:

    cluster = _cluster(engine)
    key, flag = cluster.setting, cluster.flag
    root = Path(output_dir or study.output_dir) / study.name
    for path in sorted(root.glob("*/run.json"), reverse=True):  # run ids start with the time
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            if "finished_at" in info or engine not in info.get("engines", ()):
                continue
            ran = stored_study(path.parent, info)
            if not cluster.same(getattr(ran.settings[engine], key), address):
                continue
            if read_status(path.parent)["state"] != "running":
                continue
        except (OSError, ValueError, InputError):
            continue
        return path.parent, info

    raise WorkerError(
        masked(
            f"{study.source}: no running run of study {study.name!r} with {flag} "
            f"{address} under {root}: start `python -m hpsearch run {study.source} "
            f"{flag} {address}` first; a worker must see the run's output folder "
            f"(a shared filesystem across machines)"
        )
    )


def check_same_study(study: Study, ran: Study, run_dir: Path, engine: str) -> None:
    """The worker's study file must describe the run's search (its coordinates may differ)."""
    for key in RESUME_KEYS:
        if key != "engines" and getattr(study, key) != getattr(ran, key):
            raise WorkerError(
                f"{study.source}: cannot join {run_dir}: {key} differs from the run's "
                f"(run: {getattr(ran, key)!r}, worker: {getattr(study, key)!r})"
            )
    spec = registry.get(engine)
    ours, theirs = (_comparable(spec, s.settings[engine]) for s in (study, ran))
    if ours != theirs:
        raise WorkerError(
            f"{study.source}: cannot join {run_dir}: [{engine}] differs from the run's "
            f"(run: {ran.settings[engine]!r}, worker: {study.settings[engine]!r})"
        )


def _comparable(spec: Any, settings: Any) -> Any:
    """An engine's settings without what a worker may set otherwise: its coordinate
    (matched by find_run) and what a resume may change."""
    import dataclasses

    return dataclasses.replace(spec.resume_view(settings), **{spec.cluster.setting: None})


def run_worker(
    study: Study,
    engine: str,
    address: str,
    worker_id: str | None = None,
    output_dir: str | None = None,
    verbose: int = 0,
    wait: float = 60.0,
    run_dir: Path | None = None,
) -> tuple[Path, int]:
    """Join the run of `study` coordinated at `address` (or the run in `run_dir`: a local
    worker the run started itself) and train trials until it has none left; return the run
    directory and how many trials this worker trained."""

    worker_id = worker_id or default_id()
    if run_dir is None:
        run_dir, info = find_run(study, engine, address, output_dir, wait)
    else:
        info = json.loads((run_dir / RUN).read_text(encoding="utf-8"))
    # The run's study, reaching its coordinator at this worker's address ("": the run's own
    # storage, for a local Optuna worker).
    ran = stored_study(
        run_dir, info, {engine: {_cluster(engine).setting: address}} if address else None
    )
    check_same_study(study, ran, run_dir, engine)
    for what, then, current in changed_provenance(info.get("versions", {}), factory_code(ran)):
        raise WorkerError(
            f"{run_dir}: cannot join: {what} differs from the run's (run: {then}, "
            f"worker: {current}); install the same versions on every worker"
        )
    data = load_dataset(ran)
    if data.fingerprint() != info["data_fingerprint"]:
        raise WorkerError(
            f"{run_dir}: cannot join: this worker's data differ from the run's "
            f"(fingerprint {data.fingerprint()}, run has {info['data_fingerprint']}); "
            f"give every worker the same data files"
        )
    wait_for_engine(run_dir, engine)
    workdir = run_dir / STATE / engine
    ctx = EngineContext(
        engine,
        ran,
        data.without_test(),
        workdir,
        lambda record: None,
        f"{now()}-{worker_id}",
        verbose,
        worker=worker_id,
    )
    timeout = ran.settings[engine].worker_timeout
    beat = Heartbeat(
        workdir / "workers" / f"{_file_name(worker_id)}.json", worker_id, interval_for(timeout)
    )
    try:
        beat.start()
    except OSError as exc:
        raise WorkerError(
            f"{workdir}: cannot join: the run's folder is not writable here "
            f"({type(exc).__name__}: {exc}); a worker must share it"
        ) from None
    done = False
    try:
        trained = registry.get(engine).work(ctx)
        done = True
    finally:
        beat.stop(done)
    return run_dir, trained


def wait_for_engine(run_dir: Path, engine: str, poll: float = 1.0) -> None:
    """Wait while the run works through the engines before `engine` (a study may run sklearn
    first); one line if the run stops, or has finished `engine`, first."""
    import sys
    import time

    said = False
    while True:
        status = read_status(run_dir)
        state = status.get("engines", {}).get(engine, {}).get("state", "pending")
        if status["state"] != "running":
            raise WorkerError(f"{run_dir}: cannot join: the run is {status['state']}")
        if state == "running":
            return
        if state != "pending":
            raise WorkerError(f"{run_dir}: cannot join: its {engine} engine is {state}")
        if not said:
            print(f"worker: waiting for {run_dir} to start its {engine} engine", file=sys.stderr)
            said = True
        time.sleep(poll)


def _file_name(worker_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in worker_id)
