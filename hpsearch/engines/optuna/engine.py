"""Optuna (TPE, random, CMA-ES, QMC, ...) over the study's model factory, with pruning.

Trains on train, selects on validation (early stopping restores the best epoch). Each epoch's
objective goes to the pruner, which may stop a trial early ("pruned"). Optuna keeps the
study in its own storage (SQLite in the engine's folder by default), so a resumed run
reports the finished trials again and runs only the ones still missing; the weights of each
completed trial are kept to rebuild the best. Optuna loads inside `run`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from hpsearch.compat import optuna as optuna_compat
from hpsearch.engines.base import Cluster, EngineContext, EngineResult, KerasObjectiveEngine
from hpsearch.engines.common import (
    history_rows,
)
from hpsearch.engines.keras_estimator import as_estimator, estimator_from_weights
from hpsearch.engines.local_workers import LocalWorkers, check_n_jobs, resolve
from hpsearch.engines.optuna import shared as optuna_shared
from hpsearch.engines.optuna.settings import (
    PRUNER_KWARGS,
    PRUNERS,
    SAMPLERS,
    OptunaMissing,
    OptunaSettings,
    check_storage,
)
from hpsearch.engines.optuna.shared import OUTCOME
from hpsearch.engines.optuna.space import trial_params
from hpsearch.files import plain
from hpsearch.runtime import interrupt
from hpsearch.study.config import split_params
from hpsearch.study.schema import Checker
from hpsearch.study.trials import TrialRecord, best_trial, float32_score, trial_id

if TYPE_CHECKING:
    from hpsearch.study.config import Study
    from hpsearch.study.trials import TrialRecord


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
    trials_setting = "n_trials"
    settings_class = OptunaSettings
    schema = {
        "n_trials": int,
        "sampler": str,
        "pruner": str,
        "objective": str,
        "direction": str,
        "patience": int,
        "storage": str,
        "worker_timeout": float,
        "n_jobs": (int, str),
    }
    resume_free = ("worker_timeout", "n_jobs")  # speed: with n_jobs, TPE draws differ anyway

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
        if "n_jobs" in raw:
            check_n_jobs(c, "optuna.n_jobs", raw["n_jobs"])

    def planned(self, study: Study) -> int | None:
        return study.settings[self.name].n_trials

    def run(self, ctx: EngineContext) -> EngineResult:
        """Resume or start the Optuna study, report each trial as it ends, rebuild the best.
        With a storage shared with `worker` processes, they train trials of the same study."""
        import keras

        from hpsearch.engines.optuna.trainer import Trainer  # Optuna and Keras: only now
        from hpsearch.model.factory import build  # lazy: loads Keras

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
        n_jobs = resolve(ctx.settings.n_jobs)
        if n_jobs > 1:  # local workers train on the same storage; this process only waits
            run_dir = ctx.workdir.parent.parent
            url = ctx.settings.storage
            with LocalWorkers(run_dir, self.name, n_jobs, url, ctx.verbose) as workers:
                optuna_shared.optimize(trainer, report, wait_for_others=True, tend=workers.tend)
        elif trainer.shared:
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
            keras_model = build(
                study, split_params(best.params)[0], trainer.x_train.shape[1:], ctx.data.n_outputs
            )
            keras_model.optimizer.build(keras_model.trainable_variables)  # as saved: no warning
            keras_model.load_weights(str(trainer.weights(int(best.trial))))
            model = as_estimator(self, study, trainer.steps, best.params, keras_model, ctx.data)
        keras.backend.clear_session()
        return EngineResult(self.name, records, best, model, histories)

    def work(self, ctx: EngineContext) -> int:
        """Train trials of the run's study in the shared storage until it has enough."""
        from hpsearch.engines.optuna.trainer import Trainer  # Optuna and Keras: only now

        return optuna_shared.optimize(Trainer(self, ctx), None, wait_for_others=False)

    def record(self, study: Study, trial: Any) -> TrialRecord:
        """A finished Optuna trial (its user attributes) as a TrialRecord."""

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

        weights = Path(workdir) / "weights" / f"{int(record.trial)}.weights.h5"
        return (
            estimator_from_weights(self, study, record.params, weights, data)
            if record.ok and weights.is_file()
            else None
        )


ENGINE = OptunaEngine()
__all__ = ["ENGINE", "PRUNER_KWARGS", "OptunaMissing", "OptunaSettings"]
