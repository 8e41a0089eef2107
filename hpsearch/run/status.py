"""`hpsearch status`: where runs stand, read from their status.json (never from engine state)."""

from __future__ import annotations

from typing import Any


def _score(value: Any) -> str:
    return "" if value is None else f"{value:.4g}"


def format_status(status: dict[str, Any]) -> str:
    """A few lines: the run and its state, then one row per engine."""
    lines = [
        f"{status.get('run_dir')}: {status['state']}"
        + (f" ({status['message']})" if status.get("message") else ""),
        f"  study {status.get('study')} · dataset {status.get('dataset')} · started "
        f"{status.get('started_at')} · updated {status.get('updated_at')}"
        + (
            f" · {status['wall_seconds']:.0f} s in all"
            if isinstance(status.get("wall_seconds"), (int, float))
            else ""
        )
        + f" · pid {status.get('pid')} on {status.get('host')}",
    ]
    rows = [("engine", "state", "trials", "failed", "pruned", "metric", "best", "best trial")]
    engines = status.get("engines", {})
    for name in status.get("engine_order") or list(engines):
        e = engines.get(name, {})
        planned = e.get("trials_planned")
        done = f"{e.get('trials_done', 0)}/{planned if planned is not None else '?'}"
        better = "lower" if e.get("direction") == "minimize" else "higher"
        rows.append(
            (
                name,
                e.get("state", ""),
                done,
                str(e.get("trials_failed", 0)),
                str(e.get("trials_pruned", 0)),
                f"{e.get('metric', '')} ({better} is better)",
                _score(e.get("best_score")),
                e.get("best_trial") or "",
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines += [
        "  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    if status["state"] == "interrupted":
        lines.append(f"  resume with: {status.get('resume')}")
    return "\n".join(lines)
