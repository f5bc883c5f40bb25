"""The smoothness constant L of a concrete network and data set, as theory estimates it.

``descentcheck.theory.smoothness.estimate_L`` (Lanczos on exact complex-step Hessian-vector
products) is the suite's estimator; while a checkout lacks it, power iteration from
``descentcheck.properties.curvature`` is used. Either way L is the largest |eigenvalue| of the
Hessian of E at the given parameters: a *local* constant, at w_0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from descentcheck.impl.network import Network


def estimate_L(
    net: Network,
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    iters: int = 50,
) -> float:
    """Largest |Hessian eigenvalue| of E at ``params`` (nan when it cannot be computed)."""
    try:
        from descentcheck.theory.smoothness import estimate_L as theory_estimate
    except ImportError:
        from descentcheck.properties.curvature import power_iteration_L

        value = power_iteration_L(net, dict(params), x, y, iters=iters)
    else:
        value = theory_estimate(net, dict(params), x, y, iters=iters, seed=0)
    value = float(value)
    return value if math.isfinite(value) else math.nan


def estimator_name() -> str:
    """How L is estimated, for the report's text."""
    try:
        import descentcheck.theory.smoothness  # noqa: F401
    except ImportError:
        return "power iteration on complex-step Hessian-vector products (properties.curvature)"
    return (
        "Lanczos on exact complex-step Hessian-vector products "
        "(`descentcheck.theory.smoothness.estimate_L`)"
    )
