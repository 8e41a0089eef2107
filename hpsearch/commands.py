"""The commands: plain functions of parsed arguments (`cmd_run`, `cmd_worker`, ...), each
returning its exit code; `cli.py` parses argv and calls them."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from hpsearch import registry
from hpsearch.errors import Found, HPSearchError, InputError, StudyError
from hpsearch.run.progress import Display
from hpsearch.run.status import format_status
from hpsearch.runtime import compile_cache
from hpsearch.study.config import load_study
from hpsearch.study.schema import Checker


def _prepare_keras(verbose: bool = False) -> None:
    """Pick the backend before Keras loads: JAX when installed (2-3x faster on CPU here)."""
    if "KERAS_BACKEND" not in os.environ and importlib.util.find_spec("jax") is not None:
        os.environ["KERAS_BACKEND"] = "jax"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    compile_cache.configure()  # before JAX loads: its settings are read then
    if verbose:
        return
    # TensorFlow (imported by scikeras and keras-tuner) prints C++ start-up notices straight to
    # fd 2, past TF_CPP_MIN_LOG_LEVEL; load it with fd 2 pointed at /dev/null.
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras_tuner  # noqa: F401
        import scikeras.wrappers  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def cluster_overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Engine settings given on the command line: each engine's cluster option."""

    overrides: dict[str, dict[str, Any]] = {}
    for name, cluster in clusters().items():
        value = getattr(args, _dest(cluster.flag), None)
        # `is not None`: an empty value (an unset $CHIEF) is refused, not ignored
        if value is not None:
            cluster.check(Checker(cluster.flag, ""), value)
            overrides[name] = cluster.overrides(value)
    worker = getattr(args, "id", None)
    # Keras Tuner takes any tuner id containing "chief" for its chief; the id names files
    if worker is not None and ("chief" in worker or not re.fullmatch(r"[A-Za-z0-9_.-]+", worker)):
        raise StudyError(
            "--id",
            None,
            'a worker name of letters, digits, "_", "-" or "." without "chief"',
            worker,
        )
    return overrides


def cmd_run(args: argparse.Namespace) -> int:
    study = load_study(args.study, cluster_overrides(args))
    return _run(
        study,
        args,
        engines=tuple(args.engine) if args.engine else None,
        seed=args.seed,
        output_dir=args.output_dir,
        resume=args.resume,
    )


def cmd_resume(args: argparse.Namespace) -> int:
    """Finish an interrupted run from its directory alone: the study is stored there."""
    from hpsearch.rundir.resume import read_run, stored_study  # lazy: loads pandas

    run_dir = Path(args.run_dir)
    return _run(
        stored_study(run_dir, read_run(run_dir), cluster_overrides(args)), args, resume=run_dir
    )


def clusters(workers: bool = False) -> dict[str, Any]:
    """Each engine's distributed mode (only those that `worker`s join, if `workers`)."""
    engines = registry.engines().items()
    return {n: e.cluster for n, e in engines if e.cluster and (e.cluster.workers or not workers)}


