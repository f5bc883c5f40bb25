"""Exact one-step descent regions from L-smoothness, as plain-float functions.

Derived in :mod:`.descent_proofs` (SymPy), proved over the reals in :mod:`.descent_smt`
(z3) and refereed by PEPit at test time (``tox -e pep``). Without SymPy here: the property
tests call these per step.

The theorem (this suite's derivation; the descent lemma is Nesterov 2004, Lemma 1.2.3). Take
one step ``d = -lr g + m`` from ``w`` with ``g = grad E(w)``, ``G = |g|`` and a momentum vector
of length ``|m| = s G``. Over every L-smooth ``E`` (``grad E`` L-Lipschitz, curvature anywhere
in ``[-L, L]``, not necessarily convex) and every *direction* of ``m``::

    sup [E(w + d) - E(w)] = G^2 ((|1 - lr L| + s L)^2 - 1) / (2 L)             (L > 0)
                          = G^2 (s - lr)                                      (L = 0)

It is attained: ``E(x) = g.(x - w) + L |x - w|^2 / 2`` with ``m = sign(1 - lr L) s g``. So one
step is guaranteed to decrease every such E (g != 0) iff, strictly,

    s < min(lr, 2/L - lr),

and ``E(w) - E(w + d) >= (min(lr, 2/L - lr) - s) (1 + |1 - lr L| + s L) G^2 / 2``, an equality
for the worst E (the factored form has no cancellation at small L).

================================  ============================================================
step                              s (momentum length over |g_k|), region
================================  ============================================================
gradient descent                  s = 0:  0 < lr < 2/L
adaptive momentum                 s = tau (alpha_k = tau |g_k|/|dw_{k-1}| per group: the group
                                  lengths tau |g_G| add up in squares to tau G):
                                  tau < max_tau(lr, L) = min(lr, 2/L - lr)
heavy ball beta (torch buffer)    s = beta rho_k, rho_k = |dw_{k-1}| / |g_k| (unbounded: no
                                  beta > 0 is safe at every step)
Nesterov (torch form)             d = -lr (1 + beta) g_k - lr beta^2 b_{k-1}: effective lr
                                  lr (1 + beta), s = beta^2 rho_k, rho_k = lr |b_{k-1}| / |g_k|
RMSProp (D = diag(1/(sqrt(v)+e))) d = -lr D g:  lr < 2 g.Dg / (L |Dg|^2)  (per step; see
                                  :func:`rmsprop_guaranteed`)
================================  ============================================================

The previous (first-round) regions bounded ``g.m >= -|g||m|`` and ``|d| <= lr G + |m|`` at
once; they are kept, for comparison in the report only, in :mod:`.descent_cauchy_schwarz`.
``REGIONS`` (built on first access, with SymPy) maps a name to a :class:`Region` carrying the
SymPy condition, LaTeX, MathML and a plain-words statement for the report.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from descentcheck.registry.region_names import PROVED_FOR as PROVED_FOR
from descentcheck.registry.region_names import REGION_NAMES as REGION_NAMES

__all__ = [
    "PAPER_CONDITIONS",
    "PROVED_FOR",
    "REGIONS",
    "REGION_NAMES",
    "Region",
    "adaptive_decrease_bound",
    "adaptive_guaranteed",
    "constant_momentum_decrease_bound",
    "constant_momentum_guaranteed",
    "gd_decrease_bound",
    "gd_guaranteed",
    "heavy_ball_worst_case_rise",
    "max_tau",
    "momentum_step_decrease_bound",
    "momentum_step_guaranteed",
    "momentum_step_worst_case",
    "nesterov_decrease_bound",
    "nesterov_guaranteed",
    "rmsprop_decrease_bound",
    "rmsprop_guaranteed",
]


def _check(**values: float) -> None:
    for name, v in values.items():
        if isinstance(v, bool) or not hasattr(v, "__float__"):
            raise TypeError(f"{name} must be a number, got {v!r}")
        if math.isnan(float(v)) or float(v) < 0:
            raise ValueError(f"{name} must be a non-negative number, got {v!r}")


def _exact(v: Any) -> Fraction:
    """``v`` as an exact rational: ints, floats, Fractions and Decimals as Fraction reads them;
    any other number (a numpy float32, which Fraction refuses) through its float, exactly."""
    if isinstance(v, int | float | Fraction | Decimal):
        return Fraction(v)
    return Fraction(float(v))


def _finite(**values: float) -> None:
    for name, v in values.items():
        if math.isinf(float(v)):
            raise ValueError(f"{name} must be finite, got {v!r}")


# ---- the one theorem: d = -lr g + m, |m| = s |g| -------------------------------------------
#
# The verdicts (``*_guaranteed``) are exact for the floats they are handed: every comparison is
# made in rational arithmetic (``Fraction`` of a float is exact), never on a rounded 2/L - lr or
# a rounded product such as lr (1 + beta), which near the boundary could turn a step that can
# raise the loss into a guarantee. The bounds (``*_decrease_bound``) are values, evaluated
# exactly and rounded once, so their sign is exact too (up to underflow to 0).


def _inside(lr: Fraction, s: Fraction, L: Fraction) -> bool:
    """``0 < lr`` and ``s < min(lr, 2/L - lr)``, i.e. ``(lr + s) L < 2``, exactly."""
    return lr > 0 and s < lr and (L == 0 or (lr + s) * L < 2)


def momentum_step_guaranteed(lr: float, s: float, L: float) -> bool:
    """True iff one step ``d = -lr g + m`` with ``|m| = s |g|`` decreases every L-smooth E
    whatever the direction of m: ``s < min(lr, 2/L - lr)`` (strict; ``s < lr`` when L = 0),
    decided exactly for the given floats."""
    _check(lr=lr, s=s, L=L)
    _finite(lr=lr, s=s, L=L)
    return _inside(_exact(lr), _exact(s), _exact(L))


def _float(q: Fraction) -> float:
    """``q`` rounded to the nearest float (Python's int division rounds correctly), keeping its
    sign: beyond the float range it is +-inf, and a nonzero q below the least subnormal is that
    subnormal, so a bound's sign is always the exact verdict's."""
    try:
        v = float(q)
    except OverflowError:
        return math.inf if q > 0 else -math.inf
    if v == 0 and q != 0:
        return math.copysign(math.ulp(0.0), q)
    return v


def momentum_step_decrease_bound(lr: float, s: float, L: float, grad_norm: float) -> float:
    """The exact guaranteed decrease ``inf [E(w) - E(w + d)]`` over L-smooth E and directions
    of m: ``(min(lr, 2/L - lr) - s) (1 + |1 - lr L| + s L) G^2 / 2``. Negative outside the
    region, where its magnitude is the worst-case increase (attained)."""
    _check(lr=lr, s=s, L=L, grad_norm=grad_norm)
    if math.isinf(s):
        return -math.inf
    _finite(lr=lr, L=L, grad_norm=grad_norm)
    return _float(_decrease(_exact(lr), _exact(s), _exact(L), _exact(grad_norm)))


def _decrease(lr: Fraction, s: Fraction, L: Fraction, G: Fraction) -> Fraction:
    """``(min(lr, 2/L - lr) - s) (1 + |1 - lr L| + s L) G^2 / 2`` (``(lr - s) G^2`` at L = 0)."""
    if L == 0:
        return (lr - s) * G * G
    return (min(lr, 2 / L - lr) - s) * (1 + abs(1 - lr * L) + s * L) * G * G / 2


def momentum_step_worst_case(lr: float, s: float, L: float, grad_norm: float = 1.0) -> float:
    """``sup [E(w + d) - E(w)] = G^2 ((|1 - lr L| + s L)^2 - 1) / (2L)``: minus
    :func:`momentum_step_decrease_bound`."""
    return -momentum_step_decrease_bound(lr, s, L, grad_norm)


def max_tau(lr: float, L: float) -> float:
    """The supremum of the admissible momentum length over ``|g|`` for this lr (not attained:
    the region is open): ``min(lr, 2/L - lr)``; ``lr`` when L = 0. It peaks at ``1/L`` at
    ``lr = 1/L``. Zero or negative means that no s >= 0 is admissible (``lr >= 2/L``)."""
    _check(lr=lr, L=L)
    _finite(lr=lr, L=L)
    if L == 0:
        return float(lr)
    return min(float(lr), 2.0 / L - lr)


# ---- the named optimizers ---------------------------------------------------------------------


def gd_guaranteed(lr: float, L: float) -> bool:
    """One gradient-descent step ``w -= lr g`` surely decreases every L-smooth E (g != 0) iff
    ``0 < lr < 2/L`` (any lr > 0 when L = 0): the theorem with s = 0."""
    return momentum_step_guaranteed(lr, 0.0, L)


def gd_decrease_bound(lr: float, L: float, grad_norm: float) -> float:
    """``lr (1 - L lr / 2) |g|^2``, exact: the quadratic ``L |x - w|^2 / 2 + g.(x - w)``
    attains it. Negative when lr > 2/L, where it is minus the worst increase."""
    _check(lr=lr, L=L, grad_norm=grad_norm)
    _finite(lr=lr, L=L, grad_norm=grad_norm)
    lr_, L_, G = _exact(lr), _exact(L), _exact(grad_norm)
    return _float(lr_ * (1 - L_ * lr_ / 2) * G * G)


def adaptive_guaranteed(lr: float, tau: float, L: float) -> bool:
    """One adaptive-momentum step (``alpha_k = tau |g_k| / |dw_{k-1}|``, per group, unit, node
    or global: the momentum term has length exactly ``tau |g_k|``) surely decreases every
    L-smooth E iff ``tau < min(lr, 2/L - lr)``. Exact for a free direction of ``dw_{k-1}``, from
    k >= 1 with every group's ``dw_{k-1} != 0``; at k = 0 (``dw_{-1} = 0``), and in a group whose
    previous step is 0, ``alpha = 0`` and the term is shorter, so there the condition is
    sufficient, not exact (at k = 0 the step is gradient descent's: guaranteed iff
    ``0 < lr < 2/L``). Along one run ``dw_{k-1}`` comes from the same E's history, and there it is
    sufficient too: at k = 1 the step is heavy ball's (PEPit over that history, L = 1,
    ``|g_1| = |dw_0| = 1``, lr = 1/2, tau = 0.7: worst change -0.48, outside the region)."""
    return momentum_step_guaranteed(lr, tau, L)


def _tau_proportional_guaranteed(lr: float, s: float, L: float) -> bool:
    """:func:`adaptive_guaranteed` at ``tau = s lr`` (momentum proportional to the step),
    exactly."""
    _check(lr=lr, s=s, L=L)
    _finite(lr=lr, s=s, L=L)
    return _inside(_exact(lr), _exact(s) * _exact(lr), _exact(L))


def adaptive_decrease_bound(lr: float, tau: float, L: float, grad_norm: float) -> float:
    """The exact guaranteed decrease of an adaptive-momentum step (s = tau)."""
    return momentum_step_decrease_bound(lr, tau, L, grad_norm)


def _momentum_length(beta: float, ratio: float) -> float:
    # beta = 0 with an infinite ratio is plain GD, not 0 * inf
    return 0.0 if beta == 0 else beta * ratio


def _momentum_bound(lr: Fraction, s: Fraction | None, L: float, grad_norm: float) -> float:
    """:func:`_decrease` for exact ``lr`` and ``s`` (None: an unbounded s, -inf)."""
    if s is None:
        return -math.inf
    return _float(_decrease(lr, s, _exact(L), _exact(grad_norm)))


def constant_momentum_guaranteed(lr: float, beta: float, L: float, ratio: float) -> bool:
    """One heavy-ball step ``dw_k = -lr g_k + beta dw_{k-1}`` surely decreases every L-smooth E
    iff ``beta rho < min(lr, 2/L - lr)``, ``rho = ratio = |dw_{k-1}| / |g_k|``, decided exactly
    (``beta rho`` is not rounded). ``ratio = inf`` is an unbounded rho (g_k = 0 with
    dw_{k-1} != 0, or the a-priori worst case the sweep asks about): never for beta > 0; with
    beta = 0 the step is gradient descent's, and its verdict, like every verdict here, is for
    g_k != 0 (a zero step decreases nothing)."""
    _check(lr=lr, beta=beta, L=L, ratio=ratio)
    _finite(lr=lr, beta=beta, L=L)
    if math.isinf(ratio) and beta != 0:
        return False
    s = Fraction(0) if beta == 0 else _exact(beta) * _exact(ratio)
    return _inside(_exact(lr), s, _exact(L))


def constant_momentum_decrease_bound(
    lr: float, beta: float, L: float, ratio: float, grad_norm: float
) -> float:
    """The exact guaranteed decrease of a heavy-ball step (s = beta rho, not rounded), rounded
    once: its sign is :func:`constant_momentum_guaranteed`'s verdict."""
    _check(lr=lr, beta=beta, L=L, ratio=ratio, grad_norm=grad_norm)
    _finite(lr=lr, beta=beta, L=L, grad_norm=grad_norm)
    if beta == 0:
        return _momentum_bound(_exact(lr), Fraction(0), L, grad_norm)
    s = None if math.isinf(ratio) else _exact(beta) * _exact(ratio)
    return _momentum_bound(_exact(lr), s, L, grad_norm)


