"""Local smoothness along a step: exact Hessian-vector products by the complex step.

The loss is not globally L-smooth (a dense layer feeding another makes E grow like a polynomial
of degree 4 in the weights), so every descent claim is conditioned on a *local* constant. For the
step ``d = w_{k+1} - w_k`` the one-dimensional descent lemma (Taylor with integral remainder of
``phi(t) = E(w_k + t d)``) gives::

    E(w_{k+1}) = E(w_k) + g_k . d + int_0^1 (1 - t) phi''(t) dt
              <= E(w_k) + g_k . d + (kappa / 2) |d|^2,
    kappa = sup_{t in [0, 1]} u^T H(w_k + t d) u,    u = d / |d|,

and ``kappa <= sup ||H||`` over the segment, so every bound proved from L-smoothness holds with
``L = kappa``. :func:`segment_L` estimates it as ``safety * max_t |u^T H(w_k + t d) u|`` over a few
points t of the segment. Each curvature is exact to rounding: the complex step
``H v = Im(grad E(w + i h v)) / h + O(h^2)`` (Squire & Trapp 1998; Pearlmutter 1994 for
Hessian-vector products), here with h = 1e-20 and no subtractive cancellation.

The largest |eigenvalue| of H at one point (power iteration) comes from
``descentcheck.theory.smoothness.estimate_L`` when theory provides it, else from the same
algorithm here (:func:`power_iteration_L`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from descentcheck.impl.network import Network

Array = np.ndarray
Params = Mapping[str, Array]

H_STEP = 1e-20
SEGMENT_POINTS = (0.0, 0.25, 0.5, 0.75, 1.0)
SAFETY = 1.5


def flatten(params: Params, names: Sequence[str]) -> Array:
    """The parameters as one vector, in ``names`` order."""
    return np.concatenate([np.ravel(params[k]) for k in names])


def unflatten(vec: Array, like: Params) -> dict[str, Array]:
    """Inverse of :func:`flatten` for the names and shapes of ``like`` (its key order)."""
    out: dict[str, Array] = {}
    i = 0
    for k, v in like.items():
        n = int(np.size(v))
        out[k] = vec[i : i + n].reshape(np.shape(v))
        i += n
    return out


def hvp(net: Network, params: Params, v: Array, x: Array, y: Array) -> Array:
    """``H(w) v`` for the flattened direction ``v``, by the complex step through backprop."""
    names = list(params)
    w = flatten(params, names) + 1j * H_STEP * v
    _, g = net.loss_and_grad(unflatten(w, params), x, y)
    return flatten(g, names).imag / H_STEP


def curvature(net: Network, params: Params, u: Array, x: Array, y: Array) -> float:
    """``u^T H(w) u`` for a unit vector ``u``."""
    return float(u @ hvp(net, params, u, x, y))


def segment_L(
    net: Network,
    w0: Params,
    w1: Params,
    x: Array,
    y: Array,
    points: Sequence[float] = SEGMENT_POINTS,
    safety: float = SAFETY,
) -> float:
    """``safety * max_t |u^T H(w0 + t (w1 - w0)) u|``, u the unit step direction (0 for no step)."""
    names = list(w0)
    a, b = flatten(w0, names), flatten(w1, names)
    d = b - a
    nd = float(np.linalg.norm(d))
    if nd == 0.0:
        return 0.0
    u = d / nd
    worst = max(abs(curvature(net, unflatten(a + t * d, w0), u, x, y)) for t in points)
    return safety * worst


def power_iteration_L(
    net: Network, params: Params, x: Array, y: Array, iters: int = 50, seed: int = 0
) -> float:
    """Largest |eigenvalue| of the Hessian at ``params`` by power iteration on complex-step
    Hessian-vector products (a lower bound of it that tightens with ``iters``).

    The start vector is fixed by ``seed`` (an algorithm constant, not test input)."""
    n = sum(int(np.size(v)) for v in params.values())
    v = np.random.default_rng(seed).standard_normal(n)
    v /= np.linalg.norm(v)
    lam = 0.0
    for _ in range(iters):
        hv = hvp(net, params, v, x, y)
        lam_new = float(np.linalg.norm(hv))
        if lam_new == 0.0 or not np.isfinite(lam_new):
            return lam_new
        v = hv / lam_new
        if abs(lam_new - lam) <= 1e-10 * lam_new:
            return lam_new
        lam = lam_new
    return lam


def estimate_L(net: Network, params: Params, x: Array, y: Array, iters: int = 50) -> float:
    """Largest |Hessian eigenvalue| at ``params``: theory's estimator, or the fallback above."""
    try:
        from descentcheck.theory.smoothness import estimate_L as theory_estimate
    except ImportError:
        return power_iteration_L(net, params, x, y, iters=iters)
    return float(theory_estimate(net, dict(params), x, y, iters=iters, seed=0))
