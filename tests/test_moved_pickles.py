"""Best models saved before hpsearch's modules moved into packages still load with load_best."""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline

from hpsearch.data import encoding
from hpsearch.model import mlp, wrappers
from hpsearch.report import best
from hpsearch.report.best import load_best


def _as_before(monkeypatch: pytest.MonkeyPatch, module, old: str, *names: str) -> None:
    """Make pickle name `names` of `module` under their old module path `old`."""
    monkeypatch.setitem(sys.modules, old, module)
    for name in names:
        monkeypatch.setattr(getattr(module, name), "__module__", old)


def test_a_pipeline_pickled_under_the_old_module_paths_loads(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)).astype(np.float32), rng.normal(size=40).astype(np.float32)
    model = make_pipeline(
        encoding.PiecewiseLinearEncoder(n_bins=4),
        wrappers.KerasRegressor(mlp.build_model, model__n_hidden=1, epochs=1, verbose=0),
    ).fit(x, y)
    with monkeypatch.context() as old:
        _as_before(old, wrappers, "hpsearch.wrappers", "KerasRegressor")
        _as_before(old, encoding, "hpsearch.encoding", "PiecewiseLinearEncoder")
        _as_before(old, mlp, "hpsearch.model", "build_model")
        data = pickle.dumps(model)
    for old_path in ("hpsearch.wrappers", "hpsearch.encoding"):
        assert old_path.encode() in data  # the pickle names the old places
        assert old_path not in sys.modules  # ...which no longer exist
    (tmp_path / "best").mkdir()
    (tmp_path / "best" / "sklearn.pkl").write_bytes(data)
    pd.DataFrame([{"engine": "sklearn", "best_val_score": 0.5}]).to_csv(
        tmp_path / "summary.csv", index=False
    )
    loaded = load_best(tmp_path)
    assert type(loaded[-1]) is wrappers.KerasRegressor
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-5)
    assert set(best.MOVED) >= {"hpsearch.wrappers", "hpsearch.encoding", "hpsearch.model"}