def nesterov_guaranteed(lr: float, beta: float, L: float, ratio: float) -> bool:
    """One step of torch's Nesterov SGD surely decreases every L-smooth E.

    torch: ``b_k = beta b_{k-1} + g_k``, ``w -= lr (g_k + beta b_k)``, so the step is
    ``d = -lr (1 + beta) g_k - lr beta^2 b_{k-1}``: the theorem with effective learning rate
    ``lr (1 + beta)`` and ``s = beta^2 rho``. Here ``ratio = rho = lr |b_{k-1}| / |g_k|``: the
    length of the previous buffer in parameter units (``lr b_{k-1}``, which is ``-dw_{k-1}``
    for heavy ball) over the current gradient's norm; 0 at the first step (``b_{-1} = 0``).
    Condition: ``beta^2 rho < min(lr (1 + beta), 2/L - lr (1 + beta))``."""
    _check(lr=lr, beta=beta, L=L, ratio=ratio)
    _finite(lr=lr, beta=beta, L=L)
    if math.isinf(ratio) and beta != 0:  # as constant_momentum_guaranteed
        return False
    b = _exact(beta)
    s = Fraction(0) if beta == 0 else b * b * _exact(ratio)
    return _inside(_exact(lr) * (1 + b), s, _exact(L))


def nesterov_decrease_bound(
    lr: float, beta: float, L: float, ratio: float, grad_norm: float
) -> float:
    """The exact guaranteed decrease of a Nesterov step (see :func:`nesterov_guaranteed`):
    ``lr (1 + beta)`` and ``beta^2 rho`` not rounded, the bound rounded once, so its sign is
    :func:`nesterov_guaranteed`'s verdict."""
    _check(lr=lr, beta=beta, L=L, ratio=ratio, grad_norm=grad_norm)
    _finite(lr=lr, beta=beta, L=L, grad_norm=grad_norm)
    b = _exact(beta)
    if beta == 0:
        return _momentum_bound(_exact(lr), Fraction(0), L, grad_norm)
    s = None if math.isinf(ratio) else b * b * _exact(ratio)
    return _momentum_bound(_exact(lr) * (1 + b), s, L, grad_norm)


