"""Local smoothness along a step, from theory's exact Hessian-vector products.

The loss is not globally L-smooth (a dense layer feeding another makes E grow like a polynomial
of degree 4 in the weights), so every descent claim is conditioned on a *local* constant. For the
step ``d = w_{k+1} - w_k`` the one-dimensional descent lemma (Taylor with integral remainder of
``phi(t) = E(w_k + t d)``) gives::

    E(w_{k+1}) = E(w_k) + g_k . d + int_0^1 (1 - t) phi''(t) dt
              <= E(w_k) + g_k . d + (kappa / 2) |d|^2,
    kappa = sup_{t in [0, 1]} u^T H(w_k + t d) u,    u = d / |d|,

and ``kappa <= sup ||H||`` over the segment, so every bound proved from L-smoothness holds with
``L = kappa``. :func:`segment_L` estimates it as ``SAFETY * max_t |u^T H(w_k + t d) u|`` over the
points ``SEGMENT_POINTS`` of the segment (a sampled supremum with a safety factor: an estimate,
stated as such in every claim's conditions). Each curvature is exact to rounding:
``descentcheck.theory.smoothness.HessianOperator`` computes ``H v`` by the complex step through
backprop. The largest |eigenvalue| at one point is theory's ``estimate_L`` (Lanczos).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from descentcheck.impl.network import Network
from descentcheck.theory.smoothness import HessianOperator, flatten, unflatten
from descentcheck.theory.smoothness import estimate_L as _estimate_L

Array = np.ndarray
Params = Mapping[str, Array]

SEGMENT_POINTS = (0.0, 0.25, 0.5, 0.75, 1.0)
SAFETY = 1.5


def curvature(net: Network, params: Params, u: Array, x: Array, y: Array) -> float:
    """``u^T H(w) u`` for a unit vector ``u`` (flattened in ``net.param_names`` order)."""
    return float(u @ HessianOperator(net, params, x, y)(u))


def segment_L(
    net: Network,
    w0: Params,
    w1: Params,
    x: Array,
    y: Array,
    points: Sequence[float] = SEGMENT_POINTS,
    safety: float = SAFETY,
) -> float:
    """``safety * max_t |u^T H(w0 + t (w1 - w0)) u|``, u the unit step direction (0 for no
    step, NaN when the step is not finite)."""
    keys = list(net.param_names)
    a, b = flatten(w0, keys), flatten(w1, keys)
    d = b - a
    nd = float(np.linalg.norm(d))
    if not np.isfinite(nd):
        return float("nan")
    if nd == 0.0:
        return 0.0
    u = d / nd
    worst = max(abs(curvature(net, unflatten(a + t * d, w0, keys), u, x, y)) for t in points)
    return safety * worst


def estimate_L(net: Network, params: Params, x: Array, y: Array, iters: int = 40) -> float:
    """Largest |Hessian eigenvalue| at ``params`` (theory's Lanczos estimate, fixed start)."""
    return float(_estimate_L(net, dict(params), x, y, iters=iters, seed=0))
