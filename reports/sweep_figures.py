"""The sweep report's figures, drawn the report's way (:mod:`.plotting`: one style, one palette,
deterministic PNGs) and, for the descent region, by the report's own region figure.

* :func:`region_figure`: the finished cases in the planes of
  :func:`.region_section.region_figure`: gradient descent (at tau = 0) and adaptive momentum in
  (lr·L_0, tau·L_0), heavy ball and Nesterov in (lr·L_0, beta). RMSProp has no region and is not
  drawn.
* :func:`outcomes_figure`: how many cases fell in each outcome of each check and of the claim.
* :func:`final_loss_figure`: E(w_K) / E(w_0) per optimizer, blue where E fell at every step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .plotting import DECREASE_COLOR, INCREASE_COLOR, OPTIMIZER_COLORS, pyplot, save

ADAPTIVE_PLANE = ("gd", "adaptive_momentum")
CONSTANT_PLANE = ("momentum", "nesterov")


def _num(v: Any) -> float:
    """A float from results JSON (None and the strings "nan", "inf" read as floats)."""
    return math.nan if v is None else float(v)


def region_points(points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The sweep's points in the shape :func:`.region_section.region_figure` draws:
    ``{"adaptive": {"cases": [{lr_L, tau_L, decreased}]}, "constant": {"cases": [{lr_L, beta,
    decreased}]}}``; gd sits at tau = 0, and points without finite coordinates are left out."""
    adaptive, constant = [], []
    for p in points:
        lr_L = _num(p["lr_L"])
        if p["optimizer"] in ADAPTIVE_PLANE:
            tau_L = 0.0 if p["optimizer"] == "gd" else _num(p["tau_L"])
            if math.isfinite(lr_L) and math.isfinite(tau_L):
                adaptive.append({"lr_L": lr_L, "tau_L": tau_L, "decreased": p["decreased"]})
        elif p["optimizer"] in CONSTANT_PLANE:
            beta = _num(p["beta"])
            if math.isfinite(lr_L) and math.isfinite(beta):
                constant.append({"lr_L": lr_L, "beta": beta, "decreased": p["decreased"]})
    return {"adaptive": {"cases": adaptive}, "constant": {"cases": constant}}


def region_figure(points: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """``points``: dicts with ``optimizer``, ``lr_L``, ``tau_L``, ``beta`` and ``decreased``,
    one per finished case with L_0; drawn by the report's region figure."""
    from .region_section import region_figure as draw

    return draw(region_points(points), path)


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def outcomes_figure(counts: Mapping[str, Mapping[str, int]], path: Path) -> Path:
    """Horizontal bars: ``counts[group][outcome]`` cases, the claim's outcomes in the report's
    decrease/increase colours."""
    plt = pyplot()
    rows = [(f"{g}: {o}", int(n), g, o) for g, outs in counts.items() for o, n in outs.items()]
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * max(len(rows), 3) + 1.0))
    if not rows:
        _empty(ax, "no cases")
        return save(fig, path)
    good = {"held", "done", "inside", "finite"}
    bad = {"falsified", "rose", "failed", "diverged"}
    colours = [
        DECREASE_COLOR if o in good else INCREASE_COLOR if o in bad else "#8c8c8c"
        for _, _, _, o in rows
    ]
    y = np.arange(len(rows))[::-1]
    values = [n for _, n, _, _ in rows]
    ax.barh(y, values, color=colours, height=0.7)
    top = max(values) or 1
    for yi, v in zip(y, values):
        ax.text(v + 0.01 * top, yi, str(v), va="center", fontsize=8)
    ax.set_yticks(y, [label for label, _, _, _ in rows], fontsize=8)
    ax.set_xlim(0, top * 1.12)
    ax.set_xlabel("cases")
    ax.set_title("Outcomes of the checks, and of the claim inside the region ⇒ decrease")
    return save(fig, path)


def final_loss_figure(points: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """``points``: dicts with ``optimizer``, ``initial``, ``final`` and ``decreased``; one
    column per optimizer (its report colour on the axis), points jittered with a fixed seed."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    pts = [p for p in points if math.isfinite(_num(p["initial"])) and _num(p["initial"]) > 0]
    if not pts:
        _empty(ax, "no finished cases with a finite initial loss")
        return save(fig, path)
    opts = sorted({p["optimizer"] for p in pts})
    rng = np.random.default_rng(0)  # jitter only; fixed so the PNG is reproducible
    beyond: list[float] = []  # x of the cases a log axis cannot show (inf, NaN or 0 final loss)
    for i, opt in enumerate(opts):
        for ok, colour in ((True, DECREASE_COLOR), (False, INCREASE_COLOR)):
            sel = [p for p in pts if p["optimizer"] == opt and p["decreased"] == ok]
            if sel:
                with np.errstate(all="ignore"):
                    ratio = np.array([_num(p["final"]) / _num(p["initial"]) for p in sel])
                x = i + rng.uniform(-0.25, 0.25, size=len(sel))
                shown = np.isfinite(ratio) & (ratio > 0)
                beyond += [float(v) for v in x[~shown]]
                ax.scatter(x[shown], ratio[shown], s=14, color=colour, alpha=0.75, linewidths=0)
    ax.set_yscale("log")
    if beyond:  # a held-out user: diverged cases were left out of the figure without a word
        _on_top_edge(ax, beyond)
    ax.set_xticks(range(len(opts)), opts, fontsize=8)
    for label, opt in zip(ax.get_xticklabels(), opts):
        label.set_color(OPTIMIZER_COLORS.get(opt, "0.2"))
    ax.set_ylabel("E(w_K) / E(w_0)")
    ax.set_title("Final loss relative to the initial (blue: decreased every step; red: rose)")
    return save(fig, path)


def _on_top_edge(ax: Any, xs: list[float]) -> None:
    """Cases without a finite positive ratio, as triangles on the top edge, and counted."""
    top = ax.get_ylim()[1] if ax.dataLim.height > 0 else 10.0
    ax.set_ylim(top=top)
    ax.scatter(xs, [top] * len(xs), s=22, marker="^", color=INCREASE_COLOR, clip_on=False)
    note = f"▲ on the top edge: {len(xs)} with an inf, NaN or zero final loss (diverged)"
    ax.text(0.99, 0.97, note, transform=ax.transAxes, ha="right", va="top", fontsize=7)
