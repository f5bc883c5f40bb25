"""The smoothness constant L of a concrete network and data set, as theory estimates it.

``descentcheck.theory.smoothness.estimate_L`` (Lanczos on exact complex-step Hessian-vector
products) is the suite's estimator. L is the largest |eigenvalue| of the Hessian of E at the given
parameters: a *local* constant, at w_0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from descentcheck.impl.network import Network

ESTIMATOR = (
    "Lanczos on exact complex-step Hessian-vector products "
    "(`descentcheck.theory.smoothness.estimate_L`)"
)


def estimate_L(
    net: Network,
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    iters: int = 50,
) -> float:
    """Largest |Hessian eigenvalue| of E at ``params`` (nan when it cannot be computed)."""
    from descentcheck.theory.smoothness import estimate_L as theory_estimate

    value = float(theory_estimate(net, dict(params), x, y, iters=iters, seed=0))
    return value if math.isfinite(value) else math.nan


def estimator_name() -> str:
    """How L is estimated, for the report's text."""
    return ESTIMATOR
