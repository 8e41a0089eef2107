"""The sklearn engine reports each candidate from an index of the fit store that reads each
stored fit once, however many trials came before (not the whole store per trial)."""

from __future__ import annotations

from hpsearch.engines.sklearn.fits import FitIndex, fits_by_candidate
from hpsearch.engines.sklearn.fitstore import RECORD, FitStore
from hpsearch.study.config import parse_study

from test_engines import study_text


def _fit(key: str, units: int, n_samples: int, started: float) -> dict:
    return {
        "key": key,
        "params": {"model__model__n_neurons": units, "model__batch_size": 32},
        "n_samples": n_samples,
        "started": started,
        "status": "ok",
    }


def test_the_index_reads_only_new_fits_and_groups_as_a_full_read(tmp_path):
    study = parse_study(study_text("california_housing", ("sklearn",), "n_neurons = [8, 16]"))
    store = FitStore(tmp_path)
    store.put("a", _fit("a", 8, 80, 2.0))
    store.put("b", _fit("b", 16, 80, 1.0))
    index = FitIndex(store, 100, study)
    first = index()
    assert sorted(len(v) for v in first.values()) == [1, 1]
    (tmp_path / "a" / RECORD).write_text("not read again")  # a full re-read would choke here
    store.put("c", _fit("c", 8, 80, 1.0))
    store.put("d", _fit("d", 8, 100, 0.5))  # the refit: all rows
    store.put(".e.tmp", _fit("e", 8, 80, 0.0))  # a temporary folder: not a fit
    groups = index()
    eight = next(g for g in groups.values() if g[0]["params"]["model__model__n_neurons"] == 8)
    assert [f["key"] for f in eight] == ["c", "a", "d"]  # folds by start, the refit last
    assert [f["refit"] for f in eight] == [False, False, True]
    store.put("a", _fit("a", 8, 80, 2.0))  # whole again: a full read agrees
    assert fits_by_candidate(store, 100, study) == groups