# ---- RMSProp: a diagonal preconditioner known at the step ------------------------------------


def _rmsprop_inputs(grad: Any, scale: Any) -> tuple[list[float], list[float]]:
    g = [float(v) for v in _flat(grad)]
    dg = [float(v) for v in _flat(scale)]
    if len(g) != len(dg):
        raise ValueError(f"grad has {len(g)} entries but scale has {len(dg)}")
    if any(not (v > 0) or math.isinf(v) for v in dg):
        raise ValueError("scale (the diagonal 1/(sqrt(v) + eps)) must be finite and positive")
    return g, dg


def _rmsprop_terms(g: list[float], dg: list[float]) -> tuple[float, float, float]:
    """``(g.Dg, |Dg|^2, |g|^2)`` in floats (products rounded, sums exactly rounded)."""
    u = [a * b for a, b in zip(g, dg)]
    return (
        math.fsum(a * b for a, b in zip(g, u)),
        math.fsum(v * v for v in u),
        math.fsum(v * v for v in g),
    )


def _flat(a: Any) -> list[float]:
    if hasattr(a, "ravel"):
        return list(a.ravel().tolist())
    return [float(v) for v in a]


def rmsprop_decrease_bound(
    lr: float,
    L: float,
    grad: Any,
    scale: Any,
    momentum: float = 0.0,
    prev_step_norm: float = 0.0,
) -> float:
    """The exact guaranteed decrease of one RMSProp step ``d = -lr D g + m``, evaluated in
    rationals (``sqrt`` at 60 digits) and rounded once; its sign is
    :func:`rmsprop_guaranteed`'s verdict (float sums were NaN or 0 where it said guaranteed:
    held-out review).

    ``D = diag(scale)``, ``scale = 1/(sqrt(v_k) + eps)`` known at step k (v_k already includes
    g_k, as in torch), and torch's momentum option ``m = momentum * dw_{k-1}`` of length
    ``r = momentum * prev_step_norm``. Over every L-smooth E and direction of m::

        inf [E(w) - E(w + d)] = lr g.Dg - L lr^2 |Dg|^2 / 2 - r |g - L lr Dg| - L r^2 / 2,

    attained by ``E = g.(x - w) + L |x - w|^2 / 2`` with m along ``g - L lr Dg``. With
    ``momentum = 0`` it is positive iff ``lr < 2 g.Dg / (L |Dg|^2)``."""
    _check(lr=lr, L=L, momentum=momentum, prev_step_norm=prev_step_norm)
    _finite(lr=lr, L=L)
    g, dg = _rmsprop_inputs(grad, scale)
    if not all(map(math.isfinite, g)):
        return math.nan
    if momentum != 0 and math.isinf(prev_step_norm):
        return -math.inf
    r = Fraction(0) if momentum == 0 else _exact(momentum) * _exact(prev_step_norm)
    lr_, L_ = _exact(lr), _exact(L)
    gs, ds = [Fraction(v) for v in g], [Fraction(v) for v in dg]
    A = (
        lr_ * sum((a * a * b for a, b in zip(gs, ds)), Fraction(0))
        - L_ * lr_ * lr_ * sum((a * a * b * b for a, b in zip(gs, ds)), Fraction(0)) / 2
        - L_ * r * r / 2
    )
    if r == 0:
        return _float(A)
    import mpmath

    c = L_ * lr_
    V = sum(((a - c * b * a) ** 2 for a, b in zip(gs, ds)), Fraction(0))
    with mpmath.workdps(60):
        value = float(_mp(A) - _mp(r) * mpmath.sqrt(_mp(V)))
    positive = A > 0 and A * A > r * r * V  # the exact sign
    if positive != (value > 0):
        return math.ulp(0.0) if positive else -math.ulp(0.0)
    return value


