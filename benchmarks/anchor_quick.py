"""--quick for benchmarks/anchors.py: a study file shrunk to a smoke run, written back as TOML."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

# --quick: every study shrunk to a smoke run (caps, never raises).
QUICK_TABLES = {
    "study": {"max_train_samples": 2000, "max_eval_samples": 500},
    "train": {"epochs": 2},
}
QUICK_ENGINE_CAPS = {
    "n_iter": 2,
    "max_trials": 2,
    "n_trials": 2,
    "max_epochs": 2,
    "hyperband_iterations": 1,
    "n_candidates": 3,
    "min_resources": 1,
}


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def toml_value(value: Any) -> str:
    """A TOML value: what study files hold (scalars, lists, inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{_toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
        )
    raise TypeError(f"no TOML form for {type(value).__name__}")


def dump_toml(doc: dict[str, Any]) -> str:
    """A study document (top-level tables of values) as TOML text."""
    lines = [f"{_toml_key(k)} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for table, values in doc.items():
        if isinstance(values, dict):
            lines += ["", f"[{_toml_key(table)}]"]
            lines += [f"{_toml_key(k)} = {toml_value(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def quick_study(text: str, source: Path) -> str:
    """The study shrunk for --quick: data subsets, 2 epochs, 2 trials per engine."""
    doc = tomllib.loads(text)
    for table, caps in QUICK_TABLES.items():
        section = doc.setdefault(table, {})
        for key, cap in caps.items():
            section[key] = min(cap, section.get(key, cap))
    for name in doc.get("study", {}).get("engines", []):
        section = doc.get(name, {})
        for key, cap in QUICK_ENGINE_CAPS.items():
            if isinstance(section.get(key), int):
                section[key] = min(cap, section[key])
    data_dir = doc["study"].get("data_dir")
    if data_dir and not Path(data_dir).expanduser().is_absolute():  # relative to the original
        doc["study"]["data_dir"] = str((source.parent / data_dir).resolve())
    doc["study"]["name"] = f"{doc['study'].get('name', source.stem)}-quick"
    return dump_toml(doc)
