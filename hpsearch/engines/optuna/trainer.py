"""One process's side of an Optuna study: the storage opened, the data prepared, and the
objective that trains one trial. Imports Optuna and Keras: the engine loads it in `run`."""

from __future__ import annotations

import importlib
import math
import os
import socket
import time
import warnings
import zlib
from typing import Any

import keras

from hpsearch.engines.base import EngineContext, KerasObjectiveEngine
from hpsearch.engines.callbacks import monitored, training_callbacks
from hpsearch.engines.common import (
    EnvironmentFailure,
    class_weights,
    is_environment_failure,
    last_error_line,
    seed_keras,
)
from hpsearch.engines.keras_estimator import fitted_preprocessing, transform
from hpsearch.engines.local_workers import resolve
from hpsearch.engines.optuna import shared as optuna_shared
from hpsearch.engines.optuna.draws import Draws
from hpsearch.engines.optuna.settings import PRUNER_KWARGS, SAMPLER_NEEDS, SAMPLERS, OptunaMissing
from hpsearch.engines.optuna.shared import OUTCOME
from hpsearch.engines.optuna.space import suggest
from hpsearch.files import now
from hpsearch.model import factory
from hpsearch.runtime import interrupt
from hpsearch.study.config import split_params


class Trainer:
    """One process's side of an Optuna study: the storage opened, the data prepared, and the
    objective that trains one trial of the study's model factory."""

    def __init__(self, engine: KerasObjectiveEngine, ctx: EngineContext) -> None:
        self.optuna = optuna = import_optuna()
        _check_sampler_package(ctx.settings.sampler)
        self.engine, self.ctx, study, data = engine, ctx, ctx.study, ctx.data
        self.steps = fitted_preprocessing(study, data.x_train)
        self.x_train, self.x_val = (transform(self.steps, x) for x in (data.x_train, data.x_val))
        self.class_weight = class_weights(study, data.y_train)
        (ctx.workdir / "weights").mkdir(parents=True, exist_ok=True)
        if not ctx.verbose:
            optuna.logging.set_verbosity(optuna.logging.ERROR)
        # shared with other processes: a storage given, or the run's local workers (n_jobs)
        self.shared = bool(ctx.settings.storage or ctx.worker) or resolve(ctx.settings.n_jobs) > 1
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
        callbacks = training_callbacks(settings.patience, *monitored(self.engine, study))

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
            # looked up per trial (factory.build), not bound at import: tests swap build_model
            model = factory.build(study, build, self.x_train.shape[1:], ctx.data.n_outputs)
            model.fit(
                self.x_train,
                ctx.data.y_train,
                validation_data=(self.x_val, ctx.data.y_val),
                epochs=study.epochs,
                verbose=ctx.verbose,
                callbacks=[*callbacks, reporter],
                class_weight=self.class_weight,
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
        # Early stopping restored the best epoch by the objective; score the weights kept.
        stopper = [c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping)]
        kept = stopper[0].best_epoch if stopper else reporter.epochs - 1
        if reporter.key not in reporter.history:  # a factory that compiles no such metric
            shown = ", ".join(k for k in reporter.history if k.startswith("val_"))
            keep("failed", error=f"the model reports no {reporter.key} (it reports {shown})")
            raise KeyError(f"the model reports no {reporter.key}")
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


def import_optuna() -> Any:
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


def _reporter(trial: Any, key: str, optuna: Any, poll: Any = None) -> Any:
    """Keras callback: records each epoch's logs, reports the objective to the trial, and
    raises TrialPruned when the pruner says so; calls `poll()` after each epoch, if given."""

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
