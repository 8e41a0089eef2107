"""Optuna's storage cost per trial: a run's own SQLite file against a journal file.

One trial's storage work as hpsearch's Optuna engine does it (ask, 6 parameters drawn, 7 user
attributes, tell), 100 trials on each storage in a temporary folder, random sampler.

    python benchmarks/optuna_storage.py [--trials 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend


def per_trial_ms(storage: object, trials: int) -> float:
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(0))
    start = time.perf_counter()
    for _ in range(trials):
        trial = study.ask()
        for k in range(6):
            trial.suggest_float(f"x{k}", 0, 1)
        for k in range(7):
            trial.set_user_attr(f"a{k}", [1, 2, 3])
        study.tell(trial, 0.5)
    return 1000 * (time.perf_counter() - start) / trials


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100)
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = per_trial_ms(f"sqlite:///{Path(tmp) / 'optuna.db'}", args.trials)
        journal = per_trial_ms(JournalStorage(JournalFileBackend(f"{tmp}/optuna.log")), args.trials)
    print(f"storage work a trial, {args.trials} trials (ask, 6 parameters, 7 attributes, tell):")
    print(
        f"  sqlite   {sqlite:6.2f} ms\n  journal  {journal:6.2f} ms\n  ratio    {sqlite / journal:6.1f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
