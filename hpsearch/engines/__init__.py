"""The engines: one module each (its `ENGINE`), registered as entry points (hpsearch/registry.py)."""

from __future__ import annotations

from hpsearch.registry import defaults, get, names

__all__ = ["defaults", "get", "names"]
