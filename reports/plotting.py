"""matplotlib set-up shared by every figure: the Agg backend, one style, deterministic PNGs.

matplotlib is imported inside :func:`pyplot` only, so importing the report package stays cheap.
PNGs are written without the "Software" metadata field (it names matplotlib's web site and
version), so the same numbers give the same bytes on the same matplotlib.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

DPI = 110

# one colour per optimizer, the same in every figure
OPTIMIZER_COLORS = {
    "gd": "#4c72b0",
    "sgd": "#4c72b0",
    "momentum": "#dd8452",
    "nesterov": "#8172b3",
    "adaptive_momentum": "#55a868",
    "rmsprop": "#c44e52",
}
OPTIMIZER_LABELS = {
    "gd": "gradient descent",
    "sgd": "SGD",
    "momentum": "momentum (heavy ball)",
    "nesterov": "Nesterov",
    "adaptive_momentum": "adaptive momentum",
    "rmsprop": "RMSProp",
}
DECREASE_COLOR = "#2a7fb8"
INCREASE_COLOR = "#d1495b"
REGION_COLOR = "#55a868"

_STYLE = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "font.size": 9.5,
    "font.family": "DejaVu Sans",
    "axes.titlesize": 10.5,
    "axes.labelsize": 9.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "legend.fontsize": 8.5,
    "legend.frameon": False,
    "lines.linewidth": 1.6,
    "svg.hashsalt": "descentcheck",
}


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend with the report's style."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update(_STYLE)
    return plt


def save(fig: Any, path: Path) -> Path:
    """Write ``fig`` as PNG at ``path`` (parents created) and close it."""
    plt = pyplot()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path


def band(
    ax: Any,
    x: Sequence[float],
    runs: Sequence[Sequence[float]],
    color: str,
    label: str,
    log: bool = False,
) -> None:
    """Mean over runs as a line, the min-max spread over runs as a shaded band.

    With ``log``, the mean is geometric (runs of a quantity plotted on a log axis)."""
    a = np.asarray(runs, dtype=float)
    if log:
        with np.errstate(divide="ignore"):
            centre = np.exp(np.mean(np.log(np.maximum(a, 1e-300)), axis=0))
    else:
        centre = a.mean(axis=0)
    ax.plot(x, centre, color=color, label=label)
    if len(a) > 1:
        ax.fill_between(x, a.min(axis=0), a.max(axis=0), color=color, alpha=0.18, linewidth=0)


def integer_ticks(ax: Any, axis: str = "x") -> None:
    """Ticks at whole numbers only (epochs, layers, depths)."""
    from matplotlib.ticker import MaxNLocator

    (ax.xaxis if axis == "x" else ax.yaxis).set_major_locator(MaxNLocator(integer=True))


def log_axis(ax: Any, axis: str = "y") -> None:
    """A log scale whose tick labels read as plain numbers (0.5, 2, 1e-05), not 5×10^-1;
    the minor ticks (2 and 5 times each power of ten) are labelled only when the axis spans
    less than two decades."""
    import math

    from matplotlib.ticker import FuncFormatter, LogLocator

    target = ax.yaxis if axis == "y" else ax.xaxis
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")

    def major(v: float, _pos: int) -> str:
        return f"{v:g}"

    def minor(v: float, _pos: int) -> str:
        lo, hi = target.get_view_interval()
        if lo <= 0 or math.log10(hi / lo) >= 2:
            return ""
        return f"{v:g}"

    target.set_major_formatter(FuncFormatter(major))
    target.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    target.set_minor_formatter(FuncFormatter(minor))