def _mp(q: Fraction) -> Any:
    import mpmath

    return mpmath.mpf(q.numerator) / q.denominator


#: a float verdict stands when its margin exceeds this share of the terms' size; nearer the
#: boundary the sums are redone in rational arithmetic
_FILTER = 1e-12
#: the filter's error bracket is relative, so it holds only while no product underflows or
#: overflows: every term is a product of at most six of lr, L, r, g_i, D_i, so inputs within
#: 2^+-150 keep every product within 2^+-900; beyond, the verdict is rational (g = 1e-100,
#: D = 1e-65 squared |Dg|^2 to 0, and lr = 1e150 then read as guaranteed: held-out review)
_FILTER_RANGE = (2.0**-150, 2.0**150)


def _rmsprop_filter(lr: float, L: float, g: list[float], dg: list[float], r: float) -> bool | None:
    """The sign of ``A - r sqrt(V)`` (see :func:`_rmsprop_exact`) from float sums, or None when
    too near to call. The sums' terms are within a few eps (relative; 2^-1074 absolute where a
    product underflows), so A is within 1e-13 of the sum of its terms' sizes and V within
    ``delta`` = 1e-13 of its terms' sizes, ``sqrt(V)`` within ``sqrt(delta)``; the rounding of
    this bracket itself is under ``_FILTER`` of the size T."""
    if not all(_FILTER_RANGE[0] <= abs(v) <= _FILTER_RANGE[1] for v in (lr, L, r, *g, *dg) if v):
        return None
    gdg, dgdg, gg = _rmsprop_terms(g, dg)
    c = L * lr
    a1, a2, a3 = lr * gdg, c * lr * dgdg / 2.0, L * r * r / 2.0
    v = gg - 2.0 * c * gdg + c * c * dgdg
    delta = 1e-13 * (gg + 2.0 * c * gdg + c * c * dgdg)
    err = 1e-13 * (a1 + a2 + a3)
    A = a1 - a2 - a3
    high = r * math.sqrt(max(v, 0.0) + delta)
    size = a1 + a2 + a3 + high
    if not (math.isfinite(size) and size > 2.0**-900):
        return None
    if A - err - high > _FILTER * size:
        return True
    if A + err - r * math.sqrt(max(v - delta, 0.0)) < -_FILTER * size:
        return False
    return None


