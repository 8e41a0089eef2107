"""Command line: `dispatch(argv)` parses, then calls plain functions; errors become one line."""

from __future__ import annotations

import argparse
import sys

from hpsearch import registry
from hpsearch.commands import (
    clusters,
    cmd_compare,
    cmd_export,
    cmd_importance,
    cmd_predict,
    cmd_report,
    cmd_resume,
    cmd_run,
    cmd_serve,
    cmd_status,
    cmd_validate,
    cmd_worker,
)
from hpsearch.errors import HPSearchError
from hpsearch.runtime import interrupt
from hpsearch.study.config import MAX_SEED


def _seed(text: str) -> int:

    if not text.isdigit() or int(text) > MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, {MAX_SEED}], got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hpsearch", description="Hyperparameter search for Keras models."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a study file")
    run.add_argument("study", help="path to a study .toml file")
    run.add_argument(
        "--engine",
        action="append",
        choices=registry.names(),
        help="run only this engine (repeatable); default: the study's engines",
    )
    run.add_argument("--seed", type=_seed, help="override the study's seed")
    run.add_argument(
        "--output-dir", help="where run directories go (default: the study's, 'results')"
    )
    run.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="finish an interrupted run: finished fits and trials are reused",
    )
    resume = sub.add_parser("resume", help="finish an interrupted run from its directory alone")
    resume.add_argument("run_dir")
    worker = sub.add_parser(
        "worker",
        help="train trials of a running run: its Keras Tuner chief "
        "or its Optuna storage (see README: Running on a cluster)",
    )
    worker.add_argument("study", help="the run's study file")
    worker.add_argument(
        "--id",
        help="this worker's name (default: HOST-PID); Keras Tuner gives a "
        "restarted worker of the same name its unfinished trial",
    )
    worker.add_argument(
        "--output-dir", help="the run's output folder, shared with it (default: the study's)"
    )
    worker.add_argument(
        "--wait",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for the run to start (default: %(default)s)",
    )
    joins = worker.add_mutually_exclusive_group(required=True)
    for name, cluster in clusters().items():  # each engine's own option
        for command in (run, resume, joins) if cluster.workers else (run, resume):
            command.add_argument(
                cluster.flag, metavar=cluster.metavar, help=f"{name}: {cluster.help}"
            )
    worker.add_argument("--verbose", action="store_true", help="show Keras's per-epoch output")
    worker.set_defaults(func=cmd_worker)
    for command in (run, resume):
        command.add_argument("--verbose", action="store_true", help="show Keras's per-epoch output")
        command.add_argument(
            "--quiet",
            action="store_true",
            help="no progress bars (they are off anyway when stderr is not a terminal)",
        )
        command.add_argument(
            "--mlflow",
            nargs="?",
            const="",
            metavar="URI",
            help="log the run to this MLflow tracking server as it goes (without URI: "
            "$MLFLOW_TRACKING_URI); needs hpsearch[mlflow]",
        )
        command.add_argument(
            "--tensorboard",
            metavar="DIR",
            help="write each trial to this TensorBoard log folder as it finishes (the HParams "
            "dashboard: tensorboard --logdir DIR)",
        )
        command.add_argument(
            "--keep-state",
            action="store_true",
            help="keep the fit store (state/) of a finished run; by default only "
            "an interrupted run keeps it, for resuming",
        )
    run.set_defaults(func=cmd_run)
    resume.set_defaults(func=cmd_resume)
    status = sub.add_parser("status", help="where runs stand: state, trials done, best so far")
    status.add_argument("run_dir", nargs="+")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(func=cmd_status)
    predict = sub.add_parser("predict", help="predict with a run's best model")
    predict.add_argument("run_dir")
    predict.add_argument("input", help="rows of features: a .csv (header optional) or .npy file")
    predict.add_argument("--engine", help="whose best model (default: the best engine's)")
    predict.add_argument("--output", help="CSV to write (default: standard output)")
    predict.set_defaults(func=cmd_predict)
    val = sub.add_parser("validate", help="check study files without running them")
    val.add_argument("study", nargs="+")
    val.set_defaults(func=cmd_validate)
    cmp_ = sub.add_parser("compare", help="put runs side by side")
    cmp_.add_argument("run_dir", nargs="+", help="run directories (results/<study>/<run-id>)")
    cmp_.add_argument(
        "--output",
        default="results/compare.csv",
        help="CSV to write (default: %(default)s); the HTML report goes beside it",
    )
    cmp_.set_defaults(func=cmd_compare)
    imp = sub.add_parser("importance", help="which hyperparameters mattered (fANOVA), per engine")
    imp.add_argument("run_dir")
    imp.add_argument("--json", action="store_true", help="engine -> {parameter: importance}")
    imp.set_defaults(func=cmd_importance)
    exp = sub.add_parser("export", help="send runs made earlier to a tracker (idempotent)")
    exp.add_argument("tracker", choices=["mlflow", "tensorboard"])
    exp.add_argument("run_dir", nargs="+")
    exp.add_argument(
        "--tracking-uri",
        help="mlflow: where (default: $MLFLOW_TRACKING_URI, else the URI the run was tracked at)",
    )
    exp.add_argument(
        "--logdir", help="tensorboard: the log folder (default: the one the run was tracked at)"
    )
    exp.set_defaults(func=cmd_export)
    rep = sub.add_parser("report", help="regenerate report.html from a run's CSVs (no retraining)")
    rep.add_argument("run_dir", nargs="+")
    rep.set_defaults(func=cmd_report)
    srv = sub.add_parser(
        "serve",
        help="a web page and JSON API over a results folder: watch, "
        "submit, stop, resume and compare runs",
    )
    srv.add_argument(
        "results_dir",
        nargs="?",
        default="results",
        help="the results folder (default: %(default)s)",
    )
    srv.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s; any other needs a token)",
    )
    srv.add_argument("--port", type=int, default=8765, help="default: %(default)s")
    srv.add_argument(
        "--token",
        help="required to submit, cancel, stop and resume (and to read, "
        "off loopback); generated and printed once when needed",
    )
    srv.add_argument(
        "--data-dir",
        action="append",
        metavar="FOLDER",
        help="a folder submitted studies may name as data_dir or read [data] files from "
        "(repeatable; default: $HPSEARCH_DATA_DIR); the first one also lists its data files "
        "and takes uploads from the runs page",
    )
    srv.add_argument(
        "--max-upload",
        type=int,
        default=200,
        metavar="MB",
        help="the largest data file the runs page may upload, in MB (default: %(default)s)",
    )
    srv.add_argument(
        "--keep-jobs",
        type=float,
        default=30.0,
        metavar="DAYS",
        help="forget the queue's finished, failed and cancelled jobs this many days after they "
        "ended, at start and hourly; queued and running ones stay (default: %(default)g; "
        "0 keeps them all)",
    )
    srv.add_argument(
        "--allow-cluster",
        action="store_true",
        help="let submitted studies use cluster settings (a Dask scheduler, a Keras "
        "Tuner chief, an Optuna storage) and [track] (an MLflow tracking URI): only for "
        "submitters you trust",
    )
    srv.add_argument(
        "--allow-factory",
        action="append",
        metavar="MODULE:FUNCTION",
        help="let submitted studies name this installed model factory in [model] (repeatable; "
        "a factory is code the server runs: name only ones you trust; [model] path is always "
        "refused)",
    )
    srv.set_defaults(func=cmd_serve)
    return parser


def dispatch(argv: list[str] | None = None) -> int:
    """Entry point: returns the exit code; HPSearchError becomes one line on stderr."""
    args = build_parser().parse_args(argv)
    # Ctrl-C and SIGTERM (a scheduler, `kill`) stop the run; finished work stays on disk.
    interrupt.install()
    try:
        return args.func(args)
    except HPSearchError as exc:
        print(f"hpsearch: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("hpsearch: interrupted", file=sys.stderr)
        return 130
