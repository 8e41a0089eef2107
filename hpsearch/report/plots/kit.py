"""The plots' common kit: style, figure and PNG, each engine's colour and line style, marks
for failed and pruned trials, axes helpers."""

from __future__ import annotations

import functools
import io
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