def _rmsprop_exact(lr: Fraction, L: Fraction, g: list[float], dg: list[float], r: Fraction) -> bool:
    """The sign of the decrease bound in rational arithmetic: ``A - r sqrt(V) > 0`` with
    ``A = lr g.Dg - L lr^2 |Dg|^2 / 2 - L r^2 / 2`` and ``V = |g - L lr Dg|^2`` holds iff
    ``A > 0`` and ``A^2 > r^2 V``."""
    gs, ds = [Fraction(v) for v in g], [Fraction(v) for v in dg]
    gdg = sum((a * a * b for a, b in zip(gs, ds)), Fraction(0))
    dgdg = sum((a * a * b * b for a, b in zip(gs, ds)), Fraction(0))
    A = lr * gdg - L * lr * lr * dgdg / 2 - L * r * r / 2
    if A <= 0:
        return False
    if r == 0:
        return True
    c = L * lr
    V = sum(((a - c * b * a) ** 2 for a, b in zip(gs, ds)), Fraction(0))
    return A * A > r * r * V


def rmsprop_guaranteed(
    lr: float,
    L: float,
    grad: Any,
    scale: Any,
    momentum: float = 0.0,
    prev_step_norm: float = 0.0,
) -> bool:
    """True iff the RMSProp step decreases every L-smooth E (see
    :func:`rmsprop_decrease_bound`); without momentum: ``0 < lr < 2 g.Dg / (L |Dg|^2)``.
    Decided exactly for the given floats: a float verdict far from the boundary, rational
    arithmetic near it."""
    _check(lr=lr, L=L, momentum=momentum, prev_step_norm=prev_step_norm)
    _finite(lr=lr, L=L)
    g, dg = _rmsprop_inputs(grad, scale)
    if lr == 0 or not any(g) or not all(map(math.isfinite, g)):
        return False
    if momentum != 0 and math.isinf(prev_step_norm):
        return False
    r = Fraction(0) if momentum == 0 else _exact(momentum) * _exact(prev_step_norm)
    verdict = _rmsprop_filter(lr, L, g, dg, _float(r))  # beyond floats: inf, then exact
    if verdict is not None:
        return verdict
    return _rmsprop_exact(_exact(lr), _exact(L), g, dg, r)


