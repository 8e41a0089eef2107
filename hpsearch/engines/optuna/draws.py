"""The run's Optuna sampler kept across sessions, so that a resumed run draws what an
uninterrupted one would have.

A new sampler seeded with the study's seed would start its draws over: after a resume the
first trials' parameters came again. Optuna documents pickling the sampler to resume a study;
the run's own process keeps it after each trial's draws, with the number of that trial. A
trial cut off by a kill between two of its draws is drawn again from the state before it,
which gives back the draws it had made and continues them as the uninterrupted run did.
Workers draw their own trials and keep nothing.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hpsearch.compat import optuna as optuna_compat
from hpsearch.files import atomic_write

FILE = "sampler.pkl"  # (number of the last trial drawn, the sampler), in the engine's folder


class Draws:
    """The sampler of one process and the number of the last trial it drew."""

    def __init__(
        self, workdir: Path, keep: bool, make: Callable[..., Any], seed: int, fresh_seed: int
    ) -> None:
        """`keep`: the run's own process (saves and restores); `make(seed)`: a new sampler,
        seeded with `fresh_seed` where a kept state cannot be read (the study's seed would
        repeat the draws made with it)."""
        self.path, self.keep, self.last = workdir / FILE, keep, -1
        if not (keep and self.path.is_file()):
            self.sampler = make(seed=seed)
            return
        try:
            self.last, self.sampler = pickle.loads(self.path.read_bytes())
        except Exception:  # e.g. kept by another Optuna version
            self.sampler = None
        if self.sampler is None:
            self.sampler = make(seed=fresh_seed)

    def draw(
        self, trial: Any, ostudy: Any, names: list[str], suggest: Callable[[Any], dict[str, Any]]
    ) -> dict[str, Any]:
        """`suggest(trial)` (drawing `names` in that order), then keep the sampler. A trial
        drawn already in this state (cut off after its draws) reads its parameters back; one
        cut off during its draws first replays the draws it made, so the sampler's generators
        stand where the uninterrupted run's did."""
        if trial.number > self.last and trial.params:
            self._replay(trial, ostudy, names)
        params = suggest(trial)
        if self.keep and trial.number > self.last:
            self.last = trial.number
            try:
                data = pickle.dumps((self.last, self.sampler))
            except Exception:  # NSGA-II holds a lock: a resume draws with a new seed instead
                data = pickle.dumps((self.last, None))
            atomic_write(self.path, lambda tmp: tmp.write_bytes(data))
        return params

    def _replay(self, trial: Any, ostudy: Any, names: list[str]) -> None:
        """Draw again, in their order, the parameters `trial` drew before it was cut off (the
        same values: the same state and history), to advance the sampler past them."""

        frozen = next(t for t in ostudy.get_trials(deepcopy=False) if t.number == trial.number)
        # a Hyperband pruner shows the sampler only its bracket's trials, as Trial does
        study = optuna_compat.pruner_view(ostudy, frozen)
        relative = trial.relative_params  # first, as the first suggestion did
        for name in (n for n in names if n in frozen.distributions):
            distribution = frozen.distributions[name]
            if name not in relative and not distribution.single():
                self.sampler.sample_independent(study, frozen, name, distribution)