def _dest(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


def cmd_worker(args: argparse.Namespace) -> int:
    """Join a running run (its coordinator) and train trials until none are left."""
    from hpsearch.run.worker import default_id, run_worker  # lazy: loads pandas

    overrides = cluster_overrides(args)
    worker_id = args.id or default_id()
    engine, cluster = next((e, c) for e, c in clusters(workers=True).items() if e in overrides)
    study = load_study(args.study, overrides)
    _prepare_keras(args.verbose)

    run_dir, trained = run_worker(
        study,
        engine,
        overrides[engine][cluster.setting],
        worker_id,
        args.output_dir,
        int(args.verbose),
        args.wait,
    )
    print(f"worker {worker_id}: trained {trained} {engine} trials of {run_dir}", file=sys.stderr)
    print(run_dir)
    return 0


def _run(study: Any, args: argparse.Namespace, **options: Any) -> int:
    """Run (or resume) `study`, then the end-of-run table on stderr and the run dir on stdout."""
    mlflow = _mlflow_uri(args)  # a bad option fails before anything loads
    _prepare_keras(args.verbose)
    from hpsearch.run.runner import run_study  # lazy: loads pandas

    run_dir = run_study(
        study,
        verbose=int(args.verbose),
        display=Display(quiet=args.quiet),
        keep_state=args.keep_state,
        mlflow=mlflow,
        tensorboard=args.tensorboard,
        **options,
    )
    if not args.quiet:
        from hpsearch.report.tables import best_table  # pandas: only once a run has ended

        print(best_table(run_dir), file=sys.stderr)
    print(run_dir)
    return 0


def _mlflow_uri(args: argparse.Namespace) -> str | None:
    """--mlflow URI; a bare --mlflow: $MLFLOW_TRACKING_URI (one line if unset)."""
    uri = args.mlflow
    if uri == "":
        uri = os.environ.get("MLFLOW_TRACKING_URI", "")
        if not uri:
            raise StudyError(
                "--mlflow", None, "a tracking URI, or MLFLOW_TRACKING_URI set", Found("neither")
            )
    if uri is not None:
        from hpsearch.track.mlflow import require

        require()
    return uri


def cmd_export(args: argparse.Namespace) -> int:
    """Send runs made earlier to MLflow (what the server lacks of each, nothing twice) or
    write them to a TensorBoard log folder (the trials it lacks)."""
    from hpsearch.rundir.folder import is_run_dir, read_info  # lazy: loads pandas

    if args.tracker == "tensorboard":
        return _export_tensorboard(args)
    from hpsearch.track import mlflow

    mlflow.require()
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")  # not minutes on a dead server
    _prepare_keras(False)  # the best models are Keras models, loaded to be logged
    for run_dir in map(Path, args.run_dir):
        if not is_run_dir(run_dir):
            raise InputError(f"{run_dir}: expected a run directory with status.json, found none")
        uri = (
            args.tracking_uri
            or os.environ.get("MLFLOW_TRACKING_URI")
            or read_info(run_dir).get("mlflow")
            or _study_uri(run_dir)
        )
        if not uri:
            raise InputError(
                f"{run_dir}: expected --tracking-uri or MLFLOW_TRACKING_URI, got neither "
                "(and the run names no tracking URI)"
            )
        try:
            sent = mlflow.sync(run_dir, uri)
        except HPSearchError:
            raise
        except Exception as exc:  # the server's or the network's: one line, exit 1
            raise HPSearchError(
                f"{run_dir}: export to {uri} failed ({type(exc).__name__}: "
                f"{' '.join(str(exc).split())[:300]}); nothing is sent twice: run it again"
            ) from None
        print(f"{run_dir}: {sent} to {uri}", file=sys.stderr)
    return 0


def _export_tensorboard(args: argparse.Namespace) -> int:
    from hpsearch.rundir.folder import is_run_dir, read_info  # lazy: loads pandas
    from hpsearch.track import tensorboard

    for run_dir in map(Path, args.run_dir):
        if not is_run_dir(run_dir):
            raise InputError(f"{run_dir}: expected a run directory with status.json, found none")
        logdir = (
            args.logdir
            or read_info(run_dir).get("tensorboard")
            or _study_uri(run_dir, "tensorboard")
        )
        if not logdir:
            raise InputError(
                f"{run_dir}: expected --logdir, got none (and the run names no log folder)"
            )
        written = tensorboard.sync_folder(run_dir, logdir)
        print(f"{run_dir}: {written} trials written to {logdir}", file=sys.stderr)
    return 0


def _study_uri(run_dir: Path, tracker: str = "mlflow") -> str:
    """Where a run's stored study.toml tracks it ([track] TRACKER), or ""."""
    import tomllib

    try:
        doc = tomllib.loads((run_dir / "study.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    track = doc.get("track")
    return str(track.get(tracker) or "") if isinstance(track, dict) else ""


def cmd_status(args: argparse.Namespace) -> int:
    from hpsearch.rundir.live import read_status  # lazy: loads pandas

    statuses = [read_status(Path(d)) for d in args.run_dir]
    if args.json:
        import json

        print(json.dumps(statuses if len(statuses) > 1 else statuses[0], indent=2))
    else:
        print("\n\n".join(format_status(s) for s in statuses))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from hpsearch.report.best import choose_engine, predict_file  # lazy: loads pandas

    run_dir = Path(args.run_dir)
    engine = choose_engine(run_dir, args.engine)  # before Keras loads: a bad dir fails fast
    _prepare_keras(False)
    from hpsearch.files import write_csv  # lazy: loads pandas
    from hpsearch.report.best import load_best  # lazy: loads pandas

    if args.output:
        _writable_output(Path(args.output))
    model = load_best(run_dir, engine)
    table = predict_file(model, args.input)
    if args.output:
        write_csv(Path(args.output), table)
        print(f"wrote {len(table)} predictions of {engine} to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(table.to_csv(index=False))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Refuse what `run` would refuse before training: the file, the data, the output folder."""
    from hpsearch.data import locate_data  # lazy: loads NumPy
    from hpsearch.rundir.folder import check_writable  # lazy: loads pandas

    for path in args.study:
        study = load_study(path)
        if study.track.get("mlflow"):
            from hpsearch.track.mlflow import require

            require()  # as `run` would
        where = locate_data(study)
        check_writable(Path(study.output_dir), study.source)
        source = "no local copy: run downloads it" if where == "download" else f"from {where}"
        model = f", model {study.factory}" if study.factory else ""
        model += "".join(f", tracked by {k} at {v}" for k, v in study.track.items())
        print(f"{path}: ok ({study.dataset} {source}, engines {', '.join(study.engines)}{model})")
    return 0


def cmd_importance(args: argparse.Namespace) -> int:
    """Which hyperparameters mattered, per engine: a table, or JSON with --json."""
    from hpsearch.report.importance import importances, table  # lazy: loads pandas
    from hpsearch.rundir.read import load_run

    found = importances(load_run(args.run_dir))
    if args.json:
        print(json.dumps(found, indent=2))
    elif not found:
        print(f"{args.run_dir}: not enough finished trials for importances", file=sys.stderr)
    else:
        print(table(found).to_string(index=False))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from hpsearch.files import write_csv  # lazy: loads pandas
    from hpsearch.report.compare import compare_runs  # lazy: loads pandas
    from hpsearch.report.html import write_compare_report  # lazy: loads pandas

    table = compare_runs(args.run_dir)
    output = Path(args.output)
    _writable_output(output)
    write_csv(output, table)
    html = write_compare_report(args.run_dir, output.with_suffix(".html"))
    print(table.to_string(index=False))
    print(f"\nwrote {output} and {html}", file=sys.stderr)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from hpsearch.report.html import write_report  # lazy: loads pandas

    for run_dir in args.run_dir:
        print(write_report(run_dir))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve RESULTS_DIR's runs, pages and API until Ctrl-C; queued studies run one at a time."""
    from hpsearch.serve.server import serve  # lazy: loads Starlette

    return serve(
        Path(args.results_dir),
        host=args.host,
        port=args.port,
        token=args.token,
        data_dirs=[Path(d) for d in args.data_dir] if args.data_dir else None,
        allow_cluster=args.allow_cluster,
        allow_factories=tuple(args.allow_factory or ()),
        max_upload_mb=args.max_upload,
        keep_jobs_days=args.keep_jobs,
    )


def _writable_output(path: Path) -> None:
    """An --output file we can write, checked before any work (exit 2, one line)."""
    from hpsearch.rundir.folder import check_writable  # lazy: loads pandas

    try:
        check_writable(path.parent, str(path))
    except StudyError:
        raise InputError(
            f"{path}: expected --output in a writable directory, got one that is not writable"
        ) from None
    if path.is_dir():
        raise InputError(f"{path}: expected --output to be a file, got a directory")
