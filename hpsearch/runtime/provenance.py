"""What trained a run: package versions, the Keras backend, and a hash of the model code.

A resume reuses finished fits, so it is refused when any of these changed: weights from
other code or another Keras would be mixed silently into one study.
"""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "hpsearch",
    "keras",
    "tensorflow",
    "jax",
    "torch",
    "scikeras",
    "scikit-learn",
    "keras-tuner",
    "pandas",
    "numpy",
)
# Must match for a resume (tensorflow / jax only when they are the backend, see below).
RESUME_CHECKED = (
    "hpsearch",
    "keras",
    "keras_backend",
    "backend_version",
    "scikeras",
    "scikit-learn",
    "keras-tuner",
    "model_code",
)
# The code a trained fit depends on: the model, the wrappers, the search space, the engines
# (seeding, fit keys, callbacks). An edit there, even without a new version, refuses a resume.
MODEL_CODE = (
    "model/*.py",
    "study/space.py",
    "data/encoding.py",
    "engines/*.py",
    "engines/*/*.py",
)


def model_code_hash() -> str:
    root = Path(__file__).parent.parent  # hpsearch/
    h = hashlib.sha256()
    for pattern in MODEL_CODE:
        for path in sorted(root.glob(pattern)):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def provenance() -> dict[str, str]:
    """Versions of Python and the packages, the Keras backend and its version, the code hash."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    import keras

    backend = keras.backend.backend()
    found["keras_backend"] = backend
    found["backend_version"] = found.get(backend, "")
    found["model_code"] = model_code_hash()
    return found


def changed_provenance(then: dict[str, Any]) -> Iterator[tuple[str, Any, Any]]:
    """(what, then, now) for each checked item that differs from `then` (a run's versions)."""
    current = provenance()
    for key in RESUME_CHECKED:
        if key in then and then[key] != current.get(key):
            what = "the model code" if key == "model_code" else key
            yield what, then[key], current.get(key)