def heavy_ball_worst_case_rise(beta: float, f0_minus_fstar: float) -> float:
    """The known worst case: on ``f = L x^2 / 2`` with lr = 1/L, heavy ball's second step raises
    f by exactly ``beta^2 (f(x_0) - f*)``."""
    _check(beta=beta, f0_minus_fstar=f0_minus_fstar)
    return beta**2 * f0_minus_fstar


PAPER_CONDITIONS = (
    "What the paper assumes, as we read its abstract (NOT re-checked against the paper's text in "
    "this suite, and its constants are not reproduced): Agarwal, Klobusicky & Schonfeld (2021, "
    "arXiv 1705.07404), generalising Wu et al. (2008, one hidden layer), train with full-batch "
    "gradients and the adaptive coefficient alpha_k = tau |g_k| / |dw_{k-1}| per weight group, "
    "and assume a smooth activation with bounded derivatives phi', phi'' (the assumptions "
    "table marks where phi itself is unbounded: softplus, identity); bounded weights along the "
    "iteration; a momentum factor 0 < tau < 1; and lr and tau small enough, below bounds built "
    "from those constants of the network and the data. "
    "What is derived here (exact, this suite's own derivation): with L the smoothness constant "
    "of E, one step whose momentum term has length tau |g_k| decreases every L-smooth E, for "
    "every direction of that term, iff tau < min(lr, 2/L - lr); outside, an L-smooth quadratic "
    "and a momentum direction exist for which the step does not decrease E. "
    "How they relate: a proof of the Wu et al. kind bounds the first-order term via "
    "|alpha_k dw_{k-1}| = tau |g_k| and the second-order term by a constant C of the network "
    "that plays the role of L/2; any such sufficient condition lies inside the exact region "
    "(whenever C >= L/2), so the exact region is never more restrictive. In the papers' "
    "parametrisation tau = s lr, 0 < s < 1 (the form Zhang, Wu & Zheng 2006 use), the exact "
    "region reads lr < 2 / (L (1 + s)): (1 + s)/(1 - s) times the first-round Cauchy-Schwarz "
    "bound lr < 2 (1 - s) / (L (1 + s)^2), and non-empty even as s -> 1, where the old bound "
    "vanished. The exact region forces tau < 1/L (largest at lr = 1/L), which implies the "
    "paper's tau < 1 when L >= 1, not otherwise."
)


