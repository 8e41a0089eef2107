"""Keras Tuner across processes: the run serves its oracle, `worker` processes train.

The run (`run --chief HOST:PORT`) builds the tuner as a local search would, then serves its
oracle over Keras Tuner's own gRPC service instead of training; workers (`worker --chief`)
build the same tuner with Keras Tuner's distributed environment variables, which make it ask
the chief for trials. The run reports each trial as a worker ends it, and a worker whose
heartbeat stops (killed, machine lost) has its trial put back in the oracle's retry queue:
another worker trains it again, with the same hyperparameters and seed.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from hpsearch.compat import keras_tuner as kt_compat
from hpsearch.engines.local_workers import LocalWorkers, free_port, resolve
from hpsearch.errors import HPSearchError
from hpsearch.runtime import interrupt
from hpsearch.runtime.heartbeat import Liveness

if TYPE_CHECKING:
    from hpsearch.engines.base import EngineContext

POLL = 0.25  # seconds between the chief's looks at its oracle and its workers' heartbeats
CONNECT = 60.0  # seconds a worker waits for its chief to answer
RPC_TIMEOUT = 300  # seconds a worker waits on one call (a chief being resumed answers again)


class ChiefError(HPSearchError):
    """The chief cannot listen, or a worker cannot reach (or lost) its chief."""

    exit_code = 2


def serve_with_workers(
    tuner: Any, ctx: EngineContext, reported: set[str], report: Callable[[Any], None]
) -> None:
    """`serve` at the chief address, and with `n_jobs` > 1 start that many local workers
    (engines/local_workers.py) joining it; without a chief address, on 127.0.0.1."""
    n_jobs = resolve(ctx.settings.n_jobs)
    address = ctx.settings.chief or f"127.0.0.1:{free_port()}"
    if n_jobs <= 1:
        serve(tuner, ctx, reported, report, address)
        return
    host, _, port = address.rpartition(":")
    if host in ("0.0.0.0", "[::]", "::", ""):  # listening everywhere: reached on loopback
        host = "127.0.0.1"
    run_dir = ctx.workdir.parent.parent
    with LocalWorkers(run_dir, "keras_tuner", n_jobs, f"{host}:{port}", ctx.verbose) as workers:
        serve(
            tuner, ctx, reported, report, address, workers.tend, announce=bool(ctx.settings.chief)
        )


def serve(
    tuner: Any,
    ctx: EngineContext,
    reported: set[str],
    report: Callable[[Any], None],
    address: str,
    tend: Callable[[bool], None] | None = None,
    announce: bool = True,
) -> None:
    """Serve `tuner.oracle` at `address` until every trial has ended and the live workers
    have stopped asking; `report(trial)` each trial as it ends. `tend(work_left)`: the run's
    local workers, looked after at each poll; `announce`: print the command for workers."""
    from concurrent import futures

    import grpc

    oracle = tuner.oracle
    tuner.save()  # tuner0.json: a resumed chief reloads its oracle through it
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    servicer = _safe_servicer(kt_compat.oracle_servicer())(oracle)
    kt_compat.add_servicer(servicer, server)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise ChiefError(
            f"keras_tuner.chief: cannot listen on {address}: expected a free port on "
            f"an address of this machine"
        )
    server.start()
    host, _, port = address.rpartition(":")
    reach = f"{socket.gethostname() if host in ('0.0.0.0', '[::]', '::') else host}:{port}"
    more = f"; start workers with: python -m hpsearch worker {ctx.study.source} --chief {reach}"
    print(f"keras_tuner: serving trials at {address}{more if announce else ''}", file=sys.stderr)
    liveness = Liveness(ctx.workdir / "workers", ctx.settings.worker_timeout)
    said = False
    try:
        while True:
            interrupt.check()
            for worker in liveness.lost():
                trial_id = requeue(oracle, worker)
                if trial_id is not None:
                    print(
                        f"keras_tuner: worker {worker} stopped beating; its trial {trial_id} "
                        f"goes to another worker",
                        file=sys.stderr,
                        flush=True,
                    )
            waiting = waiting_trials(oracle)
            if waiting and tend is None and not liveness.alive() and not said:  # once
                print(
                    f"keras_tuner: trials {', '.join(waiting)} wait for a worker and none is "
                    f"running: start one with python -m hpsearch worker {ctx.study.source} "
                    f"--chief {reach} (or stop with Ctrl-C and resume later)",
                    file=sys.stderr,
                    flush=True,
                )
            said = bool(waiting) and not liveness.alive()
            if tend is not None:
                tend(not finished(oracle, servicer))
            for trial_id in ended(oracle):
                if trial_id not in reported:
                    reported.add(trial_id)
                    report(oracle.trials[trial_id])
            if finished(oracle, servicer) and not liveness.alive():
                break
            time.sleep(POLL)
    finally:
        server.stop(None)


@kt_compat.synchronized
def requeue(oracle: Any, tuner_id: str) -> str | None:
    """Put a lost worker's running trial back in the retry queue (None if it had none)."""
    trial = oracle.ongoing_trials.pop(tuner_id, None)
    oracle.tuner_ids.discard(tuner_id)
    if trial is None:
        return None
    kt_compat.retry_queue(oracle).append(trial.trial_id)
    oracle.save()
    return trial.trial_id


