"""scikeras wrappers whose fits are checkpointed in a `FitStore`, and the search over them.

Each fit is keyed by its parameters and a fingerprint of its data, seeded from the study
seed and that key (never from what ran before), and stored when it finishes, so a resumed
`RandomizedSearchCV` retrains nothing that finished and trains the rest exactly as an
uninterrupted run would.
"""

from __future__ import annotations

import math
import os
import socket
import time
import warnings
from collections.abc import Callable
from typing import Any

from sklearn.experimental import enable_halving_search_cv  # noqa: F401  (before the import below)
from sklearn.metrics import get_scorer
from sklearn.model_selection import HalvingRandomSearchCV, RandomizedSearchCV
from sklearn.pipeline import Pipeline

from hpsearch.compat import sklearn as sklearn_compat
from hpsearch.data.dataset import arrays_fingerprint
from hpsearch.engines.common import EnvironmentFailure, is_environment_failure, seed_keras
from hpsearch.engines.sklearn.fitstore import FitStore, fit_key
from hpsearch.files import canonical, now
from hpsearch.mixin import Mixin
from hpsearch.model.wrappers import KerasClassifier, KerasRegressor
from hpsearch.runtime import interrupt
from hpsearch.study.space import unique_samples

# Parameters that do not change what a fit learns, so they stay out of its key.
UNKEYED = {"model", "callbacks", "checkpoint_dir", "session", "verbose"}
OURS = ("checkpoint_dir", "session", "seed")


