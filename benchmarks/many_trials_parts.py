"""Where many_trials.py's own time goes: named functions wrapped and timed during its run.

For each wrapped function: calls, milliseconds a trial, and the median call over the first
and the last 10% of calls (a cost that grows with the run shows there).

    python benchmarks/many_trials_parts.py --trials 300 --engines optuna
"""

from __future__ import annotations

import argparse
import collections
import functools
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import many_trials  # noqa: E402  (sets the backend before Keras loads)

TIMES: dict[str, list[float]] = collections.defaultdict(list)


def wrap(owner: Any, name: str, label: str) -> None:
    method = getattr(owner, name)

    @functools.wraps(method)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            TIMES[label].append(time.perf_counter() - start)

    setattr(owner, name, timed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--engines", nargs="+", default=["optuna"])
    args = parser.parse_args(argv)

    import optuna.study
    import optuna.trial
    from keras_tuner.src.engine import oracle
    from sklearn.model_selection._search import BaseSearchCV

    from hpsearch.engines import common
    from hpsearch.engines.optuna import draws
    from hpsearch.rundir import live

    wrap(common, "collect_garbage", "hpsearch collect_garbage")
    wrap(live.LiveRun, "on_trial", "hpsearch LiveRun.on_trial")
    wrap(live.LiveRun, "on_history", "hpsearch LiveRun.on_history")
    wrap(draws.Draws, "draw", "hpsearch optuna Draws.draw")
    for name in ("ask", "tell"):
        wrap(optuna.study.Study, name, f"optuna Study.{name}")
    for name in ("set_user_attr", "report"):
        wrap(optuna.trial.Trial, name, f"optuna Trial.{name}")
    wrap(oracle.Oracle, "save", "keras_tuner Oracle.save")
    wrap(BaseSearchCV, "_format_results", "sklearn BaseSearchCV._format_results")
    many_trials.main(["--trials", str(args.trials), "--no-speed", "--engines", *args.engines])
    trials = args.trials * len(args.engines)
    print(f"\n{'function':40s} {'calls':>6s} {'ms/trial':>9s} {'first10%':>9s} {'last10%':>8s}")
    for label, times in TIMES.items():
        n = max(1, len(times) // 10)
        first, last = statistics.median(times[:n]), statistics.median(times[-n:])
        print(
            f"{label:40s} {len(times):6d} {1000 * sum(times) / trials:9.2f} "
            f"{1000 * first:9.2f} {1000 * last:8.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
