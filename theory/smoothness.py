"""An estimate of the smoothness constant L of a concrete network's loss at given parameters.

L here is the largest |eigenvalue| of the Hessian of E at ``params`` (the local smoothness
constant; a bound on it over a region is what the descent conditions need, so this is an
estimate, not a certificate, for the region around ``params``).

Hessian-vector products come from the trainer itself, exactly: the complex step through
backprop, ``H v = Im grad E(w + i h v) / h`` with ``h = 1e-30``. ``Network.loss_and_grad``
accepts complex parameters and every op is complex-analytic as coded, so the result carries no
truncation error (O(h^2) = 1e-60) and no cancellation: it is H v to rounding.

Two iterations on ``v -> H v``, both deterministic (start vector from
``numpy.random.default_rng(seed)``):

* ``"lanczos"`` (default): Lanczos with full reorthogonalisation, ``iters`` steps (capped at the
  number of parameters); the answer is the largest |Ritz value|. It is power iteration's Krylov
  space used fully, and it is exact once ``iters`` reaches the parameter count.
* ``"power"``: plain power iteration, ``|H v_k|`` for the normalised iterate (robust when the two
  extreme eigenvalues have equal size and opposite sign).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

Array = np.ndarray
H_STEP = 1e-30


def flatten(params: Mapping[str, Array], keys: list[str]) -> Array:
    if not keys:  # a net without parameters: an empty vector (concatenate refuses no arrays)
        return np.zeros(0)
    return np.concatenate([np.ravel(params[k]) for k in keys])


def unflatten(vec: Array, like: Mapping[str, Array], keys: list[str]) -> dict[str, Array]:
    out: dict[str, Array] = {}
    i = 0
    for k in keys:
        size = int(np.size(like[k]))
        out[k] = vec[i : i + size].reshape(np.shape(like[k]))
        i += size
    return out


class HessianOperator:
    """``v -> H v`` for a network's loss at ``params`` on ``(x, y)``, by complex step."""

    def __init__(self, net: Any, params: Mapping[str, Array], x: Array, y: Array) -> None:
        self.net = net
        self.x, self.y = net.check_data(x, y)
        self.keys = list(net.param_names)
        self.params = {k: np.asarray(params[k], dtype=np.float64) for k in self.keys}
        self.size = int(sum(np.size(v) for v in self.params.values()))
        self.w = flatten(self.params, self.keys)
        self.calls = 0

    def __call__(self, v: Array) -> Array:
        # one flat complex vector, handed to the network as views (entry by entry the same
        # numbers as shifting each parameter array)
        z = self.w + 1j * H_STEP * np.asarray(v, dtype=np.float64)
        _, g = self.net.loss_and_grad(unflatten(z, self.params, self.keys), self.x, self.y)
        self.calls += 1
        return flatten(g, self.keys).imag / H_STEP


def hessian_matrix(net: Any, params: Mapping[str, Array], x: Array, y: Array) -> Array:
    """The full Hessian, one complex-step product per parameter (small networks only)."""
    op = HessianOperator(net, params, x, y)
    eye = np.eye(op.size)
    return np.stack([op(eye[j]) for j in range(op.size)], axis=1)


def lanczos_extreme(op: HessianOperator, iters: int, seed: int) -> float:
    """Largest |Ritz value| after ``iters`` Lanczos steps with full reorthogonalisation."""
    n = op.size
    m = max(1, min(iters, n))
    q = np.random.default_rng(seed).standard_normal(n)
    q /= np.linalg.norm(q)
    Q = [q]
    alphas: list[float] = []
    betas: list[float] = []
    for j in range(m):
        w = op(Q[j])
        alpha = float(Q[j] @ w)
        alphas.append(alpha)
        basis = np.array(Q)
        for _ in range(2):  # full reorthogonalisation, twice is enough
            w = w - basis.T @ (basis @ w)
        beta = float(np.linalg.norm(w))
        scale = max(abs(a) for a in alphas) + (betas[-1] if betas else 0.0)
        if j == m - 1 or beta <= 1e-12 * max(scale, 1e-300):
            break
        betas.append(beta)
        Q.append(w / beta)
    T = (
        np.diag(alphas)
        + np.diag(betas[: len(alphas) - 1], 1)
        + np.diag(betas[: len(alphas) - 1], -1)
    )
    return float(np.max(np.abs(np.linalg.eigvalsh(T))))


def power_extreme(op: HessianOperator, iters: int, seed: int) -> float:
    """``|H v|`` for the unit iterate after ``iters`` steps of power iteration."""
    v = np.random.default_rng(seed).standard_normal(op.size)
    v /= np.linalg.norm(v)
    norm = 0.0
    for _ in range(max(1, iters)):
        w = op(v)
        norm = float(np.linalg.norm(w))
        if norm == 0.0:
            return 0.0
        v = w / norm
    return norm


def estimate_L(
    net: Any,
    params: Mapping[str, Array],
    x: Array,
    y: Array,
    iters: int = 60,
    seed: int = 0,
    method: str = "lanczos",
) -> float:
    """The largest |eigenvalue| of the Hessian of E at ``params`` on ``(x, y)``.

    ``net`` is a ``descentcheck.Network``; ``y`` targets or integer labels (as ``net`` accepts
    them). Deterministic for fixed ``seed``. ``method``: ``"lanczos"`` (exact to rounding once
    ``iters`` >= number of parameters) or ``"power"``."""
    if method not in ("lanczos", "power"):
        raise ValueError(f"unknown method {method!r}; known: lanczos, power")
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
        raise ValueError(f"iters must be a positive integer, got {iters!r}")
    op = HessianOperator(net, params, x, y)
    if not net.param_shapes:  # E does not depend on any parameter: its Hessian is 0 x 0
        return 0.0
    if method == "lanczos":
        return lanczos_extreme(op, iters, seed)
    return power_extreme(op, iters, seed)
