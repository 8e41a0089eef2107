"""Figures comparing runs: test scores as bars, best so far against fit time."""

from __future__ import annotations

import pandas as pd

from hpsearch.report.plots.kit import (
    _figure,
    _groups,
    _outside_legend,
    _png,
    _styled,
    _time_unit,
    _ylabel,
    engine_style,
)


@_styled
def bars(
    frame: pd.DataFrame,
    label: str,
    columns: list[str],
    colors: list[str],
    titles: dict[str, str] | None = None,
) -> bytes | None:
    """Horizontal bars, one panel per column, one bar per row of `frame`."""
    columns = [
        c for c in columns if c in frame and pd.to_numeric(frame[c], errors="coerce").notna().any()
    ]
    if frame.empty or not columns:
        return None
    fig, axes = _figure(1, len(columns), min(14, 4 + 3.2 * len(columns)), 0.45 * len(frame) + 0.8)
    ys = list(range(len(frame)))[::-1]
    for i, column in enumerate(columns):
        ax = axes[0, i]
        values = pd.to_numeric(frame[column], errors="coerce")
        ax.barh(ys, values.fillna(0), color=colors, height=0.6)
        for y, v in zip(ys, values, strict=True):
            ax.annotate(
                "n/a" if pd.isna(v) else f"{v:.4g}",
                (0 if pd.isna(v) else v, y),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
        ax.set_yticks(ys, frame[label] if i == 0 else [""] * len(ys))
        ax.set_title((titles or {}).get(column, column))
        ax.margins(x=0.18)
        ax.grid(axis="y", visible=False)
    return _png(fig)


@_styled
def compare_progress(scored: pd.DataFrame) -> bytes | None:
    """Best so far of every run and engine against cumulative fit seconds, one panel per metric."""
    if scored.empty or not scored["ok"].any():
        return None
    groups = _groups(scored)
    fig, axes = _figure(len(groups), 1, 11, 3.8)
    series = list(dict.fromkeys(scored["series"]))
    for ax, group in zip(axes[:, 0], groups, strict=True):
        rows = scored[scored["group"] == group]
        div, unit = _time_unit(float(rows["cum_fit"].max()) if rows["cum_fit"].notna().any() else 0)
        for name, sub in rows.groupby("series", sort=False):
            sub = sub[sub["cum_fit"].notna() & sub["best"].notna()]
            color = f"C{series.index(name) % 10}"
            ax.plot(
                sub["cum_fit"] / div,
                sub["best"],
                drawstyle="steps-post",
                lw=2,
                color=color,
                ls=engine_style(str(sub["engine"].iloc[0])) if len(sub) else "-",
                label=str(name),
            )
            ok = sub[sub["ok"]]
            ax.scatter(ok["cum_fit"] / div, ok["best"], color=color, s=12)
        ax.set_xlabel(f"cumulative fit time ({unit})")
        ax.set_ylabel(f"best so far: {_ylabel(scored, group)}")
    _outside_legend(fig, axes)
    return _png(fig)
