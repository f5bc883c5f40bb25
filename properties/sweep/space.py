"""Hyperparameter points of one optimizer block: a grid (product of axes) or a random search.

Axes are taken in sorted name order. A grid axis is its list, or ``num`` points from ``min`` to
``max`` (``numpy.linspace``, or ``numpy.geomspace`` with ``log``), and the grid is the product
in that order (the last name varies fastest). A random search draws ``count`` points from
``numpy.random.default_rng(seed)``: per point, per name in order, a uniform choice from a list
or a uniform (log-uniform with ``log``) value in the range. Same block, same points, same bits.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from .config import Axis, OptimizerBlock


def grid_values(axis: Axis) -> list[Any]:
    """The values a grid takes along one axis."""
    if axis.values is not None:
        return list(axis.values)
    assert axis.low is not None and axis.high is not None and axis.num is not None
    if axis.num == 1:
        return [axis.low]
    fn = np.geomspace if axis.log else np.linspace
    return [float(v) for v in fn(axis.low, axis.high, axis.num)]


def draw_value(rng: np.random.Generator, axis: Axis) -> Any:
    """One random value along one axis."""
    if axis.values is not None:
        return axis.values[int(rng.integers(len(axis.values)))]
    assert axis.low is not None and axis.high is not None
    if axis.log:
        return float(math.exp(rng.uniform(math.log(axis.low), math.log(axis.high))))
    return float(rng.uniform(axis.low, axis.high))


def points(block: OptimizerBlock) -> list[dict[str, Any]]:
    """The block's hyperparameter points, in their deterministic order."""
    names = sorted(block.axes)
    if block.search == "grid":
        axes = [grid_values(block.axes[n]) for n in names]
        return [dict(zip(names, combo)) for combo in itertools.product(*axes)]
    rng = np.random.default_rng(block.seed)
    assert block.count is not None
    return [{n: draw_value(rng, block.axes[n]) for n in names} for _ in range(block.count)]


def corner_points(block: OptimizerBlock) -> list[dict[str, Any]]:
    """Points at the ends of every axis (all at their first value or ``min``, then each one
    in turn at each of its values or at ``max``): checking these checks every range's
    endpoints, not only the values a random search happened to draw."""
    base = {n: (a.values[0] if a.values is not None else a.low) for n, a in block.axes.items()}
    out = [base]
    for n, a in sorted(block.axes.items()):
        ends = list(a.values) if a.values is not None else [a.high]
        out += [{**base, n: v} for v in ends]
    return out
