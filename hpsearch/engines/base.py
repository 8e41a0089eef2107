"""The engine seam: what every engine declares, what it is given, and what it returns.

An engine is one module under `hpsearch/engines/` holding one `Engine` subclass and one
line in the registry (`hpsearch/engines/__init__.py`). It declares its study-file section
(a frozen settings dataclass, the TOML types, the checks), the metric it selects on and
which way is better, how many trials it plans, and `run(ctx)`. Everything shared (data,
scaling, test scoring, live tables, the best model on disk, timing) is the runner's.

This module is light (no Keras): `validate` and `--help` load engines through it.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from hpsearch.errors import Found, InputError
from hpsearch.study.trials import MAXIMIZE, MINIMIZE

if TYPE_CHECKING:
    from hpsearch.data import Dataset
    from hpsearch.study.config import Study
    from hpsearch.study.schema import Checker
    from hpsearch.study.trials import TrialRecord


@dataclass
class EngineContext:
    """What a run hands an engine: the study, the data without its test set, a state folder."""

    engine: str
    study: Study
    data: Dataset  # x_test / y_test are None: engines select on validation data only
    workdir: Path  # the engine's state (checkpoints); dropped when a run finishes
    on_trial: Callable[[TrialRecord], None]  # call as soon as each trial finishes
    session: str = ""  # id of this process's session, stored with every fit it trains
    verbose: int = 0
    worker: str = ""  # a `worker` process's name; "" in the run's own process
    # a finished trial's per-epoch rows (history_rows), before its record: histories.csv and
    # the learning curves of `serve` follow live
    on_history: Callable[[TrialRecord, list[dict[str, Any]]], None] | None = None
    # a setting the engine decided at run time (sklearn's n_jobs = "auto"), its value and
    # why: the run logs it once and keeps it in run.json
    on_choice: Callable[[str, Any, str], None] | None = None

    def chose(self, setting: str, value: Any, why: str) -> None:
        """Tell the run what the engine decided for `setting`, and why."""
        if self.on_choice is not None:
            self.on_choice(setting, value, why)

    def report(self, record: TrialRecord, history: list[dict[str, Any]] | None = None) -> None:
        """A finished trial and, when known, its fits' per-epoch rows."""
        if history is not None and self.on_history is not None:
            self.on_history(record, history)
        self.on_trial(record)

    @property
    def settings(self) -> Any:
        return self.study.settings[self.engine]


@dataclass
class EngineResult:
    """Every trial, the best one, and the best model fitted and ready to `predict`."""

    engine: str
    records: list[TrialRecord]
    best: TrialRecord | None
    model: Any = None  # a fitted scikit-learn estimator (pipeline), or None
    histories: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""  # an engine-level failure after the trials (e.g. the final refit)
    test: dict[str, float] = field(default_factory=dict)  # filled in by the runner
    seconds: float = math.nan  # filled in by the runner


@dataclass(frozen=True)
class Cluster:
    """An engine's distributed mode as the command line, `worker` and `serve` see it."""

    flag: str  # its option on `run` and `resume` (and `worker`, if workers join)
    metavar: str
    help: str
    setting: str  # the engine's setting that holds the address
    check: Callable[[Checker, str], Any]  # raises `c.fail(...)` on a bad address
    extra: dict[str, Any] = field(default_factory=dict)  # settings the option also sets
    workers: bool = False  # `worker` processes join it at that address
    by_port: bool = False  # a worker's address is the run's if the ports match
    # settings a submitted study may not use unless `serve --allow-cluster`: (key, the
    # refused value, or None for any value but the default)
    refused: tuple[tuple[str, Any], ...] = ()

    def overrides(self, address: str) -> dict[str, Any]:
        """The engine's settings that the option gives."""
        return {**self.extra, self.setting: address}

    def same(self, run_address: str, worker_address: str) -> bool:
        """Is a worker's address the run's? (A chief listens on 0.0.0.0:PORT; a worker
        reaches it at HOST:PORT.)"""
        if self.by_port:
            return run_address.rpartition(":")[2] == worker_address.rpartition(":")[2]
        return run_address == worker_address


