"""Optuna (TPE, random, CMA-ES, QMC, ...) over the same `build_model`, with pruning.

Trains on train, selects on validation (early stopping restores the best epoch). Each epoch's
objective goes to the pruner, which may stop a trial early ("pruned"). Optuna keeps the
study in its own storage (SQLite in the engine's folder by default), so a resumed run
reports the finished trials again and runs only the ones still missing; the weights of each
completed trial are kept to rebuild the best. Optuna loads inside `run`.
"""

from __future__ import annotations

import importlib
import math
import os
import socket
import time
import warnings
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpsearch import interrupt
from hpsearch.compat import optuna as optuna_compat
from hpsearch.engines import optuna_shared
from hpsearch.engines.base import Cluster, EngineContext, EngineResult, KerasObjectiveEngine
from hpsearch.engines.common import (
    EnvironmentFailure,
    history_rows,
    is_environment_failure,
    last_error_line,
    seed_keras,
)
from hpsearch.engines.optuna_draws import Draws
from hpsearch.engines.optuna_shared import OUTCOME
from hpsearch.errors import HPSearchError
from hpsearch.files import now, plain
from hpsearch.schema import Checker

if TYPE_CHECKING:
    from hpsearch.config import Study
    from hpsearch.trials import TrialRecord

# name -> class in optuna.samplers (each takes `seed`); the first is the default.
SAMPLERS = {
    "tpe": "TPESampler",
    "random": "RandomSampler",
    "cmaes": "CmaEsSampler",
    "qmc": "QMCSampler",
    "nsgaii": "NSGAIISampler",
    "gp": "GPSampler",
}
# Samplers that need a package Optuna does not install itself.
SAMPLER_NEEDS = {"cmaes": "cmaes", "gp": "torch"}
PRUNERS = ("median", "successive_halving", "hyperband", "none")
# Keyword arguments of each pruner (optuna's defaults; tests may lower n_startup_trials).
PRUNER_KWARGS: dict[str, dict[str, Any]] = {"median": {}, "successive_halving": {}, "hyperband": {}}


class OptunaMissing(HPSearchError):
    """The study uses the optuna engine but Optuna is not installed."""

    exit_code = 2


@dataclass(frozen=True)
class OptunaSettings:
    n_trials: int = 10
    sampler: str = "tpe"
    pruner: str = "median"
    objective: str = ""  # "" -> the task's default
    patience: int = 3
    storage: str = ""  # "" -> SQLite file optuna.db in the engine's folder; shared by `worker`s
    worker_timeout: float = 60.0  # seconds without a trial's heartbeat before it is retried


