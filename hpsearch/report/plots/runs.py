"""A run's figures: score by trial and over time, each hyperparameter against the score."""

from __future__ import annotations

import math

import pandas as pd

from hpsearch.report.plots.kit import (
    _failed_band,
    _failed_marks,
    _figure,
    _groups,
    _integer_x,
    _log_x,
    _outside_legend,
    _png,
    _pruned_marks,
    _styled,
    _time_unit,
    _ylabel,
    engine_color,
)


@_styled
def progress_by_trial(scored: pd.DataFrame, series: str = "engine") -> bytes | None:
    """Each trial's score and the best so far, x = the order trials ran in."""
    if scored.empty:
        return None
    groups = _groups(scored)
    fig, axes = _figure(len(groups), 1, 10, 3.6)
    for ax, group in zip(axes[:, 0], groups, strict=True):
        rows = scored[scored["group"] == group]
        for name, sub in rows.groupby(series, sort=False):
            color = engine_color(str(name))
            ok = sub[sub["ok"]]
            if not ok.empty:
                ax.scatter(
                    ok["order"], ok["score"], color=color, alpha=0.6, s=28, label=f"{name}: trial"
                )
                ax.plot(
                    sub["order"],
                    sub["best"],
                    drawstyle="steps-post",
                    color=color,
                    lw=2,
                    label=f"{name}: best so far",
                )
            _failed_marks(ax, sub.loc[sub["failed"], "order"])
            _pruned_marks(ax, sub.loc[sub["pruned"], "order"], sub.loc[sub["pruned"], "val_score"])
        _failed_band(ax)
        ax.set_xlabel("trial (in the order it ran)")
        ax.set_ylabel(_ylabel(scored, group))
        _integer_x(ax)
    _outside_legend(fig, axes)
    return _png(fig)


@_styled
def progress_by_time(scored: pd.DataFrame) -> bytes | None:
    """Best so far against wall time (finished_at) and against cumulative fit seconds."""
    if scored.empty:
        return None
    xs = (
        [("elapsed", "wall time since the engine's first trial started")]
        if scored["elapsed"].notna().any()
        else []
    )
    xs.append(("cum_fit", "cumulative fit time"))
    groups = _groups(scored)
    fig, axes = _figure(len(groups), len(xs), 12 if len(xs) > 1 else 10, 3.6)
    for row, group in enumerate(groups):
        rows = scored[scored["group"] == group]
        for col, (key, title) in enumerate(xs):
            ax = axes[row, col]
            div, unit = _time_unit(float(rows[key].max()) if rows[key].notna().any() else 0.0)
            for engine, sub in rows.groupby("engine", sort=False):
                sub = sub[sub[key].notna()].sort_values(key, kind="stable")
                color, x = engine_color(str(engine)), sub[key] / div
                ok = sub["ok"]
                if ok.any():
                    ax.scatter(
                        x[ok],
                        sub.loc[ok, "score"],
                        color=color,
                        alpha=0.6,
                        s=28,
                        label=f"{engine}: trial",
                    )
                    ax.plot(
                        x,
                        sub["best"],
                        drawstyle="steps-post",
                        color=color,
                        lw=2,
                        label=f"{engine}: best so far",
                    )
                _failed_marks(ax, x[sub["failed"]])
                _pruned_marks(ax, x[sub["pruned"]], sub.loc[sub["pruned"], "val_score"])
            _failed_band(ax)
            ax.set_xlabel(f"{title} ({unit})")
            if col == 0:
                ax.set_ylabel(_ylabel(scored, group))
    _outside_legend(fig, axes)
    return _png(fig)


def _is_numeric(values: pd.Series) -> bool:
    present = values.dropna()
    return not present.empty and pd.to_numeric(present, errors="coerce").notna().all()


@_styled
def parameters(scored: pd.DataFrame, params: list[str]) -> bytes | None:
    """A panel per hyperparameter: score against its value, colored by engine."""
    import numpy as np

    if scored.empty or not params or not scored["ok"].any():
        return None
    groups = _groups(scored)
    ncols = min(3, len(params))
    per_group = math.ceil(len(params) / ncols)
    fig, axes = _figure(per_group * len(groups), ncols, 4.2 * ncols, 3.2)
    rng = np.random.default_rng(0)
    engines = list(dict.fromkeys(scored["engine"]))
    for g, group in enumerate(groups):
        rows = scored[scored["group"] == group]
        for i, param in enumerate(params):
            ax = axes[g * per_group + i // ncols, i % ncols]
            name = param.removeprefix("param_")
            ok = rows[rows["ok"]]
            if _is_numeric(rows[param]):
                values = pd.to_numeric(rows[param], errors="coerce")
                for engine, sub in ok.groupby("engine", sort=False):
                    ax.scatter(
                        values[sub.index],
                        sub["score"],
                        color=engine_color(str(engine)),
                        alpha=0.7,
                        s=30,
                        label=str(engine),
                    )
                _failed_marks(ax, values[rows["failed"]].dropna())
                _pruned_marks(ax, values[rows["pruned"]], rows.loc[rows["pruned"], "val_score"])
                if ("learning_rate" in name or name == "lr") and (values.dropna() > 0).all():
                    _log_x(ax, values.dropna())
                elif (values.dropna() % 1 == 0).all():
                    _integer_x(ax, nbins=6)
            else:
                cats = sorted(rows[param].dropna().astype(str).unique())
                pos = {c: k for k, c in enumerate(cats)}
                boxes = [ok.loc[ok[param].astype(str) == c, "score"].dropna() for c in cats]
                ax.boxplot(
                    [b.to_numpy() for b in boxes],
                    positions=range(len(cats)),
                    widths=0.5,
                    showfliers=False,
                    medianprops={"color": "0.3"},
                    boxprops={"color": "0.6"},
                    whiskerprops={"color": "0.6"},
                    capprops={"color": "0.6"},
                )
                for _e, (engine, sub) in enumerate(ok.groupby("engine", sort=False)):
                    offset = (engines.index(engine) - (len(engines) - 1) / 2) * 0.15
                    x = (
                        sub[param].astype(str).map(pos)
                        + offset
                        + rng.uniform(-0.05, 0.05, len(sub))
                    )
                    ax.scatter(
                        x,
                        sub["score"],
                        color=engine_color(str(engine)),
                        alpha=0.7,
                        s=30,
                        label=str(engine),
                        zorder=3,
                    )
                _failed_marks(ax, rows.loc[rows["failed"], param].dropna().astype(str).map(pos))
                pruned = rows[rows["pruned"] & rows[param].notna()]
                _pruned_marks(ax, pruned[param].astype(str).map(pos), pruned["val_score"])
                ax.set_xticks(range(len(cats)), cats)
                ax.set_xlim(-0.6, len(cats) - 0.4)
            _failed_band(ax)
            ax.set_title(name)
            if i % ncols == 0:
                ax.set_ylabel(_ylabel(scored, group))
        for j in range(len(params), per_group * ncols):
            axes[g * per_group + j // ncols, j % ncols].set_visible(False)
    _outside_legend(fig, axes)
    return _png(fig)
