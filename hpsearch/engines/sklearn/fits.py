"""A scikit-learn search's fits, shared by the random search (randomized.py) and
successive halving (halving.py): the pipeline's parameter names, a candidate's key in the fit
store, its fits grouped, and where the fits run."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hpsearch.engines.sklearn import jobs
from hpsearch.runtime.threads import usable_cores
from hpsearch.study.config import TRAINING_PARAMS

if TYPE_CHECKING:
    from hpsearch.engines.sklearn.fitstore import FitStore
    from hpsearch.study.config import Study


class SearchEngine(Protocol):
    """What the searches ask of the sklearn engine (halving.py stays below it)."""

    @property
    def name(self) -> str: ...

    def metric(self, study: Study) -> tuple[str, str]: ...
    def scoring(self, study: Study) -> str: ...
    def folds(self, study: Study) -> int: ...
    def random_state(self, study: Study) -> int: ...


class Backend(Protocol):
    """The settings that say where fits run."""

    backend: str
    n_jobs: int | str | None  # workers, -1 (every core) or "auto" (jobs.py)


STEP = "model__"  # the pipeline step holding the wrapper
PREFIX = STEP + "model__"  # ... then scikeras's routing to build_model
# sklearn scorers that make sense for each task (others would score NaN on every fit).


def pipeline_params(params: dict[str, Any]) -> dict[str, Any]:
    """A candidate's parameters as the pipeline's: build_model's routed through the wrapper,
    training ones (batch_size) the wrapper's own."""

    return {(STEP if k in TRAINING_PARAMS else PREFIX) + k: v for k, v in params.items()}


def _wrapper_view(params: dict[str, Any], study: Study) -> dict[str, Any]:
    """What identifies a candidate among a fit's wrapper parameters (its key names)."""

    view = {k: v for k, v in params.items() if k.startswith(STEP)}
    view.update({k: params.get(k, getattr(study, k)) for k in TRAINING_PARAMS})
    return view


def canonical_candidate(params: dict[str, Any], study: Study) -> str:
    from hpsearch.files import canonical  # lazy: loads pandas

    return canonical(
        _wrapper_view({k.removeprefix(STEP): v for k, v in pipeline_params(params).items()}, study)
    )


def fits_by_candidate(store: FitStore, n_all: int, study: Study) -> dict[str, list[dict[str, Any]]]:
    """Fit records grouped by candidate (fold fits in start order, the refit last)."""
    return FitIndex(store, n_all, study)()


class FitIndex:
    """`fits_by_candidate`, kept up to date: each call reads only the entries stored since the
    last one. Reporting each trial as it ends re-read the whole store before: a cost that grew
    with the run (benchmarks/many_trials.py: 58 ms a trial at first, 173 ms by trial 2,000)."""

    def __init__(self, store: FitStore, n_all: int, study: Study) -> None:
        self.store, self.n_all, self.study = store, n_all, study
        self.seen: set[str] = set()
        self.groups: dict[str, list[dict[str, Any]]] = {}

    def __call__(self) -> dict[str, list[dict[str, Any]]]:
        from hpsearch.files import canonical  # lazy: loads pandas

        changed = set()
        for fit in self.store.new_records(self.seen):
            fit["refit"] = fit["n_samples"] == self.n_all  # CV folds always hold fewer rows
            group = canonical(_wrapper_view(fit["params"], self.study))
            self.groups.setdefault(group, []).append(fit)
            changed.add(group)
        for group in changed:
            self.groups[group].sort(key=lambda f: (f["refit"], f["started"]))
        return self.groups


def record_params(raw: dict[str, Any]) -> dict[str, Any]:
    """A candidate's pipeline parameters as a trial's (plain values, no prefixes)."""
    from hpsearch.files import plain  # lazy: loads pandas

    return {k.removeprefix(PREFIX).removeprefix(STEP): plain(v) for k, v in raw.items()}


@contextlib.contextmanager
def fit_slots(
    settings: Backend,
    store_dir: Path,
    X: Any,
    y: Any,
    tasks: int,
    chose: Callable[[str, Any, str], None],
    factory: str = "",
    epochs: int = 1,
) -> Iterator[int]:
    """Where a search's fits run; yields its n_jobs. loky (the default): that many processes
    here (`"auto"`: as jobs.py decides for `tasks` fits at a time, told to `chose`), one
    thread each when more than one; one: the fits train in this process. dask: every
    thread of a Dask cluster's workers (dask_backend.py), X and y sent once; each fit is
    still checkpointed, by the worker that trains it, in the (shared) fit store. Live
    reports and the refit of the best stay in this process. `epochs`: a fit's most, for the
    work "auto" weighs. `factory`: the study's model factory; one defined in `__main__` (a
    script, a notebook) keeps "auto" to this process, as workers cannot import it."""
    if settings.backend == "dask":
        from hpsearch.engines.sklearn.dask_backend import parallel  # lazy: loads Dask, joblib

        with parallel(settings, store_dir, X, y) as threads:
            yield threads
        return
    if settings.n_jobs == "auto" and factory.startswith("__main__:"):
        n = 1
        chose("n_jobs", n, f"the model factory {factory} is not importable by worker processes")
    elif settings.n_jobs == "auto":
        work = len(X) * epochs * tasks
        n, why = jobs.decide(jobs.measure(), jobs.data_bytes(X, y), tasks, work)
        chose("n_jobs", n, why)
    else:
        n = n_workers(settings.n_jobs)
    if n == 1:  # in this process, as it is (its frameworks may already be loaded)
        yield 1
        return
    import joblib  # lazy: loads joblib

    from hpsearch.compat.joblib import pinned_loky

    backend = pinned_loky()  # None: joblib's own loky workers (compat/joblib.py's fallback)
    with joblib.parallel_config(backend=backend) if backend else contextlib.nullcontext():
        yield n


def n_workers(n_jobs: int | str | None) -> int:
    """Workers for an n_jobs given as a number (-1: every usable core)."""
    if n_jobs == -1:
        return usable_cores()
    return max(1, n_jobs) if isinstance(n_jobs, int) else 1