class Engine:
    """Base class: subclasses set the class attributes and implement `metric` and `run`."""

    name: ClassVar[str]
    rank: ClassVar[int] = 100  # engines are listed in this order (then by name)
    default: ClassVar[bool] = False  # run by a study that names no engines
    colour: ClassVar[str] = "#7f7f7f"  # in plots and on the pages
    cluster: ClassVar[Cluster | None] = None  # its distributed mode, if it has one
    settings_class: ClassVar[type]  # a frozen dataclass with a default for every field
    schema: ClassVar[dict[str, Any]]  # TOML key -> type (or tuple of types)
    # Settings that change speed, not results: a resume may change them.
    resume_free: ClassVar[tuple[str, ...]] = ()
    # The setting that counts its trials: `hpsearch.search(n_trials=...)` sets it.
    trials_setting: ClassVar[str | None] = None

    def parse(self, c: Checker, raw: dict[str, Any], study: Study) -> Any:
        """The settings of this engine's section `raw` (already type-checked against `schema`)
        for `study`, validated but for the engines' settings."""
        self.check(c, raw, study)
        return self.settings_class(
            **{k: float(v) if self.schema[k] is float else v for k, v in raw.items()}
        )

    def check(self, c: Checker, raw: dict[str, Any], study: Study) -> None:
        """Value checks beyond types: raise `c.fail(key, expected, got)`."""

    def metric(self, study: Study) -> tuple[str, str]:
        """(metric the trials are scored and selected on, MAXIMIZE or MINIMIZE)."""
        raise NotImplementedError

    def planned(self, study: Study) -> int | None:
        """Trials this engine plans for `study` (None when not known up front)."""
        return None

    def resume_view(self, settings: Any) -> Any:
        """`settings` with the fields a resume may change blanked, to compare two runs."""
        return dataclasses.replace(settings, **{k: None for k in self.resume_free})

    def run(self, ctx: EngineContext) -> EngineResult:
        """Search: call `ctx.report(record, history)` as each trial finishes, keep state under
        `ctx.workdir` so that a second call resumes, and return every record, the best one
        and its model fitted as a scikit-learn estimator (None if there is none)."""
        raise NotImplementedError

    def work(self, ctx: EngineContext) -> int:
        """As a `worker` of a running run (its data, its state folder): train trials until
        the run has no more to give, and return how many this process trained."""

        raise InputError(
            f"the {self.name} engine has no worker processes (workers serve keras_tuner and optuna)"
        )

    def trial_model(self, study: Study, workdir: Path, record: TrialRecord, data: Dataset) -> Any:
        """Trial `record`'s own fitted model as a scikit-learn estimator, rebuilt from what the
        run kept in `workdir` (its state folder, kept by `--keep-state`); None where this
        engine keeps no model per trial. `data`: the run's data (train and validation used)."""
        return None


class KerasObjectiveEngine(Engine):
    """An engine that selects on a Keras validation metric (`objective` in its section).

    For hpsearch's MLP the objectives form a closed set, so each one's direction is declared,
    not guessed. A study's own factory may compile any metric: its `val_NAME` is an objective
    too, with its `direction` given in the section (never guessed either).
    """

    # The first is the default; RMSE first for regression, so engines report the same unit.
    OBJECTIVES: ClassVar[dict[str, tuple[str, ...]]] = {
        "classification": ("val_accuracy", "val_loss"),
        "regression": ("val_root_mean_squared_error", "val_loss"),
    }
    DIRECTIONS: ClassVar[dict[str, str]] = {
        "val_accuracy": MAXIMIZE,
        "val_loss": MINIMIZE,
        "val_root_mean_squared_error": MINIMIZE,
    }

    def check_objective(self, c: Checker, raw: dict[str, Any], study: Study) -> None:
        """`objective` and `direction`: a declared objective (its direction, if given, must be
        its own), or, with a model factory, any `val_NAME` with its direction."""
        objective = raw.get("objective", self.OBJECTIVES[study.task][0])
        direction = raw.get("direction")
        if direction is not None:
            c.one_of(f"{self.name}.direction", direction, (MAXIMIZE, MINIMIZE))
        if objective in self.OBJECTIVES[study.task]:
            if direction is not None and direction != self.DIRECTIONS[objective]:
                raise c.fail(
                    f"{self.name}.direction",
                    f"{self.DIRECTIONS[objective]} for {objective}",
                    direction,
                )
        elif not study.factory:  # hpsearch's MLP compiles only these metrics
            c.one_of(f"{self.name}.objective", objective, self.OBJECTIVES[study.task])
        elif not re.fullmatch(r"val_\w+", objective):
            raise c.fail(
                f"{self.name}.objective",
                "a validation metric val_NAME (NAME: a compiled metric)",
                objective,
            )
        elif direction is None:
            raise c.fail(
                f"{self.name}.direction",
                f"maximize or minimize (the direction of {objective} is not known)",
                Found("nothing"),
            )

    def objective(self, study: Study) -> str:
        return study.settings[self.name].objective or self.OBJECTIVES[study.task][0]

    def metric(self, study: Study) -> tuple[str, str]:
        objective = self.objective(study)
        return objective, self.DIRECTIONS.get(objective) or study.settings[self.name].direction
