"""Optuna's private parts: a study's storage and a trial's id (to fail a lost trial, and to
train a cut-off trial again under its own number), the heartbeat test, and the Hyperband
pruner's view of a study.

Version guard: an error outside SUPPORTED for the storage, trial-id and heartbeat uses (no
public way to do them; a changed Optuna could fail or re-run the wrong trials), a fallback
for `_filter_study`: without it the sampler replays over the whole study, which changes
only which trials a resumed Hyperband run's sampler sees (the run still goes on).
"""

from __future__ import annotations

from typing import Any

from hpsearch.compat import Span, require, supported

DIST = "optuna"
SUPPORTED: Span = ("4.0", "5.1")  # pyproject asks >= 4; 5.1 tested


def check() -> None:
    require(DIST, SUPPORTED, "Optuna integration (shared storage, resumed trials)")


def heartbeat_enabled(ostudy: Any) -> bool:
    """Does the study's storage fail stale trials by Optuna's own heartbeats?"""
    check()
    from optuna.storages._heartbeat import is_heartbeat_enabled

    enabled: bool = is_heartbeat_enabled(ostudy._storage)
    return enabled


def fail_trial(ostudy: Any, trial: Any) -> None:
    """Mark a running `trial` (a FrozenTrial) failed in the study's storage."""
    check()
    from optuna.trial import TrialState

    ostudy._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)


def live_trial(ostudy: Any, trial: Any) -> Any:
    """A `optuna.trial.Trial` for a stored `trial` (a FrozenTrial) still running: it is
    trained again under its own number and parameters."""
    check()
    import optuna

    return optuna.trial.Trial(ostudy, trial._trial_id)


def pruner_view(ostudy: Any, trial: Any) -> Any:
    """The study as the pruner shows it to the sampler for `trial` (a Hyperband pruner: its
    bracket's trials only); the whole study where Optuna lacks `_filter_study`."""
    from optuna import pruners

    if supported(DIST, SUPPORTED) and hasattr(pruners, "_filter_study"):
        return pruners._filter_study(ostudy, trial)
    return ostudy
