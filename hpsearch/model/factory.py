"""The one place the engines get their models from: hpsearch's MLP (`mlp.build_model`) unless
the study names its own factory (`[model] factory`), which is given only the context
arguments it declares (`study.factory.CONTEXT`).

Everything is looked up when a model is built, never bound at import: tests swap
`mlp.build_model`, and scikit-learn's workers (loky, Dask) import the factory themselves.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import keras

from hpsearch.model import mlp
from hpsearch.study.factory import CONTEXT, SCIKERAS_OWN, import_factory

if TYPE_CHECKING:
    from hpsearch.study.config import Study


def context(
    task: str, input_shape: tuple[int, ...], n_outputs: int, meta: dict[str, Any]
) -> dict[str, Any]:
    """Every context argument a factory may declare. `n_outputs`: the head's units (the
    classes for classification, the target's columns for regression)."""
    return {
        "n_features": math.prod(input_shape),
        "input_shape": tuple(int(d) for d in input_shape),
        "n_classes": n_outputs if task == "classification" else None,
        "n_outputs": n_outputs,
        "task": task,
        "meta": meta,
    }


def call_factory(
    spec: str, path: str | None, params: dict[str, Any], ctx: dict[str, Any]
) -> keras.Model:
    """The factory `spec` called with `params` and the context it declares; its result checked
    (a trial whose factory returns no compiled model fails with that reason)."""
    function = import_factory(spec, path)
    names = inspect.signature(function).parameters
    given = {k: ctx[k] for k in (*CONTEXT, *SCIKERAS_OWN) if k in names and k in ctx}
    model = function(**params, **given)
    if not isinstance(model, keras.Model):
        raise TypeError(f"{spec} returned {type(model).__name__}, not a Keras model")
    if not model.compiled:
        raise TypeError(f"{spec} returned a model that is not compiled (call model.compile)")
    return model


def build(
    study: Study, params: dict[str, Any], input_shape: tuple[int, ...], n_outputs: int
) -> keras.Model:
    """A model of `study` with a trial's build parameters, for data whose samples have
    `input_shape` (after preprocessing) and `n_outputs` head units (Keras Tuner, Optuna)."""
    if not study.factory:
        # mlp.build_model looked up per call, not bound at import: tests swap it
        return mlp.build_model(
            **params,
            n_features=math.prod(input_shape),
            n_classes=n_outputs if study.task == "classification" else None,
        )
    meta: dict[str, Any] = {
        "n_features_in_": math.prod(input_shape),
        "X_shape_": (None, *input_shape),
        "n_outputs_": 1 if study.task == "classification" else n_outputs,
        "target_type_": "multiclass" if study.task == "classification" else "continuous",
        "task": study.task,
    }
    if study.task == "classification":
        meta["n_classes_"] = n_outputs
    ctx = context(study.task, input_shape, n_outputs, meta)
    return call_factory(study.factory, study.factory_path, params, ctx)


def scikeras_model(study: Study) -> Callable[..., keras.Model]:
    """The `model` of the scikeras wrappers: `mlp.build_model` (as it always was), or the
    study's factory behind `from_meta` (a partial of strings: it pickles and deep-copies)."""
    if not study.factory:
        return mlp.build_model
    return functools.partial(
        from_meta, spec=study.factory, path=study.factory_path, task=study.task
    )


def from_meta(
    *,
    spec: str,
    path: str | None,
    task: str,
    meta: dict[str, Any],
    compile_kwargs: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    **build_params: Any,
) -> keras.Model:
    """scikeras's call (`meta`, its compile and wrapper parameters, the routed `model__`
    ones) turned into the factory's: context from scikeras's meta."""
    n_classes = meta.get("n_classes_") if task == "classification" else None
    n_outputs = n_classes or meta.get("n_outputs_") or 1
    ctx = context(task, tuple(meta["X_shape_"][1:]), n_outputs, {**meta, "task": task})
    ctx.update(compile_kwargs=compile_kwargs, params=params)
    return call_factory(spec, path, build_params, ctx)
