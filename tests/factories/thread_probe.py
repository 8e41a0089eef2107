"""A model factory for tests/test_sklearn_jobs.py, imported through a study's `[model] path`:
hpsearch's MLP, each call first writing the process's pid and thread settings to a file in
$HPSEARCH_PROBE_DIR (one file per call), so a test sees where each fit was built."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from hpsearch.model.mlp import build_model

SETTINGS = ("XLA_FLAGS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")


def probed_mlp(n_neurons: int = 8, learning_rate: float = 0.01, *, meta: dict[str, Any]) -> Any:
    """build_model's MLP (one hidden layer), after noting who builds it."""
    seen = {"pid": os.getpid(), **{name: os.environ.get(name) for name in SETTINGS}}
    folder = Path(os.environ["HPSEARCH_PROBE_DIR"])
    (folder / f"{uuid.uuid4().hex}.json").write_text(json.dumps(seen))
    return build_model(1, n_neurons, learning_rate=learning_rate, meta=meta)