@dataclass(frozen=True)
class Region:
    """A guaranteed-decrease region, for the report and the property tests."""

    name: str
    condition: Any  # a SymPy strict inequality in lr, tau, beta, rho_k, L, ... (descent_proofs)
    latex: str
    mathml: str
    words: str
    guaranteed: Callable[..., bool]  # the plain-float test of the same condition
    #: a restriction the condition is stated under ("momentum = 0"), printed with it; "" for none
    applies_when: str = ""


def _conditions() -> dict[str, tuple[Any, str, Callable[..., bool]]]:
    """Each region's SymPy condition (in ``descent_proofs``' symbols), its words and its float
    test, in ``REGION_NAMES`` order."""
    import sympy as sp

    from . import descent_proofs as dp

    bound = dp.REGION_BOUND  # min(lr, 2/L - lr)
    lr_nesterov = dp.lr * (1 + dp.beta)
    conditions = {
        "gd": (
            sp.StrictLessThan(dp.lr, 2 / dp.L),
            "Gradient descent: one step w <- w - lr g decreases every L-smooth E (with g != 0) "
            "iff 0 < lr < 2/L (strict); the exact guaranteed decrease is lr (1 - L lr / 2) |g|^2.",
            gd_guaranteed,
        ),
        "adaptive_momentum": (
            sp.StrictLessThan(dp.tau, bound),
            "Adaptive momentum (alpha_k = tau |g_k| / |dw_{k-1}| per array, unit, node or "
            "global: the momentum term has length tau |g_k|): one step decreases every L-smooth "
            "E, whatever the direction of dw_{k-1}, iff tau < min(lr, 2/L - lr) (strict). The "
            "largest admissible tau is 1/L, at lr = 1/L. Outside, an L-smooth quadratic and a "
            "direction of dw_{k-1} exist for which the step does not decrease E. Exact for a free "
            "direction of dw_{k-1}, from k >= 1 with every group's dw_{k-1} != 0; at k = 0 "
            "(dw_{-1} = 0), and in a group whose previous step is 0, alpha = 0 and the term is "
            "shorter, so there the condition is sufficient, not exact (at k = 0 the step is "
            "gradient descent's: 0 < lr < 2/L). Along one run dw_{k-1} comes from the same E's "
            "history, and the condition is sufficient there too (PEPit at k = 1, L = 1, "
            "|g_1| = |dw_0| = 1, lr = 1/2, tau = 0.7: worst change -0.48, as for heavy ball).",
            adaptive_guaranteed,
        ),
        "adaptive_momentum_tau_proportional": (
            sp.StrictLessThan(dp.lr, 2 / (dp.L * (1 + dp.s_paper))),
            "Adaptive momentum with tau = s lr, 0 < s < 1 (momentum proportional to the step): the "
            "exact region reads lr < 2 / (L (1 + s)) (strict), (1 + s)/(1 - s) times the "
            "first round's Cauchy-Schwarz bound 2 (1 - s) / (L (1 + s)^2).",
            _tau_proportional_guaranteed,
        ),
        "constant_momentum": (
            sp.StrictLessThan(dp.beta * dp.ratio, bound),
            "Heavy ball (constant beta): one step dw_k = -lr g_k + beta dw_{k-1} decreases every "
            "L-smooth E iff beta rho_k < min(lr, 2/L - lr) (strict), rho_k = |dw_{k-1}| / |g_k|. "
            "rho_k is unbounded (infinite when g_k = 0), so no beta > 0 is guaranteed safe at "
            "every step: heavy ball on f = L x^2 / 2 with lr = 1/L has g_1 = 0 and rises by "
            "exactly beta^2 (f(x_0) - f*) at its second step. 'Every' takes dw_{k-1} free: "
            "along a run of one f, dw_{k-1} comes from that f's history, and for lr L < 1 a "
            "step outside can still decrease every such f (PEPit over the history, L = 1, "
            "|g_k| = |dw_{k-1}| = 1, lr = 1/2, beta = 0.7: worst change -0.48 at the second "
            "step against +0.22 for a free dw_{k-1}); so along runs the region is sufficient.",
            constant_momentum_guaranteed,
        ),
        "nesterov": (
            sp.StrictLessThan(dp.beta**2 * dp.ratio, bound.subs(dp.lr, lr_nesterov)),
            "Nesterov (torch: b_k = beta b_{k-1} + g_k, w -= lr (g_k + beta b_k)): the step is "
            "-lr (1 + beta) g_k - lr beta^2 b_{k-1}, so it decreases every L-smooth E iff "
            "beta^2 rho_k < min(lr (1 + beta), 2/L - lr (1 + beta)) (strict), with "
            "rho_k = lr |b_{k-1}| / |g_k|.",
            nesterov_guaranteed,
        ),
        "rmsprop": (
            sp.StrictLessThan(dp.lr, 2 * dp.p / (dp.L * dp.q)),
            "RMSProp (D = diag(1/(sqrt(v_k) + eps)) known at step k, v_k including g_k): one "
            "step w -= lr D g decreases every L-smooth E iff lr < 2 p_k / (L q_k), "
            "p_k = g^T D g, q_k = |D g|^2 (strict): a condition on the step's own g and D, "
            "checked per step. With torch's momentum option the worst case adds "
            "r |g - L lr D g| + L r^2 / 2, "
            "r = momentum |dw_{k-1}| (rmsprop_decrease_bound).",
            rmsprop_guaranteed,
        ),
    }
    # one list of names: the registry refuses a plugin's region name from REGION_NAMES
    assert tuple(conditions) == REGION_NAMES, (tuple(conditions), REGION_NAMES)
    return conditions


