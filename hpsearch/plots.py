"""Matplotlib figures for the HTML reports, drawn on the Agg canvas and returned as PNG bytes.

Matplotlib is imported inside the functions (never pyplot: no global figure state, no
backend switch). Each function returns None when there is nothing to draw.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable
from typing import Any, Literal

import pandas as pd

from hpsearch import registry

# One color and line style per engine, in registry order (an engine keeps its look everywhere).
ENGINE_PALETTE = [
    "tab:blue",
    "tab:orange",
    "tab:green",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:olive",
    "tab:cyan",
]
ENGINE_STYLES = ["-", "--", "-.", ":"]
FAIL_COLOR = "tab:red"
PRUNED_COLOR = "0.45"  # grey: stopped early by the search, not a failure
EDGE = {"failed": 0.03, "pruned": 0.09}  # heights (axes fraction) of marks without a score
RANK_COLORS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e"]  # not the engine colors
STYLE = {
    "axes.grid": True,
    "grid.alpha": 0.3,
    "font.size": 10,
    "axes.titlesize": 11,
    "legend.fontsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "savefig.dpi": 100,
}


def _styled(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import matplotlib

        with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]  # its stubs list each rc key
            return func(*args, **kwargs)

    return wrapper


def _figure(nrows: int, ncols: int, width: float, row_height: float) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, 0.6 + row_height * nrows), layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _engine_index(engine: str) -> int:
    names = registry.names()
    return names.index(engine) if engine in names else sum(map(ord, str(engine)))


def engine_color(engine: str) -> str:
    """The engine's own colour (as on the web pages); a palette colour for one not registered."""
    if engine in registry.names():
        return str(registry.get(engine).colour)
    return ENGINE_PALETTE[_engine_index(engine) % len(ENGINE_PALETTE)]


def engine_style(engine: str) -> str:
    return ENGINE_STYLES[_engine_index(engine) % len(ENGINE_STYLES)]


def _lower(name: str, hint: tuple[str, bool]) -> bool:
    """Is a Keras history metric lower-is-better? The engine's own metric carries its direction;
    the others are the model's loss, accuracy or an error."""
    base = name.removeprefix("val_")
    if hint and base == hint[0]:
        return not hint[1]
    return base == "loss" or "error" in base


def _direction(higher: bool) -> str:
    return "higher is better" if higher else "lower is better"


def _time_unit(seconds: float) -> tuple[float, str]:
    if seconds > 3 * 3600:
        return 3600.0, "h"
    if seconds > 600:
        return 60.0, "min"
    return 1.0, "s"


def _edge_marks(ax: Any, xs: Any, gid: str, **style: Any) -> None:
    """Marks near the bottom edge at their x position, for trials without a score."""
    xs = [float(x) for x in xs if pd.notna(x)]
    if xs:  # pruned marks a little above the failed ones: both may share an x
        ax.scatter(
            xs,
            [EDGE[gid]] * len(xs),
            transform=ax.get_xaxis_transform(),
            zorder=5,
            clip_on=False,
            gid=gid,
            **style,
        )
        ax.update_datalim([(x, 0.0) for x in xs], updatey=False)  # mixed transforms skip this
        ax.autoscale_view()


def _failed_marks(ax: Any, xs: Any, label: str | None = "failed trial") -> None:
    """Failed trials have no score: a red x on the bottom edge at their position."""
    _edge_marks(ax, xs, "failed", marker="x", color=FAIL_COLOR, s=40, label=label)


def _pruned_marks(ax: Any, xs: pd.Series, scores: pd.Series) -> None:
    """Pruned trials (stopped early by the search): hollow grey circles at the score they
    stopped with, or on the bottom edge where they have none (never drawn as failures)."""
    style = {
        "marker": "o",
        "facecolors": "none",
        "edgecolors": PRUNED_COLOR,
        "linewidths": 1.2,
        "s": 30,
        "label": "pruned trial",
    }
    xs, scores = pd.to_numeric(xs, errors="coerce"), pd.to_numeric(scores, errors="coerce")
    scored = xs.notna() & scores.notna()
    if scored.any():
        ax.scatter(xs[scored], scores[scored], zorder=4, gid="pruned-scored", **style)
    _edge_marks(ax, xs[scores.isna()], "pruned", **style)


def _failed_band(ax: Any) -> None:
    """Lower the y-axis so the marks on the bottom edge sit below every score."""
    gids = {c.get_gid() for c in ax.collections}
    if gids & set(EDGE):
        low, high = ax.get_ylim()
        ax.set_ylim(low - (0.2 if "pruned" in gids else 0.1) * (high - low), high)


def _integer_x(ax: Any, nbins: int | Literal["auto"] = "auto") -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins=nbins, integer=True))