class OptunaEngine(KerasObjectiveEngine):
    name = "optuna"
    rank, colour = 2, "#2ca02c"
    cluster = Cluster(
        flag="--storage",
        metavar="URL",
        help="the storage shared with workers (sqlite:///FILE, postgresql://..., journal:FILE)",
        setting="storage",
        check=lambda c, value: check_storage(c, value),
        workers=True,
        refused=(("storage", None),),  # a database, or a file anywhere
    )
    settings_class = OptunaSettings
    schema = {
        "n_trials": int,
        "sampler": str,
        "pruner": str,
        "objective": str,
        "patience": int,
        "storage": str,
        "worker_timeout": float,
    }
    resume_free = ("worker_timeout",)

    def check(self, c: Checker, raw: dict[str, Any], study: Study) -> None:
        if "n_trials" in raw:
            c.at_least("optuna.n_trials", raw["n_trials"], 1)
        if "patience" in raw:
            c.at_least("optuna.patience", raw["patience"], 0)
        if "sampler" in raw:
            c.one_of("optuna.sampler", raw["sampler"], tuple(SAMPLERS))
        if "pruner" in raw:
            c.one_of("optuna.pruner", raw["pruner"], PRUNERS)
        self.check_objective(c, raw, study)
        if raw.get("storage"):
            check_storage(c, raw["storage"])
        if "worker_timeout" in raw and not raw["worker_timeout"] >= 1:
            raise c.fail("optuna.worker_timeout", "a number of seconds >= 1", raw["worker_timeout"])

    def planned(self, study: Study) -> int | None:
        return study.settings[self.name].n_trials

    def run(self, ctx: EngineContext) -> EngineResult:
        """Resume or start the Optuna study, report each trial as it ends, rebuild the best.
        With a storage shared with `worker` processes, they train trials of the same study."""
        import keras

        from hpsearch.config import split_params
        from hpsearch.engines.keras_estimator import as_estimator
        from hpsearch.model import build_model
        from hpsearch.trials import best_trial

        trainer = Trainer(self, ctx)
        optuna, ostudy, study = trainer.optuna, trainer.ostudy, ctx.study
        reported: set[int] = set()

        def report(trial: Any) -> None:
            if OUTCOME in trial.user_attrs and trial.number not in reported:
                reported.add(trial.number)
                record = self.record(study, trial)
                ctx.report(
                    record,
                    history_rows(self.name, record.trial, "0", trial.user_attrs.get("history")),
                )

        for trial in ostudy.get_trials(deepcopy=False):
            report(trial)  # finished before a resume: report it again
        if trainer.shared:
            optuna_shared.optimize(trainer, report, wait_for_others=True)
        else:
            # A trial cut off by a stop or a kill is trained again under its own number and
            # parameters, so a resumed run has the trials of an uninterrupted one.
            for trial in ostudy.get_trials(
                deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)
            ):
                report(trainer.run_trial(optuna_compat.live_trial(ostudy, trial)))
            for _ in range(ctx.settings.n_trials - len(reported)):
                interrupt.check()
                report(trainer.run_trial(ostudy.ask()))
        trials = [t for t in ostudy.get_trials(deepcopy=False) if OUTCOME in t.user_attrs]
        records = [self.record(study, t) for t in trials]
        histories = [
            row
            for r, t in zip(records, trials, strict=True)
            for row in history_rows(self.name, r.trial, "0", t.user_attrs.get("history"))
        ]
        best = best_trial(records)
        model = None
        if best is not None:
            keras.backend.clear_session()
            keras_model = build_model(
                **split_params(best.params)[0],
                n_features=trainer.x_train.shape[1],
                n_classes=trainer.n_classes,
            )
            keras_model.optimizer.build(keras_model.trainable_variables)  # as saved: no warning
            keras_model.load_weights(str(trainer.weights(int(best.trial))))
            model = as_estimator(self, study, trainer.steps, best.params, keras_model, ctx.data)
        keras.backend.clear_session()
        return EngineResult(self.name, records, best, model, histories)

    def work(self, ctx: EngineContext) -> int:
        """Train trials of the run's study in the shared storage until it has enough."""
        return optuna_shared.optimize(Trainer(self, ctx), None, wait_for_others=False)

    def record(self, study: Study, trial: Any) -> TrialRecord:
        """A finished Optuna trial (its user attributes) as a TrialRecord."""
        from hpsearch.trials import TrialRecord, float32_score, trial_id

        attrs = trial.user_attrs
        status = attrs[OUTCOME]
        ok = status == "ok"
        history = attrs.get("history") or {}
        epochs = len(history.get("loss", []))
        metric, direction = self.metric(study)
        return TrialRecord(
            engine=self.name,
            trial=trial_id(trial.number),
            status=status,
            params={k: plain(v) for k, v in trial_params(trial.params, study.space).items()},
            metric=metric,
            direction=direction,
            val_score=float32_score(attrs["value"]) if ok else math.nan,
            epochs_run=float(epochs) if epochs else math.nan,
            fit_seconds=attrs.get("fit_seconds", math.nan),
            started_at=attrs.get("started_at", ""),
            finished_at=attrs.get("finished_at", ""),
            error="" if ok else attrs.get("error", f"trial {status}"),
        )

    def trial_model(self, study: Study, workdir: Any, record: TrialRecord, data: Any) -> Any:
        """A completed trial's weights (kept for every one) as an estimator; None otherwise."""
        from pathlib import Path

        from hpsearch.engines.keras_estimator import estimator_from_weights

        weights = Path(workdir) / "weights" / f"{int(record.trial)}.weights.h5"
        return (
            estimator_from_weights(self, study, record.params, weights, data)
            if record.ok and weights.is_file()
            else None
        )


ENGINE = OptunaEngine()


