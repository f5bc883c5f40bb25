"""Optimizers as explicit state and pure update functions (the optax convention).

An :class:`Optimizer` is a pair ``init(params) -> state`` and
``update(grads, state, params) -> (updates, new_state, info)``; the caller applies
``w_{k+1} = w_k + updates``. Nothing is mutated: every update returns fresh arrays and a fresh
state. ``info.momentum`` is the momentum coefficient used at this step (``alpha_k`` for adaptive
momentum, ``beta`` for the constant forms, ``None`` without momentum).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import HyperparameterError

Array = np.ndarray
Params = dict[str, Array]


@dataclass(frozen=True)
class StepInfo:
    """What one update did, for the trajectory."""

    momentum: float | None = None
    group_momentum: Mapping[str, float] | None = None


@dataclass(frozen=True)
class Optimizer:
    name: str
    hyperparameters: Mapping[str, Any]
    init: Callable[[Mapping[str, Array]], Any]
    update: Callable[[Mapping[str, Array], Any, Mapping[str, Array]], tuple[Params, Any, StepInfo]]
    doc: str = field(default="", repr=False)


def apply_updates(params: Mapping[str, Array], updates: Mapping[str, Array]) -> Params:
    """``w + dw`` for every parameter, as fresh arrays."""
    return {k: params[k] + updates[k] for k in params}


def zeros_like(params: Mapping[str, Array]) -> Params:
    return {k: np.zeros_like(v) for k, v in params.items()}


def check_number(
    name: str,
    value: Any,
    *,
    low: float = 0.0,
    low_open: bool = False,
    high: float | None = None,
    high_open: bool = False,
) -> float:
    """A finite float in the stated interval, else a one-line HyperparameterError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise HyperparameterError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise HyperparameterError(f"{name} must be finite, got {v}")
    lo_bad = v <= low if low_open else v < low
    hi_bad = high is not None and (v >= high if high_open else v > high)
    if lo_bad or hi_bad:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        top = "inf" if high is None else f"{high:g}"
        raise HyperparameterError(f"{name} must lie in {lo}{low:g}, {top}{hi}, got {v:g}")
    return v