def _log_x(ax: Any, values: pd.Series) -> None:
    """A log axis labelled in plain numbers: at 1, 2, 5 x 10^k, or 4 ticks in a narrow range."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    ax.set_xscale("log")
    wide = values.max() / values.min() >= 5
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)) if wide else MaxNLocator(4))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _outside_legend(fig: Any, axes: Any) -> None:
    handles, labels = {}, []
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in handles:
                handles[label] = handle
                labels.append(label)
    if labels:
        fig.legend([handles[k] for k in labels], labels, loc="outside right upper")


def _groups(scored: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(scored["group"]))


def _ylabel(scored: pd.DataFrame, group: str) -> str:
    higher = bool(scored.loc[scored["group"] == group, "higher"].iloc[0])
    return f"{group}\n({_direction(higher)})"


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


def _fit_order(fit: str) -> tuple[int, float]:
    return (1, 0.0) if fit == "refit" else (0, float(fit) if str(fit).isdigit() else 0.0)


def _curve_names(names: set[str], hint: str) -> list[tuple[str, bool]]:
    """The loss and metric to draw, validation first: (name, is_validation)."""
    picked = []
    loss = "val_loss" if "val_loss" in names else "loss" if "loss" in names else None
    if loss:
        picked.append(loss)
    others = sorted({n.removeprefix("val_") for n in names} - {"loss"})
    if others:
        base = hint if hint in others else others[0]
        picked.append(f"val_{base}" if f"val_{base}" in names else base)
    return [(n, n.startswith("val_")) for n in picked]


@_styled
def curves(
    histories: pd.DataFrame, top: dict[str, list[str]], hints: dict[str, tuple[str, bool]]
) -> bytes | None:
    """Learning curves of the best trials per engine, with their best and last epochs marked."""
    from matplotlib.lines import Line2D

    engines = [e for e in top if top[e]]
    if histories.empty or not engines:
        return None
    fig, axes = _figure(len(engines), 2, 12, 3.4)
    for row, engine in enumerate(engines):
        hist = histories[histories["engine"] == engine]
        hint = hints.get(engine, ("", True))
        panels = _curve_names(set(hist["metric"]), hint[0])
        has_refit = False
        for col in range(2):
            ax = axes[row, col]
            if col >= len(panels):
                ax.text(
                    0.5,
                    0.5,
                    "no history recorded" if not panels else "no metric recorded",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    color="0.4",
                )
                ax.set_axis_off()
                continue
            name, is_val = panels[col]
            lower = _lower(name, hint)
            for rank, trial in enumerate(top[engine]):
                data = hist[(hist["trial"] == trial) & (hist["metric"] == name)]
                color = RANK_COLORS[rank % len(RANK_COLORS)]
                label: str | None = f"trial {trial}" + (" (best)" if rank == 0 else "")
                for fit in sorted(data["fit"].unique(), key=_fit_order):
                    curve = data[data["fit"] == fit].sort_values("epoch")
                    if curve.empty:
                        continue
                    refit = fit == "refit"
                    has_refit |= refit
                    ax.plot(
                        curve["epoch"],
                        curve["value"],
                        color=color,
                        lw=1.6,
                        alpha=0.85,
                        ls="--" if refit else "-",
                        label=label,
                    )
                    label = None
                    best = curve.loc[curve["value"].idxmin() if lower else curve["value"].idxmax()]
                    last = curve.iloc[-1]
                    ax.plot(
                        best["epoch"],
                        best["value"],
                        marker="*",
                        ms=12,
                        color=color,
                        mec="k",
                        mew=0.5,
                        ls="none",
                    )
                    ax.plot(
                        last["epoch"],
                        last["value"],
                        marker="x",
                        ms=6,
                        color="k",
                        mew=1.5,
                        ls="none",
                        zorder=4,
                    )
            what = "validation" if is_val else "training (no validation data)"
            ax.set_title(f"{engine}: {name}, {what}")
            ax.set_xlabel("epoch")
            ax.set_ylabel(f"{name}\n({'lower' if lower else 'higher'} is better)")
            _integer_x(ax)
        handles, labels = axes[row, 0].get_legend_handles_labels()
        keys = [("*", "-", "best epoch"), ("x", "-", "stopped (last epoch)")]
        if (hist["fit"].astype(str) == "1").any():  # more than one fit per trial: CV folds
            keys.append(("", "-", "CV fold fit"))
        if has_refit:
            keys.append(("", "--", "refit on all data"))
        handles += [
            Line2D(
                [],
                [],
                color="k" if m == "x" else "0.4",
                marker=m,
                mew=1.5 if m == "x" else 1,
                ls=ls if not m else "none",
                ms=6 if m == "x" else 10,
            )
            for m, ls, _ in keys
        ]
        labels += [k[2] for k in keys]
        axes[row, 1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return _png(fig)


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