class Trainer:
    """One process's side of an Optuna study: the storage opened, the data prepared, and the
    objective that trains one trial of `build_model`."""

    def __init__(self, engine: OptunaEngine, ctx: EngineContext) -> None:
        from hpsearch.engines.keras_estimator import fitted_preprocessing, transform

        self.optuna = optuna = _import_optuna()
        _check_sampler_package(ctx.settings.sampler)
        self.engine, self.ctx, study, data = engine, ctx, ctx.study, ctx.data
        self.steps = fitted_preprocessing(study, data.x_train)
        self.x_train, self.x_val = (transform(self.steps, x) for x in (data.x_train, data.x_val))
        self.n_classes = data.n_outputs if study.task == "classification" else None
        (ctx.workdir / "weights").mkdir(parents=True, exist_ok=True)
        if not ctx.verbose:
            optuna.logging.set_verbosity(optuna.logging.ERROR)
        self.shared = bool(ctx.settings.storage)
        # Each process of a shared study draws its own startup trials (the same seed would
        # give every worker the same first draws).
        # (the session too: a worker restarted under its name must not repeat its draws)
        mix = zlib.crc32(f"{ctx.worker}/{ctx.session}".encode())
        seed = study.seed if not ctx.worker else (study.seed + mix) % 2**32
        with warnings.catch_warnings():  # experimental samplers warn on creation
            warnings.simplefilter("ignore")
            # the run's own sampler continues where its last session left it
            self.draws = Draws(
                ctx.workdir,
                keep=not ctx.worker,
                make=getattr(optuna.samplers, SAMPLERS[ctx.settings.sampler]),
                seed=seed,
                fresh_seed=(study.seed + mix) % 2**32,
            )
            self.ostudy = optuna_shared.open_study(
                optuna,
                ctx,
                direction=engine.metric(study)[1],
                sampler=self.draws.sampler,
                pruner=make_pruner(optuna, ctx.settings.pruner, study.epochs),
            )
        self.poll: Any = None  # called at each epoch end (the run reports workers' trials)
        self.trained = 0

    def weights(self, number: int) -> Any:
        return self.ctx.workdir / "weights" / f"{number}.weights.h5"

    def optimize(self, n_trials: int) -> None:
        """Optuna's own loop (a shared storage: its heartbeats mark a lost worker's trial)."""
        with warnings.catch_warnings():  # e.g. CMA-ES on categorical parameters
            warnings.simplefilter("ignore")
            self.ostudy.optimize(self, n_trials=n_trials, catch=(Exception,), gc_after_trial=False)

    def run_trial(self, trial: Any) -> Any:
        """Train `trial` and tell the study its end; returns the finished trial. A stop or an
        environment failure leaves it running, to be trained again in place by a resume
        (Optuna's own loop would fail it, and its number and parameters would be lost)."""
        state, value = None, None
        with warnings.catch_warnings():  # e.g. CMA-ES on categorical parameters
            warnings.simplefilter("ignore")
            try:
                value = self(trial)
            except self.optuna.TrialPruned:
                state = self.optuna.trial.TrialState.PRUNED
            except Exception:  # recorded as failed, with its reason, by the objective
                state = self.optuna.trial.TrialState.FAIL
            return self.ostudy.tell(trial, value, state=state)

    def __call__(self, trial: Any) -> float:
        """The objective: train one trial, keep its outcome with it, return its score."""
        import keras

        from hpsearch.config import split_params
        from hpsearch.engines.callbacks import training_callbacks
        from hpsearch.model import build_model

        interrupt.check()
        ctx, study, settings, optuna = self.ctx, self.ctx.study, self.ctx.settings, self.optuna
        if self.shared and optuna_shared.surplus(self.ostudy, trial, settings.n_trials):
            raise optuna_shared.Surplus(f"trial {trial.number}: the study has its trials")
        trial.set_user_attr("worker", ctx.worker)  # who trains it ("" for the run itself)
        trial.set_user_attr("session", ctx.session)  # and in which session
        params = self.draws.draw(
            trial, self.ostudy, list(study.space), lambda t: suggest(t, study.space)
        )
        seed_keras(study.seed, f"trial:{trial.number}")
        started, clock = now(), time.perf_counter()
        reporter = _reporter(trial, self.engine.objective(study), optuna, self.poll)
        callbacks = training_callbacks(settings.patience)

        def keep(outcome: str, **attrs: Any) -> None:
            attrs.update(
                history=reporter.history,
                started_at=started,
                finished_at=now(),
                fit_seconds=time.perf_counter() - clock,
                session=ctx.session,
            )
            for key, value in attrs.items():
                trial.set_user_attr(key, value)
            trial.set_user_attr(OUTCOME, outcome)  # last: the mark of a finished trial
            self.trained += 1

        try:
            build, fit = split_params(params)
            model = build_model(**build, n_features=self.x_train.shape[1], n_classes=self.n_classes)
            model.fit(
                self.x_train,
                ctx.data.y_train,
                validation_data=(self.x_val, ctx.data.y_val),
                epochs=study.epochs,
                verbose=ctx.verbose,
                callbacks=[*callbacks, reporter],
                **{"batch_size": study.batch_size, **fit},
            )
        except optuna.TrialPruned:
            keep("pruned", error=f"pruned at epoch {reporter.epochs}")
            raise
        except Exception as exc:
            if is_environment_failure(exc):  # not the trial's fault: leave it unfinished
                raise EnvironmentFailure(f"{type(exc).__name__}: {exc}"[:300]) from exc
            keep("failed", error=last_error_line(f"{type(exc).__name__}: {exc}"))
            raise
        # Early stopping restored the best epoch by val_loss; score the weights kept.
        stopper = [c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping)]
        kept = stopper[0].best_epoch if stopper else reporter.epochs - 1
        value = reporter.history[reporter.key][kept]
        if not math.isfinite(value):
            keep("failed", error=f"{reporter.key} is {value}")
            raise FloatingPointError(f"{reporter.key} is {value}")
        path = self.weights(trial.number)
        temp = path.with_name(
            f".{trial.number}-{socket.gethostname()}-{os.getpid()}.tmp.weights.h5"
        )
        model.save_weights(str(temp))
        os.replace(temp, path)  # before the outcome: a finished trial always has its weights
        keep("ok", value=value)
        return value


