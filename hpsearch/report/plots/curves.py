"""Learning curves: the best trials' per-epoch values, each fit of a trial in its own line."""

from __future__ import annotations

import pandas as pd

from hpsearch.report.plots.kit import RANK_COLORS, _figure, _integer_x, _lower, _png, _styled


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
