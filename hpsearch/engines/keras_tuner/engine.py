"""Keras Tuner (random, Hyperband, Bayesian) over the study's model factory (`build_model`).

Trains on train, selects on validation (early stopping restores the best epoch). Keras
Tuner keeps its own state in the engine's folder, so a resumed run reloads finished trials
and retries the one that was running. Keras Tuner loads inside `run`.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.compat import keras_tuner as kt_compat
from hpsearch.engines.base import Cluster, EngineContext, EngineResult, KerasObjectiveEngine
from hpsearch.engines.common import (
    EnvironmentFailure,
    class_weights,
    history_rows,
    is_environment_failure,
    last_error_line,
    seed_keras,
)
from hpsearch.engines.keras_estimator import (
    as_estimator,
    estimator_from_weights,
    fitted_preprocessing,
    transform,
)
from hpsearch.engines.local_workers import check_n_jobs, resolve
from hpsearch.files import atomic_write_text, now, plain, write_json
from hpsearch.mixin import Mixin
from hpsearch.runtime import interrupt
from hpsearch.study.config import split_params
from hpsearch.study.schema import Checker, check_address
from hpsearch.study.trials import MINIMIZE, TrialRecord, best_trial, float32_score, trial_id

if TYPE_CHECKING:
    from hpsearch.study.config import Study
    from hpsearch.study.trials import TrialRecord

ALGORITHMS = ("random", "hyperband", "bayesian")


def oracle_seed(seed: int) -> int:
    """Keras Tuner's seed for a study seed. Its Oracle takes `seed or random.randint(1, 10000)`,
    so a study seed of 0 drew other trials in every run: 0 becomes the top of the study's range
    (2**32 - 1, which Bayesian optimization's numpy RandomState still takes), the one seed whose
    Keras Tuner draws it then shares."""
    return seed or 2**32 - 1


@dataclass(frozen=True)
class TunerSettings:
    algorithm: str = "random"
    max_trials: int = 10
    max_epochs: int = 0  # hyperband only; 0 -> train.epochs
    factor: int = 3
    objective: str = ""  # "" -> the task's default
    patience: int = 3
    chief: str = ""  # HOST:PORT: serve the oracle there to `worker` processes instead of training
    worker_timeout: float = 60.0  # seconds without a worker's heartbeat before its trial is retried
    # last: settings built by position stay as they were
    direction: str = ""  # "maximize" / "minimize": an objective of a model factory's own metric
    n_jobs: int | str = 1  # trial processes on this machine ("auto": the usable cores)


class TunerEngine(KerasObjectiveEngine):
    name = "keras_tuner"
    rank, default, colour = 1, True, "#ff7f0e"
    cluster = Cluster(
        flag="--chief",
        metavar="HOST:PORT",
        help="the chief's address (run: serve the oracle there)",
        setting="chief",
        check=lambda c, value: check_address(c, "keras_tuner.chief", value),
        workers=True,
        by_port=True,  # the run listens on 0.0.0.0:PORT, a worker reaches it at HOST:PORT
        refused=(("chief", None),),  # it opens a port
    )
    trials_setting = "max_trials"
    settings_class = TunerSettings
    schema = {
        "algorithm": str,
        "max_trials": int,
        "max_epochs": int,
        "factor": int,
        "objective": str,
        "direction": str,
        "patience": int,
        "chief": str,
        "worker_timeout": float,
        "n_jobs": (int, str),
    }
    # where the oracle listens and who trains, not what it tries
    resume_free = ("chief", "worker_timeout", "n_jobs")

    def check(self, c: Checker, raw: dict[str, Any], study: Study) -> None:
        if "algorithm" in raw:
            c.one_of("keras_tuner.algorithm", raw["algorithm"], ALGORITHMS)
        for key, low in (("max_trials", 1), ("max_epochs", 1), ("factor", 2), ("patience", 0)):
            if key in raw:
                c.at_least(f"keras_tuner.{key}", raw[key], low)
        self.check_objective(c, raw, study)
        if raw.get("chief"):
            check_address(c, "keras_tuner.chief", raw["chief"])
        if "worker_timeout" in raw and not raw["worker_timeout"] > 0:
            raise c.fail(
                "keras_tuner.worker_timeout", "a number of seconds > 0", raw["worker_timeout"]
            )
        if "n_jobs" in raw:
            check_n_jobs(c, "keras_tuner.n_jobs", raw["n_jobs"])

    def planned(self, study: Study) -> int | None:
        settings = study.settings[self.name]
        return None if settings.algorithm == "hyperband" else settings.max_trials

    def run(self, ctx: EngineContext) -> EngineResult:
        """Search, reporting each trial as Keras Tuner ends it; rebuild the best as an estimator.
        With a chief address, serve the oracle to `worker` processes instead of training."""
        import keras

        from hpsearch.engines.keras_tuner import chief as tuner_chief  # lazy: loads Keras Tuner

        study, data = ctx.study, ctx.data
        steps, fit = self._prepared(ctx)
        with _quiet_tuner(ctx), tuner_chief.local():
            tuner = make_tuner(self, ctx, fit["x"].shape[1:], data.n_outputs)  # encoded shape
            reported = set()
            for trial_id in list(tuner.oracle.start_order):  # finished before a resume
                trial = tuner.oracle.trials[trial_id]
                if trial.status != "RUNNING":
                    reported.add(trial_id)
                    tuner.report(trial)
            if ctx.settings.chief or resolve(ctx.settings.n_jobs) > 1:
                tuner_chief.serve_with_workers(tuner, ctx, reported, tuner.report)
            else:
                tuner.search(**fit)
        records, histories = [], []
        # start_order, not trials (a reloaded oracle fills that in file-listing order)
        for trial_id in tuner.oracle.start_order:
            trial = tuner.oracle.trials[trial_id]
            records.append(tuner.record(trial))
            histories += tuner.history(trial, records[-1])
        best = best_trial(records)
        model = None
        if best is not None:
            with warnings.catch_warnings():  # the checkpoint's optimizer state is not needed
                warnings.simplefilter("ignore", UserWarning)
                keras_model = tuner.load_model(tuner.oracle.trials[tuner.ids[best.trial]])
            model = as_estimator(self, study, steps, best.params, keras_model, data)
        keras.backend.clear_session()
        return EngineResult(self.name, records, best, model, histories)

    def work(self, ctx: EngineContext) -> int:
        """Train the trials the chief (`ctx.settings.chief`) hands out until it has none."""
        from hpsearch.engines.keras_tuner import chief as tuner_chief  # lazy: loads Keras Tuner

        data = ctx.data
        _, fit = self._prepared(ctx)
        with _quiet_tuner(ctx), tuner_chief.as_worker(ctx):
            tuner = make_tuner(self, ctx, fit["x"].shape[1:], data.n_outputs)
            tuner.search(**fit)
        return tuner.trained

    def _prepared(self, ctx: EngineContext) -> tuple[list[tuple[str, Any]], dict[str, Any]]:
        """The preprocessing fitted on the training split, and `search`'s keyword arguments."""
        from hpsearch.engines.callbacks import monitored, training_callbacks  # lazy: Keras

        study, data = ctx.study, ctx.data
        steps = fitted_preprocessing(study, data.x_train)
        x_train, x_val = (transform(steps, x) for x in (data.x_train, data.x_val))
        return steps, dict(
            x=x_train,
            y=data.y_train,
            validation_data=(x_val, data.y_val),
            epochs=study.epochs,
            batch_size=study.batch_size,
            verbose=ctx.verbose,
            callbacks=training_callbacks(ctx.settings.patience, *monitored(self, study)),
            class_weight=class_weights(study, data.y_train),
        )

    def trial_model(self, study: Study, workdir: Path, record: TrialRecord, data: Any) -> Any:
        """The trial's checkpoint (Keras Tuner keeps each trial's best epoch) as an estimator."""
        for folder in (Path(workdir) / "keras_tuner").glob("trial_*"):
            if folder.name.removeprefix("trial_").isdigit() and int(
                folder.name.removeprefix("trial_")
            ) == int(record.trial):
                return estimator_from_weights(
                    self, study, record.params, folder / "checkpoint.weights.h5", data
                )
        raise FileNotFoundError(f"{workdir}: no Keras Tuner folder for trial {record.trial}")


ENGINE = TunerEngine()


@contextlib.contextmanager
def _quiet_tuner(ctx: EngineContext) -> Any:
    """Keras Tuner as hpsearch runs it: its state files written atomically, failed trials'
    tracebacks only when verbose, and its prints ("Reloading Tuner ...") off stdout, which
    holds only the run directory."""

    with (
        kt_compat.patched_state(ctx.verbose > 0, _atomic_save_json),
        contextlib.redirect_stdout(sys.stderr if ctx.verbose else io.StringIO()),
    ):
        yield


def _atomic_save_json(path: str, obj: Any) -> str:
    """Keras Tuner's `utils.save_json`, written atomically: a kill -9 while Keras Tuner saves
    its oracle would otherwise leave an empty oracle.json that no resume can read."""

    text = json.dumps(obj)
    atomic_write_text(Path(path), text)
    return text


def make_tuner(
    engine: TunerEngine, ctx: EngineContext, input_shape: tuple[int, ...], n_outputs: int
) -> Any:
    """The tuner for the study's algorithm (models for samples of `input_shape`, with
    `n_outputs` head units); failures never stop the study early."""
    import keras_tuner as kt

    from hpsearch.model.factory import build as build_model  # lazy: loads Keras
    from hpsearch.study.space import from_hp  # lazy: loads SciPy, scikit-learn

    study, s = ctx.study, ctx.settings
    objective = kt.Objective(
        engine.objective(study), "min" if engine.metric(study)[1] == MINIMIZE else "max"
    )
    space = study.space

    class HyperModel(kt.HyperModel):
        """The thin adapter: hp -> keyword arguments -> the model factory (and fit's batch_size)."""

        def build(self, hp: Any) -> Any:
            build = split_params(from_hp(hp, space))[0]
            return build_model(study, build, input_shape, n_outputs)

        def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
            kwargs.update(split_params({k: hp.get(k) for k in space})[1])
            return model.fit(*args, **kwargs)

    hypermodel = HyperModel()

    common: dict[str, Any] = dict(
        objective=objective,
        seed=oracle_seed(study.seed),
        directory=str(ctx.workdir),
        project_name="keras_tuner",
        overwrite=False,
    )
    if s.algorithm == "hyperband":
        common.update(max_epochs=s.max_epochs or study.epochs, factor=s.factor)
    else:
        common.update(max_trials=s.max_trials)
    # Keras Tuner gives up after 3 consecutive failures; we record them and go on.
    common["max_consecutive_failed_trials"] = 10**6
    tuners = {
        "random": kt.RandomSearch,
        "hyperband": kt.Hyperband,
        "bayesian": kt.BayesianOptimization,
    }
    cls = type(f"Recording{tuners[s.algorithm].__name__}", (_Recording, tuners[s.algorithm]), {})
    # overwrite=False: a new run starts empty; a resumed one reloads its finished trials.
    tuner = cls(hypermodel, **common)
    tuner.ctx, tuner.engine = ctx, engine
    return tuner


class _Recording(Mixin):
    """Mixin: seeds each trial from its identity, keeps what Keras Tuner drops (times,
    per-epoch history, the session) in records/<id>.json, and reports each ended trial."""

    ctx: EngineContext
    engine: TunerEngine
    oracle: Any
    trained = 0  # trials this process trained

    @property
    def records_dir(self) -> Path:
        return self.ctx.workdir / "records"

    @property
    def ids(self) -> dict[str, str]:
        """Our trial id ('007') -> Keras Tuner's ('07', or '0007' for a larger search)."""

        return {trial_id(int(t)): t for t in self.oracle.trials}

    def saved(self, trial_id: str) -> dict[str, Any]:
        try:
            return json.loads((self.records_dir / f"{trial_id}.json").read_text())
        except (OSError, ValueError):
            return {}

    def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
        seed_keras(self.ctx.study.seed, f"trial:{int(trial.trial_id)}")
        try:
            histories = super().run_trial(trial, *args, **kwargs)
        except Exception as exc:
            if is_environment_failure(exc):  # not the trial's fault: leave it unfinished
                raise EnvironmentFailure(f"{type(exc).__name__}: {exc}"[:300]) from exc
            raise
        last = histories[-1] if isinstance(histories, list) else histories
        if hasattr(last, "history"):
            self._history = {k: [float(x) for x in v] for k, v in last.history.items()}
        return histories

    def _build_hypermodel(self, hp: Any) -> Any:
        with warnings.catch_warnings():
            # A Hyperband continuation loads its parent's weights into a model whose optimizer
            # starts afresh (Keras Tuner's way): Keras warns of the optimizer state it skips.
            warnings.filterwarnings("ignore", "Skipping variable loading for optimizer")
            return super()._build_hypermodel(hp)

    def on_trial_begin(self, trial: Any) -> None:
        interrupt.check()
        self._history, self._started = {}, (now(), time.perf_counter())
        super().on_trial_begin(trial)

    def on_trial_end(self, trial: Any) -> None:
        # Our record first: a kill between the two leaves the trial running in the oracle, so
        # a resume retries it, rather than an ended trial without its times and history.
        write_json(
            self.records_dir / f"{trial.trial_id}.json",
            {
                "trial": trial.trial_id,
                "started_at": self._started[0],
                "finished_at": now(),
                "fit_seconds": time.perf_counter() - self._started[1],
                "history": self._history,
                "session": self.ctx.session,
                "worker": self.ctx.worker,
            },
        )
        super().on_trial_end(trial)  # the oracle saves the trial as ended
        self.trained += 1
        if not self.ctx.worker:  # a worker's trials are the chief's to report
            self.report(self.oracle.trials[trial.trial_id])

    def report(self, trial: Any) -> None:
        """`ctx.report`: the trial's record and its per-epoch rows."""
        record = self.record(trial)
        self.ctx.report(record, self.history(trial, record))

    def history(self, trial: Any, record: TrialRecord) -> list[dict[str, Any]]:
        rows = history_rows(
            self.engine.name, record.trial, "0", self.saved(trial.trial_id).get("history")
        )
        # A Hyperband trial that continues an earlier one trains from its initial epoch on.
        first = trial.hyperparameters.values.get("tuner/initial_epoch", 0)
        return [{**row, "epoch": row["epoch"] + first} for row in rows]

    def record(self, trial: Any) -> TrialRecord:

        saved = self.saved(trial.trial_id)
        ok = trial.status == "COMPLETED" and trial.score is not None and math.isfinite(trial.score)
        # A trial still RUNNING after search() was cut off by a kill and never retried.
        message = "interrupted" if trial.status == "RUNNING" else trial.message
        values = trial.hyperparameters.values
        epochs = len(saved.get("history", {}).get("loss", []))
        metric, direction = self.engine.metric(self.ctx.study)
        return TrialRecord(
            engine=self.engine.name,
            trial=trial_id(int(trial.trial_id)),
            status="ok" if ok else "failed",
            params={k: plain(values[k]) for k in self.ctx.study.space if k in values},
            metric=metric,
            direction=direction,
            val_score=float32_score(trial.score) if ok else math.nan,
            epochs_run=float(epochs) if epochs else math.nan,
            fit_seconds=saved.get("fit_seconds", math.nan),
            started_at=saved.get("started_at", ""),
            finished_at=saved.get("finished_at", ""),
            error="" if ok else last_error_line(message or f"trial {trial.status.lower()}"),
        )