class _Checkpointed(Mixin):
    """`fit` reuses a finished fit stored under `checkpoint_dir`, or trains and stores its own.

    A fit that fails for its hyperparameters (NaN loss, an error from the model) is stored
    as failed and returned marked with `fit_error_` (scored NaN by `score_or_nan`): sklearn
    would otherwise abort a batch of candidates whose every fit failed. A failure of the
    machine (out of memory, disk full) is not stored: it stops the run as EnvironmentFailure.
    """

    def __init__(
        self,
        *args: Any,
        checkpoint_dir: str | None = None,
        session: str = "",
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)  # named parameters: scikeras passes **kwargs on
        self.checkpoint_dir = checkpoint_dir
        self.session = session
        # The study seed; each fit is seeded from it and the fit's key. (Not scikeras's
        # random_state: that would reseed every fit with one seed, and switch on TensorFlow's
        # op determinism for the whole process.)
        self.seed = seed

    def fit(self, X: Any, y: Any, sample_weight: Any = None, **kwargs: Any) -> Any:
        interrupt.check()
        params = {k: v for k, v in self.get_params().items() if k not in UNKEYED}
        data = arrays_fingerprint(X, y)
        key = fit_key(params, data)
        store = FitStore(self.checkpoint_dir) if self.checkpoint_dir else None
        done = store.get(key) if store else None
        if store is not None and done is not None:
            return self._restore(store, key, done, X, y)
        record = {
            "key": key,
            "params": params,
            "data": data,
            "n_samples": len(X),
            "session": self.session,
            "started_at": now(),
            "started": time.time(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }  # who trained it (Dask)
        start = time.perf_counter()
        seed_keras(self.seed, key)
        try:
            super().fit(X, y, sample_weight=sample_weight, **kwargs)
        except Exception as exc:
            if is_environment_failure(exc):
                raise EnvironmentFailure(f"{type(exc).__name__}: {exc}"[:300]) from exc
            error = f"{type(exc).__name__}: {exc}"[:300]
            record.update(
                status="failed",
                error=error,
                finished_at=now(),
                fit_seconds=time.perf_counter() - start,
            )
            _store(store, key, record)
            self.fit_key_, self.fit_error_ = key, error
            return self
        history = {k: [float(x) for x in v] for k, v in self.history_.items()}
        record.update(
            status="ok",
            error="",
            finished_at=now(),
            fit_seconds=time.perf_counter() - start,
            history=history,
            epochs=len(history.get("loss", [])),
        )
        _store(store, key, record, self.model_.save_weights)
        self.fit_key_, self.fit_error_ = key, ""
        return self

    def _restore(self, store: FitStore, key: str, done: dict[str, Any], X: Any, y: Any) -> Any:
        """A stored fit: its failure, or the fitted state rebuilt from its weights."""
        if done["status"] != "ok":
            self.fit_key_, self.fit_error_ = key, done["error"]
            return self
        self.initialize(X, y)  # encoders, metadata and a model to load the weights into
        with warnings.catch_warnings():  # optimizer state is not needed to predict
            warnings.simplefilter("ignore", UserWarning)
            self.model_.load_weights(store.weights_path(key))
        self.history_ = {k: list(v) for k, v in done["history"].items()}
        self.fit_key_, self.fit_error_ = key, ""  # initialize() resets fitted attributes
        return self


def _store(store: FitStore | None, key: str, record: dict[str, Any], weights: Any = None) -> None:
    """Store a finished fit; a failed write (disk full) is the machine's failure, not the
    trial's, and sklearn must not record it as a failed fit."""
    if store is None:
        return
    try:
        store.put(key, record, weights)
    except (OSError, MemoryError) as exc:
        raise EnvironmentFailure(
            f"cannot store a finished fit: {type(exc).__name__}: {exc}"[:300]
        ) from exc


class CheckpointedClassifier(_Checkpointed, KerasClassifier):
    pass


class CheckpointedRegressor(_Checkpointed, KerasRegressor):
    pass


def plain_estimator(pipeline: Pipeline, callbacks: list[Any] | None = None) -> Pipeline:
    """The fitted pipeline with its checkpointed wrapper swapped for hpsearch's public one
    (same parameters, same fitted state, fresh callbacks): what a user loads and refits."""
    wrapper = pipeline.steps[-1][1]
    cls = KerasClassifier if isinstance(wrapper, KerasClassifier) else KerasRegressor
    params = {k: v for k, v in wrapper.get_params(deep=False).items() if k not in OURS}
    params["callbacks"] = callbacks
    plain = cls(**params)
    names = set(params) | set(OURS) | {"fit_key_", "fit_error_"}
    plain.__dict__.update({k: v for k, v in vars(wrapper).items() if k not in names})
    return Pipeline([*pipeline.steps[:-1], (pipeline.steps[-1][0], plain)])


def failed(estimator: Pipeline) -> str:
    """The error of a fit that failed for its hyperparameters ('' if it trained)."""
    return getattr(estimator.steps[-1][1], "fit_error_", "")


class NanForFailedFits:
    """The study's scorer, NaN for a fit that failed for its hyperparameters."""

    def __init__(self, scoring: str) -> None:
        self.scoring = scoring
        self.scorer = get_scorer(scoring)

    def __call__(self, estimator: Pipeline, X: Any, y: Any) -> float:
        return math.nan if failed(estimator) else self.scorer(estimator, X, y)


def epochs_run(estimator: Pipeline, X: Any, y: Any) -> float:
    """A 'scorer' that reports how many epochs the fold's fit ran (early stopping shows here)."""
    if failed(estimator):
        return math.nan
    return float(len(estimator.steps[-1][1].history_["loss"]))


class _Reporting(Mixin):
    """A search whose `callback` reports trials: never sent to sklearn's workers."""

    callback = ""  # the attribute holding the run's reporting function

    def __getstate__(self) -> dict[str, Any]:
        """sklearn sends the search to its workers (`caller`): without the callback, which
        holds the run's live files and locks (only this process reports trials)."""
        state = dict(super().__getstate__())  # a copy: sklearn hands back our own __dict__
        state.pop(self.callback, None)
        return state


class UniqueRandomizedSearchCV(_Reporting, RandomizedSearchCV):
    """RandomizedSearchCV without repeated draws, evaluated in small batches.

    The one change is sklearn's own seam, `_run_search`: the same seed gives the same
    candidates in the same order (so a resumed search finds its finished fits), and after
    each batch `on_batch(results, indices)` reports the candidates that just finished.
    """

    callback = "on_batch"
    on_batch: Callable[[dict[str, Any], range], None] | None = None
    batch: int = 1  # candidates per batch: enough to keep n_jobs workers busy
    # After each batch sklearn formats cv_results_ anew over every candidate so far (1.7 ms a
    # batch at the start of a run, 21 ms at 2,000 candidates: benchmarks/many_trials_parts.py),
    # which made a run of short trials quadratic. Late in a run short candidates go several to
    # a batch (one more per `grow` done), as long as a batch stays under `report_s` seconds: a
    # finished trial still reaches trials.csv within about that. 0: the batch never grows.
    grow: int = 200
    report_s: float = 1.0

    def _run_search(self, evaluate_candidates: Callable) -> None:
        sklearn_compat.check()
        samples = unique_samples(self.param_distributions, self.n_iter, self.random_state)
        start, seconds = 0, math.inf  # seconds a candidate takes, as measured so far
        while start < len(samples):
            interrupt.check()
            size = self.batch_size(start, seconds)
            began = time.perf_counter()
            results = evaluate_candidates(samples[start : start + size])
            seconds = (time.perf_counter() - began) / size
            if self.on_batch is not None:
                self.on_batch(results, range(start, min(start + size, len(samples))))
            start += size

    def batch_size(self, done: int, seconds: float) -> int:
        """Candidates in the next batch, after `done` of them took `seconds` each."""
        if not self.grow or not math.isfinite(seconds):
            return self.batch
        fit_in_time = int(self.report_s / max(seconds, 1e-9))
        return max(self.batch, min(done // self.grow, fit_in_time))


class UniqueHalvingRandomSearchCV(_Reporting, HalvingRandomSearchCV):
    """HalvingRandomSearchCV over the random search's draws, reporting each rung.

    The candidates (`candidates_`, in trial order) are the first n_candidates distinct draws,
    those of UniqueRandomizedSearchCV: one seed, the same candidates. `on_rung(results,
    indices, survived)` reports the candidates a rung eliminated (survived False: as the next
    rung starts, the moment sklearn has chosen) and, when the search ends, those of the last
    rung (survived True). `indices` index `candidates_`.
    """

    callback = "on_rung"
    on_rung: Callable[[dict[str, Any], list[int], bool], None] | None = None

    def _generate_candidate_params(self) -> list[dict[str, Any]]:
        sklearn_compat.check()
        n = self.n_candidates
        if n == "exhaust":  # sklearn's rule: enough for the last rung to reach max_resources
            n = self.max_resources_ // self.min_resources_
        self.candidates_ = unique_samples(self.param_distributions, n, self.random_state)
        self._index = {canonical(c): i for i, c in enumerate(self.candidates_)}
        return [dict(c) for c in self.candidates_]

    def candidate_of(self, params: dict[str, Any]) -> int:
        """Which of `candidates_` a result's parameters (its rung's resource added) are."""
        return self._index[canonical({k: v for k, v in params.items() if k != self.resource})]

    def _run_search(self, evaluate_candidates: Callable, *, callback_ctx: Any = None) -> None:
        last: dict[str, Any] = {"results": None, "rung": []}

        def evaluate(candidate_params: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
            interrupt.check()
            rung = [self.candidate_of(c) for c in candidate_params]
            if last["results"] is not None and self.on_rung is not None:
                self.on_rung(last["results"], [i for i in last["rung"] if i not in rung], False)
            last["rung"], last["results"] = (
                rung,
                evaluate_candidates(candidate_params, *args, **kwargs),
            )
            return last["results"]

        super()._run_search(evaluate, **sklearn_compat.run_search_kwargs(callback_ctx))
        if last["results"] is not None and self.on_rung is not None:
            self.on_rung(last["results"], last["rung"], True)
