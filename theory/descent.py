"""Guaranteed-decrease regions from L-smoothness, as plain-float functions and report formulas.

Derived in :mod:`.descent_proofs` (SymPy); restated here as floats for the property tests,
without importing SymPy. With ``g = grad E(w_k)``, ``G = |g|`` and E L-smooth, one step ``d``
satisfies ``E(w_k + d) - E(w_k) <= c G^2``; the step is *guaranteed* to decrease E when
``c < 0`` (strict: on the boundary nothing is guaranteed). Conditions are sufficient, not
necessary.

================================  ============================================================
step                              guaranteed decrease iff (strict)
================================  ============================================================
gradient descent                  0 < lr < 2/L;  E_k - E_{k+1} >= lr (1 - L lr / 2) G^2
adaptive momentum                 tau + L (lr + tau)^2 / 2 < lr;
(alpha_k = tau |g_k|/|dw_{k-1}|)  i.e. tau < tau_max = lr (3 - s) / (1 + s), s = sqrt(1 + 4 L lr)
constant momentum beta            beta rho_k + L (lr + beta rho_k)^2 / 2 < lr,
                                  rho_k = |dw_{k-1}| / |g_k| (unbounded: no beta > 0 is safe for
                                  every step; heavy ball at lr = 1/L on f = L x^2/2 rises by
                                  beta^2 (f(x_0) - f*) at its second step, where rho_1 = inf)
================================  ============================================================

``REGIONS`` (built on first access, with SymPy) maps a name to a :class:`Region` carrying the
SymPy condition, LaTeX, MathML and a plain-words statement for the report.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "PAPER_CONDITIONS",
    "REGIONS",
    "Region",
    "adaptive_decrease_bound",
    "adaptive_guaranteed",
    "constant_momentum_decrease_bound",
    "constant_momentum_guaranteed",
    "gd_decrease_bound",
    "gd_guaranteed",
    "heavy_ball_worst_case_rise",
    "max_tau",
]


def _check(**values: float) -> None:
    for name, v in values.items():
        if isinstance(v, bool) or not hasattr(v, "__float__"):
            raise TypeError(f"{name} must be a number, got {v!r}")
        if math.isnan(float(v)) or float(v) < 0:
            raise ValueError(f"{name} must be a non-negative number, got {v!r}")


def _finite(**values: float) -> None:
    for name, v in values.items():
        if math.isinf(float(v)):
            raise ValueError(f"{name} must be finite, got {v!r}")


def gd_guaranteed(lr: float, L: float) -> bool:
    """One gradient-descent step ``w -= lr g`` surely decreases an L-smooth E (g != 0):
    ``0 < lr < 2/L`` (any lr > 0 when L = 0)."""
    _check(lr=lr, L=L)
    _finite(lr=lr, L=L)
    if L == 0:
        return lr > 0
    return 0 < lr < 2.0 / L


def gd_decrease_bound(lr: float, L: float, grad_norm: float) -> float:
    """``lr (1 - L lr / 2) |g|^2``: E_k - E_{k+1} is at least this much. Negative when
    lr > 2/L, where it bounds the possible increase instead."""
    _check(lr=lr, L=L, grad_norm=grad_norm)
    return lr * (1.0 - L * lr / 2.0) * grad_norm**2


def adaptive_guaranteed(lr: float, tau: float, L: float) -> bool:
    """One adaptive-momentum step (``alpha_k = tau |g_k| / |dw_{k-1}|``, per group or global)
    surely decreases an L-smooth E: ``tau + L (lr + tau)^2 / 2 < lr``."""
    _check(lr=lr, tau=tau, L=L)
    _finite(lr=lr, tau=tau, L=L)
    return tau + L * (lr + tau) ** 2 / 2.0 < lr


def max_tau(lr: float, L: float) -> float:
    """The supremum of the admissible tau for this lr (not attained: the region is open):
    ``lr (3 - s) / (1 + s)``, ``s = sqrt(1 + 4 L lr)``, equal to
    ``(sqrt(1 + 4 L lr) - 1 - L lr) / L`` (this form has no cancellation). Positive iff
    ``lr < 2/L``; at most ``1/(4L)``, reached at ``lr = 3/(4L)``. Zero or negative means no
    tau >= 0 is admissible. ``lr`` itself when L = 0."""
    _check(lr=lr, L=L)
    _finite(lr=lr, L=L)
    s = math.sqrt(1.0 + 4.0 * L * lr)
    return lr * (3.0 - s) / (1.0 + s)


def adaptive_decrease_bound(lr: float, tau: float, L: float, grad_norm: float) -> float:
    """``(lr - tau - L (lr + tau)^2 / 2) |g|^2``: E_k - E_{k+1} is at least this much."""
    _check(lr=lr, tau=tau, L=L, grad_norm=grad_norm)
    return (lr - tau - L * (lr + tau) ** 2 / 2.0) * grad_norm**2


def constant_momentum_guaranteed(lr: float, beta: float, L: float, ratio: float) -> bool:
    """One heavy-ball step ``dw_k = -lr g_k + beta dw_{k-1}`` surely decreases an L-smooth E
    when ``-lr + beta rho + L (lr + beta rho)^2 / 2 < 0``, ``rho = ratio = |dw_{k-1}| / |g_k|``
    (``inf`` when g_k = 0 and dw_{k-1} != 0: then never, for beta > 0)."""
    _check(lr=lr, beta=beta, L=L, ratio=ratio)
    _finite(lr=lr, beta=beta, L=L)
    if beta == 0:
        return gd_guaranteed(lr, L)
    if math.isinf(ratio):
        return False
    m = beta * ratio
    return m + L * (lr + m) ** 2 / 2.0 < lr


def constant_momentum_decrease_bound(
    lr: float, beta: float, L: float, ratio: float, grad_norm: float
) -> float:
    """``(lr - beta rho - L (lr + beta rho)^2 / 2) |g|^2`` (with ``rho |g| = |dw_{k-1}|``)."""
    _check(lr=lr, beta=beta, L=L, ratio=ratio, grad_norm=grad_norm)
    return (lr - beta * ratio - L * (lr + beta * ratio) ** 2 / 2.0) * grad_norm**2


def heavy_ball_worst_case_rise(beta: float, f0_minus_fstar: float) -> float:
    """The known worst case: on ``f = L x^2 / 2`` with lr = 1/L, heavy ball's second step raises
    f by exactly ``beta^2 (f(x_0) - f*)``."""
    _check(beta=beta, f0_minus_fstar=f0_minus_fstar)
    return beta**2 * f0_minus_fstar


PAPER_CONDITIONS = (
    "What the paper assumes, as we read it (NOT re-checked against the paper's text in this "
    "suite, and its constants are not reproduced): Agarwal, Klobusicky & Schonfeld (2021, arXiv "
    "1705.07404), generalising Wu et al. (2008, one hidden layer), train with full-batch "
    "gradients and the adaptive coefficient alpha_k = tau |g_k| / |dw_{k-1}| per weight group, "
    "and assume an activation with bounded phi, phi', phi''; bounded weights along the "
    "iteration; a momentum factor 0 < tau < 1; and lr and tau small enough, below bounds built "
    "from those constants of the network and the data. "
    "What is derived here: with L the smoothness constant of E, one step is guaranteed to "
    "decrease E when tau - lr + (L/2)(lr + tau)^2 < 0. "
    "How they relate: a proof of the Wu et al. kind bounds the same two terms (the first-order "
    "term via |alpha_k dw_{k-1}| = tau |g_k|, the second-order term by a constant C of the "
    "network that plays the role of L/2), giving a condition of the form "
    "tau - lr + C (lr + tau)^2 < 0. Whenever C >= L/2 such a condition implies ours, so ours is "
    "never more restrictive; with tau = s lr (0 < s < 1, the form Zhang, Wu & Zheng 2006 use) "
    "ours reads lr < 2 (1 - s) / (L (1 + s)^2). Our region forces tau < min(lr, 1/(4L)), which "
    "implies the paper's tau < 1 when lr <= 1 or L >= 1/4, not otherwise."
)


@dataclass(frozen=True)
class Region:
    """A guaranteed-decrease region, for the report and the property tests."""

    name: str
    condition: Any  # a SymPy strict inequality in lr, tau, beta, rho_k, L (positive symbols)
    latex: str
    mathml: str
    words: str
    guaranteed: Callable[..., bool]  # the plain-float test of the same condition


def _build_regions() -> dict[str, Region]:
    import sympy as sp

    from . import descent_proofs as dp
    from .mathml import math_block, presentation

    shown = {
        dp.lr: sp.Symbol("eta"),
        dp.tau: sp.Symbol("tau"),
        dp.beta: sp.Symbol("beta"),
        dp.ratio: sp.Symbol("rho_k"),
        dp.s: sp.Symbol("s"),
    }

    def tex(e: Any) -> str:
        return sp.latex(e.xreplace(shown))

    def mml(e: Any) -> str:
        return math_block(presentation(e.xreplace(shown)))

    conditions = {
        "gd": (
            sp.StrictLessThan(dp.lr, 2 / dp.L),
            "Gradient descent: one step w <- w - lr g decreases every L-smooth E (with g != 0) "
            "when 0 < lr < 2/L (strict); the decrease is at least lr (1 - L lr / 2) |g|^2.",
            gd_guaranteed,
        ),
        "adaptive_momentum": (
            sp.StrictLessThan(dp.tau + dp.L * (dp.lr + dp.tau) ** 2 / 2, dp.lr),
            "Adaptive momentum (alpha_k = tau |g_k| / |dw_{k-1}|, per group or global): one "
            "step decreases every L-smooth E when tau + L (lr + tau)^2 / 2 < lr (strict), i.e. "
            "tau < lr (3 - s)/(1 + s) with s = sqrt(1 + 4 L lr); such tau > 0 exist iff "
            "lr < 2/L, and tau < 1/(4L) always (the largest at lr = 3/(4L)).",
            adaptive_guaranteed,
        ),
        "adaptive_momentum_tau_proportional": (
            sp.StrictLessThan(dp.lr, 2 * (1 - dp.s) / (dp.L * (1 + dp.s) ** 2)),
            "Adaptive momentum with tau = s lr, 0 < s < 1 (the papers' parametrisation): the "
            "same region reads lr < 2 (1 - s) / (L (1 + s)^2) (strict).",
            lambda lr, s, L: adaptive_guaranteed(lr, s * lr, L),
        ),
        "constant_momentum": (
            sp.StrictLessThan(
                dp.beta * dp.ratio + dp.L * (dp.lr + dp.beta * dp.ratio) ** 2 / 2, dp.lr
            ),
            "Constant momentum beta: one step dw_k = -lr g_k + beta dw_{k-1} decreases every "
            "L-smooth E when beta rho_k + L (lr + beta rho_k)^2 / 2 < lr (strict), "
            "rho_k = |dw_{k-1}| / |g_k|. rho_k is unbounded (infinite when g_k = 0), so no "
            "beta > 0 is guaranteed safe at every step: heavy ball on f = L x^2 / 2 with "
            "lr = 1/L has g_1 = 0 and rises by exactly beta^2 (f(x_0) - f*) at its second step.",
            constant_momentum_guaranteed,
        ),
    }
    return {
        name: Region(name, cond, tex(cond), mml(cond), words, fn)
        for name, (cond, words, fn) in conditions.items()
    }


REGIONS: dict[str, Region]  # built on first access by __getattr__ below
_regions: dict[str, Region] | None = None


def __getattr__(name: str) -> Any:
    """``REGIONS`` is built on first access (it needs SymPy; the float functions do not)."""
    global _regions
    if name == "REGIONS":
        if _regions is None:
            _regions = _build_regions()
        return _regions
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
