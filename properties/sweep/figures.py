"""The sweep report's figures, as PNG bytes (matplotlib's Agg canvas, imported lazily).

* :func:`region_figure`: the descent-region picture. Left: gradient descent and adaptive
  momentum in the plane (lr·L_0, tau·L_0), with theory's region ``tau + L (lr + tau)^2 / 2 < lr``
  shaded and gd's ``lr·L < 2`` on the axis tau = 0. Right (when the sweep has them): constant
  momentum (heavy ball, Nesterov) in (lr·L_0, beta), whose region is only beta = 0. Each case is
  a point coloured by whether E decreased at every step (red when any case at that place rose;
  a place shared by several cases, as with ``relative_to_L``, is labelled "rose/cases"); its
  marker names the optimizer.
* :func:`outcomes_figure`: how many cases fell in each outcome of each check and of the claim
  "inside the region => decrease at every step".
* :func:`final_loss_figure`: E(w_K) / E(w_0) per optimizer, coloured as above.

Figures use ``matplotlib.figure.Figure`` directly (no pyplot, no global backend), and PNGs are
written without the "Software" metadata, so the same rows give the same bytes on the same
matplotlib.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

DECREASE = "#2a7fb8"
RISE = "#d1495b"
REGION = "#55a868"
MARKERS = {"gd": "s", "adaptive_momentum": "o", "momentum": "^", "nesterov": "v", "rmsprop": "D"}
DPI = 110


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _num(v: Any) -> float:
    """A float from results JSON (non-finite values are stored as strings)."""
    if v is None:
        return math.nan
    return float(v)


def _style(ax: Any) -> None:
    ax.grid(True, alpha=0.3, linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _scatter(ax: Any, pts: Sequence[tuple[float, float, bool, str]]) -> None:
    """One marker per optimizer and place, blue when every case there decreased at every
    step, red when any rose; a place holding several cases is labelled "rose/cases"."""
    groups: dict[tuple[str, float, float], list[bool]] = {}
    for x, y, ok, opt in pts:  # places equal to 6 digits are one (lr·L recomputed from lr)
        groups.setdefault((opt, float(f"{x:.6g}"), float(f"{y:.6g}")), []).append(ok)
    for opt in sorted({g[0] for g in groups}):
        for ok, colour, word in ((True, DECREASE, "decreased every step"), (False, RISE, "rose")):
            sel = [(x, y) for (o, x, y), oks in groups.items() if o == opt and all(oks) == ok]
            if sel:
                xs, ys = zip(*sel)
                ax.scatter(
                    xs,
                    ys,
                    s=22,
                    marker=MARKERS.get(opt, "o"),
                    color=colour,
                    alpha=0.8,
                    linewidths=0.4,
                    edgecolors="white",
                    label=f"{opt}, {word}",
                    zorder=3,
                )
    for (_, x, y), oks in groups.items():
        if len(oks) > 1:
            ax.annotate(
                f"{oks.count(False)}/{len(oks)}",
                (x, y),
                xytext=(4, 3),
                textcoords="offset points",
                fontsize=6.5,
                color="0.3",
            )


def region_figure(points: Sequence[Mapping[str, Any]]) -> bytes:
    """``points``: dicts with ``optimizer``, ``lr_L``, ``tau_L`` (adaptive), ``beta``
    (constant momentum) and ``decreased`` (bool), one per finished case with L_0."""
    from descentcheck.theory.descent import max_tau

    adaptive = [
        (
            _num(p["lr_L"]),
            _num(p["tau_L"]) if p["optimizer"] != "gd" else 0.0,
            p["decreased"],
            p["optimizer"],
        )
        for p in points
        if p["optimizer"] in ("gd", "adaptive_momentum")
    ]
    constant = [
        (_num(p["lr_L"]), _num(p["beta"]), p["decreased"], p["optimizer"])
        for p in points
        if p["optimizer"] in ("momentum", "nesterov")
    ]
    adaptive = [p for p in adaptive if math.isfinite(p[0]) and math.isfinite(p[1])]
    constant = [p for p in constant if math.isfinite(p[0]) and math.isfinite(p[1])]
    panels = 2 if constant else 1
    fig = _figure(5.2 * panels, 4.9)
    axes = fig.subplots(1, panels, squeeze=False)[0]

    ax = axes[0]
    _style(ax)
    xmax = max([2.4, *(1.05 * p[0] for p in adaptive)])
    ymax = max([0.3, *(1.08 * p[1] for p in adaptive)])
    log_x = xmax > 20
    lo = min([p[0] for p in adaptive if p[0] > 0] + [1e-3]) / 1.5 if log_x else 0.0
    xs = np.geomspace(max(lo, 1e-6), 2.0, 400) if log_x else np.linspace(0.0, 2.0, 400)
    bound = np.array([max(0.0, max_tau(float(x), 1.0)) for x in xs])
    ax.fill_between(xs, 0.0, bound, color=REGION, alpha=0.18, linewidth=0, zorder=1)
    ax.plot(xs, bound, color=REGION, linewidth=1.4, zorder=2, label="adaptive: tau_max(lr)·L")
    ax.plot(
        [xs[0], 2.0],
        [0.0, 0.0],
        color=REGION,
        linewidth=3.5,
        alpha=0.7,
        zorder=2,
        label="gd: lr·L < 2",
    )
    if adaptive:
        _scatter(ax, adaptive)
    else:
        ax.text(
            0.98,
            0.95,
            "no gd or adaptive-momentum cases",
            ha="right",
            va="top",
            transform=ax.transAxes,
            color="0.4",
        )
    if log_x:
        ax.set_xscale("log")
        ax.set_xlim(lo, xmax)
    else:
        ax.set_xlim(0.0, xmax)
    ax.set_ylim(-0.02 * ymax, ymax)
    ax.set_xlabel("lr · L₀")
    ax.set_ylabel("tau · L₀   (0 for gd)")
    ax.set_title("gd and adaptive momentum: theory's region (shaded)")
    ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)

    if constant:
        ax = axes[1]
        _style(ax)
        xmax = max([2.4, *(1.05 * p[0] for p in constant)])
        ax.plot(
            [0.0, 2.0],
            [0.0, 0.0],
            color=REGION,
            linewidth=3.5,
            alpha=0.7,
            zorder=2,
            label="region: beta = 0, lr·L < 2",
        )
        _scatter(ax, constant)
        if xmax > 20:
            ax.set_xscale("log")
        else:
            ax.set_xlim(0.0, xmax)
        ax.set_ylim(-0.03, max([1.0, *(1.05 * p[1] for p in constant)]))
        ax.set_xlabel("lr · L₀")
        ax.set_ylabel("beta")
        ax.set_title("Constant momentum: no region beyond beta = 0")
        ax.legend(
            fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2
        )
    return _png(fig)


def outcomes_figure(counts: Mapping[str, Mapping[str, int]]) -> bytes:
    """Horizontal bars: ``counts[group][outcome]`` cases, one colour per group."""
    labels: list[str] = []
    values: list[int] = []
    colours: list[str] = []
    palette = ["#4c72b0", "#dd8452", "#55a868", "#8172b3", "#c44e52", "#937860"]
    for g, (group, outcomes) in enumerate(counts.items()):
        for outcome, n in outcomes.items():
            labels.append(f"{group}: {outcome}")
            values.append(int(n))
            colours.append(palette[g % len(palette)])
    fig = _figure(7.5, 0.32 * max(len(labels), 3) + 1.0)
    ax = fig.subplots()
    _style(ax)
    if not labels:
        _empty(ax, "no cases")
        return _png(fig)
    y = np.arange(len(labels))[::-1]
    ax.barh(y, values, color=colours, height=0.7)
    top = max(values) or 1
    for yi, v in zip(y, values):
        ax.text(v + 0.01 * top, yi, str(v), va="center", fontsize=8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlim(0, top * 1.12)
    ax.set_xlabel("cases")
    ax.set_title("Outcomes of the checks, and of the claim inside the region ⇒ decrease")
    return _png(fig)


def final_loss_figure(points: Sequence[Mapping[str, Any]]) -> bytes:
    """``points``: dicts with ``optimizer``, ``initial``, ``final`` and ``decreased``."""
    fig = _figure(6.5, 3.8)
    ax = fig.subplots()
    _style(ax)
    pts = [p for p in points if math.isfinite(_num(p["initial"])) and _num(p["initial"]) > 0]
    if not pts:
        _empty(ax, "no finished cases with a finite initial loss")
        return _png(fig)
    opts = sorted({p["optimizer"] for p in pts})
    rng = np.random.default_rng(0)  # jitter only; fixed so the PNG is reproducible
    for i, opt in enumerate(opts):
        for ok, colour in ((True, DECREASE), (False, RISE)):
            sel = [p for p in pts if p["optimizer"] == opt and p["decreased"] == ok]
            if not sel:
                continue
            ratio = np.array([_num(p["final"]) / _num(p["initial"]) for p in sel])
            ratio = np.where(np.isfinite(ratio), ratio, np.nan)
            x = i + rng.uniform(-0.25, 0.25, size=len(sel))
            ax.scatter(x, ratio, s=14, color=colour, alpha=0.75, linewidths=0, zorder=3)
    ax.set_yscale("log")
    ax.set_xticks(range(len(opts)), opts, fontsize=8)
    ax.set_ylabel("E(w_K) / E(w_0)")
    ax.set_title("Final loss relative to the initial (blue: decreased every step; red: rose)")
    return _png(fig)
