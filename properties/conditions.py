"""The descent conditions the claims are conditioned on: theory's, with a private fallback.

From L-smoothness, ``E(w + d) <= E(w) + g.d + (L/2)|d|^2`` (Nesterov 2004, Lemma 1.2.3), with
``g = grad E(w)``. Writing each step's worst case (``descentcheck.theory.descent`` derives them
symbolically; the formulas are repeated here because the claims state them)::

    gradient descent   d = -lr g:
        E(w + d) <= E(w) - lr (1 - L lr / 2) |g|^2,              decrease iff lr < 2/L
    adaptive momentum  d = -lr g + alpha dw_{k-1}, |alpha dw_{k-1}| = tau |g| per group:
        g.d <= (tau - lr)|g|^2,  |d| <= (lr + tau)|g|
        E(w + d) <= E(w) - (lr - tau - L (lr + tau)^2 / 2) |g|^2,  region tau + L(lr+tau)^2/2 < lr
    constant momentum  d = -lr g + beta dw_{k-1},  ratio r = |dw_{k-1}| / |g|:
        E(w + d) <= E(w) - (lr - beta r - L (lr + beta r)^2 / 2) |g|^2

The functions are taken from ``descentcheck.theory.descent`` when it is importable; the local
definitions below are used otherwise and are the same formulas.
"""

from __future__ import annotations

import math

try:  # theory owns the derivations; these are the names it exports
    from descentcheck.theory.descent import (
        adaptive_guaranteed,
        constant_momentum_guaranteed,
        gd_guaranteed,
        max_tau,
    )

    THEORY = "descentcheck.theory.descent"
except ImportError:  # pragma: no cover - only while theory is absent
    THEORY = "descentcheck.properties.conditions (fallback)"

    def gd_guaranteed(lr: float, L: float) -> bool:
        return lr * L < 2.0

    def adaptive_guaranteed(lr: float, tau: float, L: float) -> bool:
        return tau + L * (lr + tau) ** 2 / 2.0 < lr

    def max_tau(lr: float, L: float) -> float:
        return _max_tau(lr, L)

    def constant_momentum_guaranteed(lr: float, beta: float, L: float, ratio: float) -> bool:
        s = lr + beta * ratio
        return -lr + beta * ratio + L * s * s / 2.0 < 0.0


def _max_tau(lr: float, L: float) -> float:
    """Largest tau with ``tau + L (lr + tau)^2 / 2 <= lr``: with u = lr + tau,
    ``L u^2 / 2 + u - 2 lr = 0`` gives ``u = (sqrt(1 + 4 L lr) - 1) / L``; negative when
    lr >= 2/L (no momentum is safe then)."""
    if L <= 0.0:
        return math.inf
    return 4.0 * lr / (math.sqrt(1.0 + 4.0 * L * lr) + 1.0) - lr


def gd_coefficient(lr: float, L: float) -> float:
    """c in ``E(w_{k+1}) <= E(w_k) - c |g_k|^2`` for gradient descent: ``lr (1 - L lr / 2)``."""
    return lr * (1.0 - L * lr / 2.0)


def adaptive_coefficient(lr: float, tau: float, L: float) -> float:
    """c for adaptive momentum: ``lr - tau - L (lr + tau)^2 / 2`` (tau = 0 is gradient descent)."""
    return lr - tau - L * (lr + tau) ** 2 / 2.0


def constant_momentum_coefficient(lr: float, beta: float, L: float, ratio: float) -> float:
    """c for constant momentum: ``lr - beta r - L (lr + beta r)^2 / 2``, r = |dw_{k-1}|/|g_k|."""
    s = lr + beta * ratio
    return lr - beta * ratio - L * s * s / 2.0


__all__ = [
    "THEORY",
    "adaptive_coefficient",
    "adaptive_guaranteed",
    "constant_momentum_coefficient",
    "constant_momentum_guaranteed",
    "gd_coefficient",
    "gd_guaranteed",
    "max_tau",
]