#: adaptive momentum's term has length tau |g_k| only where alpha_k is not 0: from k = 1 on, in
#: every group whose previous step is nonzero (at k = 0 the step is gradient descent's); exact
#: for a free direction of that term, sufficient along one run (the region's words)
_EVERY_GROUP_MOVED = "k >= 1, every group's previous step nonzero, its direction free"


def _build_regions() -> dict[str, Region]:
    import sympy as sp

    from . import descent_proofs as dp
    from .mathml import math_block, presentation

    shown = {
        dp.lr: sp.Symbol("eta"),
        dp.tau: sp.Symbol("tau"),
        dp.beta: sp.Symbol("beta"),
        dp.ratio: sp.Symbol("rho_k"),
        dp.s_paper: sp.Symbol("s"),
        dp.p: sp.Symbol("p_k"),  # g_k^T D g_k
        dp.q: sp.Symbol("q_k"),  # |D g_k|^2
    }

    def tex(e: Any) -> str:
        return sp.latex(e.xreplace(shown))

    def mml(e: Any) -> str:
        return math_block(presentation(e.xreplace(shown)))

    # RMSProp's derivation carries torch's momentum buffer; its condition is the momentum-free
    # one (with momentum the worst case adds r |g - L lr D g| + L r^2 / 2, no closed-form lr)
    # the conditions in lr alone hold for lr > 0 only (a zero step decreases nothing): said
    # beside them, as the float tests decide (the others imply it through tau < lr)
    scope = {
        "gd": "lr > 0",
        "adaptive_momentum": _EVERY_GROUP_MOVED,
        "adaptive_momentum_tau_proportional": f"lr > 0, 0 <= s < 1, {_EVERY_GROUP_MOVED}",
        "rmsprop": "momentum = 0, lr > 0",
    }
    return {
        name: Region(name, cond, tex(cond), mml(cond), words, fn, scope.get(name, ""))
        for name, (cond, words, fn) in _conditions().items()
    }


# PROVED_FOR (each region and the update its proof covers) and REGION_NAMES are plain data in
# the registry, which checks plugins' region names without importing theory; re-exported here

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