@kt_compat.synchronized
def waiting_trials(oracle: Any) -> list[str]:
    """Trials in the retry queue (a lost worker's)."""
    return list(kt_compat.retry_queue(oracle))


def _safe_servicer(base: type) -> type:
    """Keras Tuner's servicer, answering a failed call with a gRPC error (an unknown trial
    id, a state file that cannot be written) rather than leaving the oracle locked: Keras
    Tuner's `synchronized` never releases its lock when the method raises."""
    import grpc

    def guarded(name: str) -> Callable:
        method = getattr(base, name)

        def call(self: Any, request: Any, context: Any) -> Any:
            try:
                return method(self, request, context)
            except Exception as exc:
                kt_compat.release_lock(self.oracle)
                context.abort(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"{name}: {type(exc).__name__}: {exc}"[:300],
                )

        return call

    names = (
        "GetSpace",
        "UpdateSpace",
        "CreateTrial",
        "UpdateTrial",
        "EndTrial",
        "GetTrial",
        "GetBestTrials",
    )
    methods = {name: guarded(name) for name in names}
    end = methods["EndTrial"]

    def end_once(self: Any, request: Any, context: Any) -> Any:
        if not claim_end(self.oracle, request.trial.trial_id):  # ended already: keep the first
            return kt_compat.end_trial_response()
        return end(self, request, context)

    methods["EndTrial"] = end_once
    return type("SafeOracleServicer", (base,), methods)


@kt_compat.synchronized
def claim_end(oracle: Any, trial_id: str) -> bool:
    """May `trial_id` end now? Not if it ended already (a worker judged lost came back after
    its retry ended, or the retry ends after it); a queued retry is dropped: it has ended."""
    if trial_id in oracle.end_order:
        return False
    if trial_id in (queue := kt_compat.retry_queue(oracle)):
        queue.remove(trial_id)
    return True


@kt_compat.synchronized
def ended(oracle: Any) -> list[str]:
    return list(oracle.end_order)


@kt_compat.synchronized
def finished(oracle: Any, servicer: Any) -> bool:
    """No trial running or waiting for a retry, and no new one to give."""
    full = bool(oracle.max_trials) and len(oracle.trials) >= oracle.max_trials
    return (
        (full or servicer.stop_triggered)
        and not oracle.ongoing_trials
        and not kt_compat.retry_queue(oracle)
    )


@contextlib.contextmanager
def as_worker(ctx: EngineContext) -> Iterator[None]:
    """Keras Tuner's worker mode for the tuner built inside: its environment variables, and a
    chief that answers (one line if it does not)."""
    import grpc

    address = ctx.settings.chief
    channel = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=CONNECT)
    except grpc.FutureTimeoutError:
        raise ChiefError(
            f"cannot reach the Keras Tuner chief at {address} within {CONNECT:.0f} s: "
            f"expected `python -m hpsearch run STUDY --chief {address}` listening "
            f"there"
        ) from None
    finally:
        channel.close()
    host, _, port = address.rpartition(":")
    env = {
        "KERASTUNER_TUNER_ID": ctx.worker,
        "KERASTUNER_ORACLE_IP": host,
        "KERASTUNER_ORACLE_PORT": port,
    }
    saved = {k: os.environ.get(k) for k in env}
    timeout = kt_compat.set_client_timeout(RPC_TIMEOUT)
    os.environ.update(env)
    try:
        yield
    except grpc.RpcError as exc:
        raise ChiefError(
            f"lost the Keras Tuner chief at {address}: {exc.code().name}; finished "
            f"trials are kept by the run"
        ) from None
    finally:
        kt_compat.set_client_timeout(timeout)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def local() -> Iterator[None]:
    """The run's own tuner: never in Keras Tuner's distributed mode (a chief's tuner would
    block in its constructor; hpsearch serves the oracle itself)."""
    names = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
    saved = {k: os.environ.pop(k) for k in names if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)
