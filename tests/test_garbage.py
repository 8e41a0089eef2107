"""A trial's model is freed before the next trial builds its own, although collections walk
only what was made since the last one (the rest is frozen), and what a frozen object drops
later is freed by the next full collection."""

from __future__ import annotations

import gc
import weakref

import keras
import pytest

from hpsearch.engines import common


def _model() -> keras.Model:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model


@pytest.fixture
def no_automatic_collections():
    gc.disable()  # only the collections under test, not the interpreter's own
    yield
    gc.enable()


def test_the_previous_fit_is_freed_and_frozen_leftovers_at_the_full_collection(
    monkeypatch, no_automatic_collections
):
    common.collect_garbage()  # everything so far frozen
    model = _model()
    dropped = weakref.ref(model)
    del model
    assert dropped() is not None  # Keras models hold cycles: refcounting alone keeps them
    common.seed_keras(0, "trial:1")
    assert dropped() is None

    kept = _model()
    survivor = weakref.ref(kept)
    monkeypatch.setattr(common, "FULL_PACE", 10**9)  # no full collection now
    common.collect_garbage()  # `kept` is alive: frozen with the rest
    assert gc.get_freeze_count() > 0
    del kept
    for _ in range(3):
        common.collect_garbage()
    assert survivor() is not None  # young collections do not walk frozen objects
    monkeypatch.setattr(common, "FULL_PACE", 0)  # its time has come: a full collection
    common.collect_garbage()
    assert survivor() is None
