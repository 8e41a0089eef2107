"""The random search's batches: one candidate at a time while candidates are long or few, and
several late in a run of short ones (sklearn re-formats every result after each batch), never
more than fit in `report_s`; the results the same either way."""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import loguniform
from sklearn.linear_model import Ridge

from hpsearch.engines.sklearn.fitcache import UniqueRandomizedSearchCV


def test_the_batch_grows_with_the_run_only_for_short_candidates() -> None:
    search = UniqueRandomizedSearchCV(Ridge(), {"alpha": loguniform(1e-3, 1e3)}, n_iter=10)
    assert search.batch_size(0, math.inf) == 1  # nothing measured yet
    assert search.batch_size(150, 0.01) == 1  # early in the run
    assert search.batch_size(2000, 0.01) == 10  # one more a 200 done
    assert search.batch_size(2000, 0.4) == 2  # only what fits in a second
    assert search.batch_size(2000, 5.0) == 1  # long candidates: each reported at once
    search.batch = 4  # enough to keep the workers busy: never fewer
    assert search.batch_size(2000, 5.0) == 4 and search.batch_size(2000, 0.01) == 10
    search.grow = 0
    assert search.batch_size(2000, 0.01) == 4


def test_grown_batches_give_the_same_results_and_report_every_candidate() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X @ [1.0, -2.0, 0.5] + rng.normal(scale=0.1, size=60)

    def run(grow: int) -> tuple[dict, list[range]]:
        search = UniqueRandomizedSearchCV(
            Ridge(), {"alpha": loguniform(1e-3, 1e3)}, n_iter=40, cv=3, random_state=1
        )
        search.grow = grow
        batches: list[range] = []
        search.on_batch = lambda results, indices: batches.append(indices)
        search.fit(X, y)
        return search.cv_results_, batches

    grown, batches = run(grow=5)
    one_by_one, singles = run(grow=0)
    assert [len(b) for b in singles] == [1] * 40
    assert max(len(b) for b in batches) > 1  # these candidates take milliseconds
    assert [i for b in batches for i in b] == list(range(40))  # each reported once, in order
    assert grown["params"] == one_by_one["params"]
    np.testing.assert_allclose(grown["mean_test_score"], one_by_one["mean_test_score"])
