"""Jinja2 templates shared by the static report pages and the `serve` web pages.

Templates live in hpsearch/templates, styles and scripts in hpsearch/static. The static
report inlines its stylesheet (one self-contained file); the server links to it.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from hpsearch import registry

PACKAGE = (
    Path(__file__).resolve().parent.parent
)  # hpsearch/, whose templates/ and static/ serve uses too
TEMPLATES = PACKAGE / "templates"
STATIC = PACKAGE / "static"


def fmt(value: Any) -> str:
    """A cell's text: blank for missing, short floats, whole numbers without ".0"."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.1f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)


@functools.cache
def environment() -> Any:
    """The one Jinja2 environment: autoescaped HTML, `fmt` as a filter."""
    import jinja2
    import markupsafe

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["fmt"] = fmt
    # each engine's colour, for serve.js (<body data-colours>): the same as in plots.py
    env.globals["engine_colours"] = lambda: json.dumps(
        {name: engine.colour for name, engine in registry.engines().items()}
    )
    # Markup: the stylesheet is ours, and escaping its quotes would break it inside <style>
    env.globals["inline_css"] = lambda: markupsafe.Markup(
        (STATIC / "hpsearch.css").read_text(encoding="utf-8")
    )
    return env


def render(name: str, **context: Any) -> str:
    """Render template `name` with `context`."""
    return environment().get_template(name).render(**context)
