"""scikit-learn's RandomizedSearchCV (or, with `search = "halving"`, HalvingRandomSearchCV
over epochs: halving.py; the random search: randomized.py) over the scikeras wrappers, every fit checkpointed.

Searches train + validation (k folds, or the fixed validation split), then refits the best
candidate on all of it. scikit-learn and Keras load inside `run`, so that validating a
study stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch.engines.base import Cluster, Engine, EngineContext, EngineResult
from hpsearch.engines.common import preprocessing
from hpsearch.engines.sklearn import halving, randomized
from hpsearch.engines.sklearn.fits import (
    PREFIX,
    STEP,
    fits_by_candidate,
    pipeline_params,
)
from hpsearch.engines.sklearn.fitstore import FitStore
from hpsearch.engines.sklearn.halving import RESOURCE, first_rung, rung_epochs
from hpsearch.errors import Found
from hpsearch.study.schema import Checker, check_address
from hpsearch.study.trials import MAXIMIZE, MINIMIZE

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from hpsearch.study.config import Study
    from hpsearch.study.trials import TrialRecord

MAX_SEED = 2**32 - 1  # numpy's seeding range (config.MAX_SEED: this module stays light)
SCORERS = {
    "classification": (
        "accuracy",
        "balanced_accuracy",
        "f1_macro",
        "f1_micro",
        "f1_weighted",
        "precision_macro",
        "recall_macro",
        "neg_log_loss",
    ),
    "regression": (
        "neg_root_mean_squared_error",
        "neg_mean_squared_error",
        "neg_mean_absolute_error",
        "neg_median_absolute_error",
        "r2",
        "explained_variance",
        "neg_max_error",
    ),
}
DEFAULT_SCORING = {"classification": "accuracy", "regression": "neg_root_mean_squared_error"}
SEARCHES = ("random", "halving")
BACKENDS = ("loky", "dask")
# Each search's own settings: naming one with the other search is an error, not ignored.
SEARCH_SETTINGS = {"random": ("n_iter",), "halving": ("n_candidates", "min_resources", "factor")}


@dataclass(frozen=True)
class SklearnSettings:
    n_iter: int = 10
    cv: int | str = 3  # folds, or "validation" for the fixed validation split
    scoring: str = ""  # "" -> the task's default
    n_jobs: int | str = "auto"  # loky workers, -1 (every core) or "auto" (jobs.py decides)
    random_state: int | None = None  # None -> the study seed
    patience: int = 0  # early stopping on a validation split inside each fit; 0 = off
    validation_fraction: float = 0.1
    search: str = "random"  # or "halving": successive halving with epochs as the resource
    n_candidates: int | str = (
        "exhaust"  # halving: first-rung candidates; "exhaust" -> epochs // min_resources
    )
    min_resources: int = 1  # halving: epochs at the first rung
    factor: float = 3.0  # halving: 1/factor of the candidates go on, with factor x the epochs
    backend: str = "loky"  # joblib's: "loky" (processes on this machine) or "dask" (a cluster)
    scheduler: str = ""  # dask: the scheduler's address; "" -> a LocalCluster of n_workers
    n_workers: int = 0  # dask LocalCluster: worker processes (1 thread each); 0 -> CPU count


class SklearnEngine(Engine):
    name = "sklearn"
    rank, default, colour = 0, True, "#1f77b4"
    cluster = Cluster(
        flag="--scheduler",
        metavar="ADDRESS",
        help='run fits on this Dask scheduler (backend = "dask")',
        setting="scheduler",
        check=lambda c, value: check_address(c, "sklearn.scheduler", value, "tcp"),
        extra={"backend": "dask"},
        refused=(("backend", "dask"), ("scheduler", None)),  # a scheduler unpickles what it is sent
    )
    trials_setting = "n_iter"
    settings_class = SklearnSettings
    schema = {
        "n_iter": int,
        "cv": (int, str),
        "scoring": str,
        "n_jobs": (int, str),
        "random_state": int,
        "patience": int,
        "validation_fraction": float,
        "search": str,
        "n_candidates": (int, str),
        "min_resources": int,
        "factor": float,
        "backend": str,
        "scheduler": str,
        "n_workers": int,
    }
    # Where and how widely fits run, not what they learn: a resume may change them.
    resume_free = ("n_jobs", "backend", "scheduler", "n_workers")

    def check(self, c: Checker, raw: dict[str, Any], study: Study) -> None:
        if "random_state" in raw and not 0 <= raw["random_state"] <= MAX_SEED:
            raise c.fail(
                "sklearn.random_state", f"an integer in [0, {MAX_SEED}]", raw["random_state"]
            )
        if "n_iter" in raw:
            c.at_least("sklearn.n_iter", raw["n_iter"], 1)
        n_jobs = raw.get("n_jobs", "auto")
        if n_jobs != "auto" and (isinstance(n_jobs, str) or n_jobs == 0 or n_jobs < -1):
            raise c.fail("sklearn.n_jobs", 'a positive integer, -1 (every core) or "auto"', n_jobs)
        if n_jobs not in (1, "auto") and study.factory.startswith("__main__:"):
            raise c.fail(  # loky's workers import the factory too
                "sklearn.n_jobs",
                '1 or "auto" for a factory defined in a notebook or script (worker processes '
                "import the factory: put it in a module)",
                n_jobs,
            )
        if isinstance(raw.get("cv"), str):
            c.one_of("sklearn.cv", raw["cv"], ("validation",))
        elif "cv" in raw:
            c.at_least("sklearn.cv", raw["cv"], 2)
        if "patience" in raw:
            c.at_least("sklearn.patience", raw["patience"], 0)
        if "validation_fraction" in raw and not 0 < raw["validation_fraction"] < 1:
            raise c.fail(
                "sklearn.validation_fraction", "a fraction in (0, 1)", raw["validation_fraction"]
            )
        if "scoring" in raw and (not study.factory or raw["scoring"] in SCORERS[study.task]):
            c.one_of("sklearn.scoring", raw["scoring"], SCORERS[study.task])
        elif "scoring" in raw:  # a factory's model may suit any scorer: scikit-learn's names
            from sklearn.metrics import get_scorer_names  # lazy: loads scikit-learn

            c.one_of("sklearn.scoring", raw["scoring"], tuple(get_scorer_names()))
        self.check_search(c, raw, study)
        backend = c.one_of("sklearn.backend", raw.get("backend", "loky"), BACKENDS)
        if backend == "dask" and study.factory.startswith("__main__:"):
            raise c.fail(  # the workers' own __main__ is not the notebook that defined it
                "sklearn.backend",
                'backend = "loky" for a factory defined in a notebook or script (Dask workers '
                "import the factory: put it in a module)",
                backend,
            )
        if backend == "dask" and study.data and study.data.format != "npz":
            raise c.fail(  # Dask workers load the data as shared NumPy arrays
                "sklearn.backend", 'backend = "loky" for a CSV or Parquet table', backend
            )
        for key in ("scheduler", "n_workers"):
            if key in raw and backend != "dask":
                raise c.fail(
                    f"sklearn.{key}",
                    'backend = "dask" (a setting of the Dask backend only)',
                    Found(f'backend = "{backend}"'),
                )
        if raw.get("scheduler"):
            check_address(c, "sklearn.scheduler", raw["scheduler"], "tcp")
        if "n_workers" in raw:
            c.at_least("sklearn.n_workers", raw["n_workers"], 0)

    def check_search(self, c: Checker, raw: dict[str, Any], study: Study) -> None:
        """`search` and its own settings: n_iter is the random search's; n_candidates,
        min_resources and factor are successive halving's."""
        search = c.one_of("sklearn.search", raw.get("search", "random"), SEARCHES)
        for other, keys in SEARCH_SETTINGS.items():
            for key in (k for k in keys if k in raw and other != search):
                raise c.fail(
                    f"sklearn.{key}",
                    f'search = "{other}" ({key} is a setting of that search only)',
                    Found(f'search = "{search}"'),
                )
        if isinstance(raw.get("n_candidates"), str):
            c.one_of("sklearn.n_candidates", raw["n_candidates"], ("exhaust",))
        elif "n_candidates" in raw:
            c.at_least("sklearn.n_candidates", raw["n_candidates"], 2)
        if search == "halving":
            epochs, low = study.epochs, raw.get("min_resources", 1)
            c.at_least("sklearn.min_resources", low, 1)
            if low > epochs:
                raise c.fail("sklearn.min_resources", f"at most [train] epochs ({epochs})", low)
            if raw.get("n_candidates", "exhaust") == "exhaust" and epochs // low < 2:
                raise c.fail(
                    "sklearn.n_candidates",
                    'an integer >= 2 ("exhaust" draws [train] '
                    f"epochs // min_resources candidates: {epochs} // {low})",
                    Found('"exhaust"'),
                )
        if "factor" in raw and not raw["factor"] > 1:
            raise c.fail("sklearn.factor", "a number > 1", raw["factor"])

    def scoring(self, study: Study) -> str:
        return study.settings[self.name].scoring or DEFAULT_SCORING[study.task]

    def metric(self, study: Study) -> tuple[str, str]:
        """sklearn scorers are higher-is-better; a 'neg_' one is reported as the positive error."""
        scoring = self.scoring(study)
        return (scoring[4:], MINIMIZE) if scoring.startswith("neg_") else (scoring, MAXIMIZE)

    def random_state(self, study: Study) -> int:
        """The seed of the candidate draws: the engine's own setting, else the study's."""
        own = study.settings[self.name].random_state
        return study.seed if own is None else own

    def folds(self, study: Study) -> int:
        cv = study.settings[self.name].cv
        return 1 if cv == "validation" else int(cv)

    def candidates(self, study: Study) -> list[dict[str, Any]]:
        from hpsearch.study.space import (  # lazy: loads SciPy, scikit-learn
            sklearn_distributions,
            unique_samples,
        )

        settings = study.settings[self.name]
        n = first_rung(settings, study.epochs) if settings.search == "halving" else settings.n_iter
        return unique_samples(
            sklearn_distributions(study.space, PREFIX, STEP), n, self.random_state(study)
        )

    def planned(self, study: Study) -> int | None:
        return len(self.candidates(study))

    def pipeline(
        self,
        study: Study,
        checkpoint_dir: Path | None = None,
        session: str = "",
        verbose: int = 0,
    ) -> Pipeline:
        """The estimator searched: [scaler for regression] + checkpointed wrapper of the study's
        model factory (build_model unless [model] names one)."""
        from sklearn.pipeline import Pipeline

        from hpsearch.engines.callbacks import monitored, training_callbacks  # lazy: Keras
        from hpsearch.engines.sklearn.fitcache import (  # lazy: loads scikeras, SciPy, scikit-learn
            CheckpointedClassifier,
            CheckpointedRegressor,
        )
        from hpsearch.model.factory import scikeras_model  # lazy: loads Keras

        settings = study.settings[self.name]
        wrapper = (
            CheckpointedClassifier if study.task == "classification" else CheckpointedRegressor
        )
        fit_options: dict[str, Any] = {}
        if study.task == "classification" and study.data and study.data.class_weight:
            fit_options["class_weight"] = study.data.class_weight  # scikeras: per fit's own y
        if settings.patience > 0:
            fit_options["validation_split"] = settings.validation_fraction
        model = wrapper(
            model=scikeras_model(study),
            epochs=study.epochs,
            batch_size=study.batch_size,
            verbose=verbose,
            seed=study.seed,
            callbacks=training_callbacks(settings.patience, *monitored(self, study)),
            checkpoint_dir=str(checkpoint_dir) if checkpoint_dir else None,
            session=session,
            **fit_options,
        )
        return Pipeline([*preprocessing(study), ("model", model)])

    def run(self, ctx: EngineContext) -> EngineResult:
        """Search, reporting each candidate as its folds finish (with halving: as its last
        rung ends); refit the best on all data."""
        import numpy as np
        from sklearn.base import clone
        from sklearn.model_selection import PredefinedSplit

        from hpsearch.engines.callbacks import monitored, training_callbacks  # lazy: Keras
        from hpsearch.engines.sklearn.fitcache import (  # lazy: loads scikeras, SciPy, scikit-learn
            failed,
            plain_estimator,
        )

        study, data, settings = ctx.study, ctx.data, ctx.settings
        X, y = data.train_and_val()
        if settings.cv == "validation":
            cv: Any = PredefinedSplit(
                np.r_[np.full(len(data.x_train), -1), np.zeros(len(data.x_val))]
            )
        else:
            cv = settings.cv  # StratifiedKFold for classifiers: our wrappers carry the right tags
        store = FitStore(
            (ctx.workdir / "fits").absolute()
        )  # absolute: Dask workers write there too
        store.clean()
        pipeline = self.pipeline(study, store.directory, ctx.session, ctx.verbose)
        if settings.search == "halving":
            records, best = halving.search(self, ctx, pipeline, X, y, cv, store)
            named_histories = halving.histories
        else:
            records, best = randomized.search(self, ctx, pipeline, X, y, cv, store)
            named_histories = randomized.histories
        model, error = None, ""
        if best is not None:  # the refit on all data (full epochs) is checkpointed like any fit
            refit = clone(pipeline).set_params(**pipeline_params(best.params))
            refit.fit(X, y)
            if failed(refit):
                error = f"refit of the best candidate failed: {failed(refit)}"[:300]
            else:
                stopping = training_callbacks(settings.patience, *monitored(self, study))
                model = plain_estimator(refit, stopping)
        histories = named_histories(self, study, records, fits_by_candidate(store, len(X), study))
        return EngineResult(self.name, records, best, model, histories, error)

    def trial_model(self, study: Study, workdir: Path, record: TrialRecord, data: Any) -> Any:
        """The candidate's fit on the training split, restored from the fit store. Scored by
        k-fold CV it has no single model: then the candidate refit on train + validation (the
        run's own refit where it made one, else trained now, seeded as the run would)."""
        from sklearn.base import clone

        from hpsearch.engines.sklearn.fitcache import (
            failed,  # lazy: loads scikeras, SciPy, scikit-learn
        )

        store = FitStore(Path(workdir) / "fits")
        if self.folds(study) == 1:
            X, y = data.x_train, data.y_train
        else:
            X, y = data.train_and_val()
        kept = {fit["key"] for fit in store.records()}
        own = pipeline_params(record.params)
        if study.settings[self.name].search == "halving" and self.folds(study) == 1:
            own[RESOURCE] = rung_epochs(record)[-1]  # its fit at its last rung
        pipeline = clone(self.pipeline(study, store.directory)).set_params(**own)
        pipeline.fit(X, y)  # a stored fit is restored, not trained
        key = pipeline.steps[-1][1].fit_key_
        if self.folds(study) == 1 and key not in kept:
            raise LookupError(f"{workdir}: trial {record.trial}'s fit is not in the fit store")
        return None if failed(pipeline) else pipeline


ENGINE = SklearnEngine()