def _import_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise OptunaMissing(
            'the optuna engine needs Optuna: pip install "hpsearch[optuna]"'
        ) from None
    return optuna


def _check_sampler_package(sampler: str) -> None:
    """One line, before any training, if the sampler needs a package that is missing."""
    package = SAMPLER_NEEDS.get(sampler)
    if package is None:
        return
    try:
        importlib.import_module(package)
    except ImportError:
        raise OptunaMissing(
            f'the optuna sampler "{sampler}" needs {package}: pip install {package}'
        ) from None


def make_pruner(optuna: Any, name: str, epochs: int) -> Any:
    """The pruner `name` (steps are epochs, 1-based)."""
    if name == "none":
        return optuna.pruners.NopPruner()
    kwargs = dict(PRUNER_KWARGS.get(name, {}))
    if name == "median":
        return optuna.pruners.MedianPruner(**kwargs)
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(**kwargs)
    return optuna.pruners.HyperbandPruner(**{"min_resource": 1, "max_resource": epochs, **kwargs})


def suggest(trial: Any, space: dict[str, Any]) -> dict[str, Any]:
    """Draw every parameter of the study's space from an Optuna trial."""
    from hpsearch.config import Choice, Fixed, IntRange

    values: dict[str, Any] = {}
    for name, param in space.items():
        if isinstance(param, Fixed):
            values[name] = param.value
        elif isinstance(param, Choice):
            values[name] = trial.suggest_categorical(name, list(param.values))
        elif isinstance(param, IntRange):
            values[name] = trial.suggest_int(name, param.low, param.high, log=param.log)
        else:
            values[name] = trial.suggest_float(name, param.low, param.high, log=param.log)
    return values


def trial_params(suggested: dict[str, Any], space: dict[str, Any]) -> dict[str, Any]:
    """A trial's suggested parameters plus the space's fixed ones, in the space's order."""
    from hpsearch.config import Fixed

    return {
        name: param.value if isinstance(param, Fixed) else suggested[name]
        for name, param in space.items()
        if isinstance(param, Fixed) or name in suggested
    }


def _reporter(trial: Any, key: str, optuna: Any, poll: Any = None) -> Any:
    """Keras callback: records each epoch's logs, reports the objective to the trial, and
    raises TrialPruned when the pruner says so; calls `poll()` after each epoch, if given."""
    import keras

    class Reporter(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.key, self.epochs = key, 0
            self.history: dict[str, list[float]] = {}

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            for name, value in (logs or {}).items():
                self.history.setdefault(name, []).append(float(value))
            self.epochs = epoch + 1
            if poll is not None:
                poll()
            value = float((logs or {}).get(key, math.nan))
            if math.isfinite(value):
                trial.report(value, self.epochs)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned at epoch {self.epochs}")

    return Reporter()


def check_storage(c: Checker, url: str) -> str:
    """An Optuna storage: a database URL (RDB, with heartbeats) or journal:FILE."""
    import re

    if not (re.match(r"[a-z][a-z0-9+]*://.", url) or (url.startswith("journal:") and url[8:])):
        raise c.fail(
            "optuna.storage",
            "an Optuna storage: sqlite:///FILE, postgresql://USER@HOST/DB "
            "(any SQLAlchemy URL) or journal:FILE",
            url,
        )
    return url
