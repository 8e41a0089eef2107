"""scikeras wrappers whose fits are checkpointed in a `FitStore` (what makes resume work)."""
from __future__ import annotations

import time
import warnings
from typing import Any

from hpsearch import interrupt
from hpsearch.checkpoint import FitStore, fingerprint, fit_key
from hpsearch.files import now
from hpsearch.wrappers import KerasClassifier, KerasRegressor

# Parameters that do not change what a fit learns, so they stay out of its key.
UNKEYED = {"model", "callbacks", "checkpoint_dir", "verbose"}


class CachedFitError(RuntimeError):
    """A fit that failed before the interruption fails again, without retraining."""


class _Checkpointed:
    """`fit` reuses a finished fit stored under the `checkpoint_dir` parameter, or stores its own."""

    def __init__(self, *args: Any, checkpoint_dir: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # a named parameter: scikeras passes **kwargs to the model
        self.checkpoint_dir = checkpoint_dir

    def fit(self, X: Any, y: Any, sample_weight: Any = None, **kwargs: Any) -> Any:
        interrupt.check()
        directory = self.checkpoint_dir
        if not directory:
            return super().fit(X, y, sample_weight=sample_weight, **kwargs)
        store = FitStore(directory)
        params = {k: v for k, v in self.get_params().items() if k not in UNKEYED}
        data = fingerprint(X, y)
        key = fit_key(params, data)
        self.fit_key_ = key
        done = store.get(key)
        if done is not None:
            if done["status"] != "ok":
                raise CachedFitError(done["error"])
            self.initialize(X, y)  # encoders, metadata and a model with the stored weights
            with warnings.catch_warnings():  # optimizer state is not needed to predict
                warnings.simplefilter("ignore", UserWarning)
                self.model_.load_weights(store.weights_path(key))
            self.history_ = {k: list(v) for k, v in done["history"].items()}
            self.fit_key_ = key  # initialize() resets fitted attributes
            return self
        record = {"key": key, "params": params, "data": data, "n_samples": len(X),
                  "started_at": now(), "started": time.time()}
        start = time.perf_counter()
        try:
            super().fit(X, y, sample_weight=sample_weight, **kwargs)
        except Exception as exc:
            record.update(status="failed", error=f"{type(exc).__name__}: {exc}"[:300],
                          finished_at=now(), fit_seconds=time.perf_counter() - start)
            store.put(key, record)
            raise
        history = {k: [float(x) for x in v] for k, v in self.history_.items()}
        record.update(status="ok", error="", finished_at=now(),
                      fit_seconds=time.perf_counter() - start, history=history,
                      epochs=len(history.get("loss", [])))
        store.put(key, record, self.model_.save_weights)
        return self


class CheckpointedClassifier(_Checkpointed, KerasClassifier):
    pass


class CheckpointedRegressor(_Checkpointed, KerasRegressor):
    pass
