"""What trained a run: package versions, the Keras backend, and hashes of the model code
(hpsearch's, and a study's own model factory's).

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
    "factory_code",
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


def provenance(factory_code: str = "") -> dict[str, str]:
    """Versions of Python and the packages, the Keras backend and its version, the code hash,
    and `factory_code` (the hash of a study's own model factory's source) when given."""
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
    if factory_code:
        found["factory_code"] = factory_code
    return found


WHAT = {"model_code": "the model code", "factory_code": "the model factory's code"}


def changed_provenance(
    then: dict[str, Any], factory_code: str = ""
) -> Iterator[tuple[str, Any, Any]]:
    """(what, then, now) for each checked item that differs from `then` (a run's versions);
    `factory_code`: the hash of the study's model factory now."""
    current = provenance(factory_code)
    for key in RESUME_CHECKED:
        if key in then and then[key] != current.get(key):
            what = WHAT.get(key, key)
            yield what, then[key], current.get(key)
