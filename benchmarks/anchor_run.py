"""Running the sides of benchmarks/anchors.py, shared by its modes (anchors.py: against an
anchor; anchor_minutes.py: against the peers): each side a subprocess in a clean environment,
hpsearch through its own CLI, and the plain-text tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MAXIMIZE, MINIMIZE = "maximize", "minimize"


def better(a: float, b: float, direction: str) -> bool:
    return a > b if direction == MAXIMIZE else a < b


def _run(cmd: list[str], env: dict[str, str], what: str) -> tuple[str, float]:
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(
            f"anchors: {what} failed (exit {out.returncode}): {' '.join(cmd)}\n"
            f"{out.stderr.strip()[-3000:]}"
        )
    return out.stdout, seconds


def _env(backend: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # each side compiles its own models: a compile cache warmed by an earlier run would favour
    # hpsearch's side over a first run's (machine.COMPARABLE, for the scripts that import it)
    env["HPSEARCH_COMPILE_CACHE"] = "off"
    if backend:
        env["KERAS_BACKEND"] = backend
    return env


def run_hpsearch(study: Path, work: Path) -> dict[str, Any]:
    """The study through hpsearch's CLI (JAX), then its trials' test scores in a second
    JAX subprocess, after the run."""
    cmd = [
        sys.executable,
        "-m",
        "hpsearch",
        "run",
        str(study),
        "--output-dir",
        str(work / "runs"),
        "--keep-state",
        "--quiet",
    ]
    stdout, seconds = _run(cmd, _env(None), "the hpsearch run")
    run_dir = stdout.strip().splitlines()[-1]
    out = work / "hpsearch.json"
    _run(
        [
            sys.executable,
            str(HERE / "anchor_sides.py"),
            "hpsearch",
            "--run-dir",
            run_dir,
            "--out",
            str(out),
        ],
        _env("jax"),
        "scoring hpsearch's trials",
    )
    side = json.loads(out.read_text())
    side["process_seconds"] = seconds
    return side


def aligned(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
