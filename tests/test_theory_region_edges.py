"""Every float verdict of ``theory.descent`` against the truth at points a hair from its boundary.

A held-out audit moved bounds by about 1% (the tau = s lr region's float verdict scaled by 0.99,
its printed condition's 2 by 2.02, Nesterov's printed beta^2 rho by 0.99, the RMSProp momentum
filter's L r^2 / 2 by 2.02): the random points of ``python -m descentcheck.theory`` and of the
other tests lay too far from the boundaries to see them. Here each point lies at a drawn relative
distance 2^-k (k up to 50) inside or outside, and the truth is taken exactly: the printed SymPy
condition evaluated on the floats' exact rational values, and for RMSProp with momentum its
worst case written out again and evaluated in mpmath at 80 digits.
"""

from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from descentcheck.properties.profiles import TEST_PROFILE_MANY, hypothesis_settings
from descentcheck.theory import descent

SETTINGS = hypothesis_settings(TEST_PROFILE_MANY)

# the regions' symbols by name (theory.descent_proofs): lr L and friends, rho_k, s_p, p, q
_NAMES = ("L", "lr", "tau", "beta", "rho_k", "s_p", "p", "q")


def _truth(region: str, **values: float | Fraction) -> bool:
    """The printed SymPy condition of ``region`` at the exact values given (floats, Fractions)."""
    cond = descent.REGIONS[region].condition
    by_name = {str(sym): sym for sym in cond.free_symbols}
    subs = {by_name[n]: sp.Rational(Fraction(v)) for n, v in values.items() if n in by_name}
    assert set(by_name) <= set(values), (region, by_name, values)
    return bool(cond.subs(subs))


def _near(edge: Fraction, side: int, k: int) -> float:
    """A float at relative distance about 2^-k from ``edge`` > 0, above it (side 1) or below."""
    return float(edge * (1 + side * Fraction(1, 2**k)))


lengths = st.integers(1, 64).map(lambda i: Fraction(i, 8))  # L and friends: 1/8 .. 8
sides = st.sampled_from([-1, 1])
closeness = st.integers(1, 50)


@SETTINGS
@given(L=lengths, a=st.integers(1, 199), side=sides, k=closeness)
def test_gd_and_the_momentum_regions_decide_as_their_printed_conditions(L, a, side, k):
    """lr L = a / 100 in (0, 2); s (tau, beta rho, Nesterov's beta^2 rho) a hair from
    min(lr, 2/L - lr); GD's lr a hair from 2/L."""
    lr = Fraction(a, 100) / L
    edge = min(lr, 2 / L - lr)
    Lf, lrf, s = float(L), float(lr), _near(edge, side, k)
    assert descent.adaptive_guaranteed(lrf, s, Lf) is _truth(
        "adaptive_momentum", L=Lf, lr=lrf, tau=s
    )
    beta = 0.75
    rho = _near(edge / Fraction(beta), side, k)
    assert descent.constant_momentum_guaranteed(lrf, beta, Lf, rho) is _truth(
        "constant_momentum", L=Lf, lr=lrf, beta=beta, rho_k=rho
    )
    # Nesterov: the rate lr (1 + beta), s = beta^2 rho (lr (1 + beta) L = a / 100 again)
    lr_n = lr / Fraction(1 + beta)
    rho_n = _near(edge / Fraction(beta) ** 2, side, k)
    lrf_n = float(lr_n)
    assert descent.nesterov_guaranteed(lrf_n, beta, Lf, rho_n) is _truth(
        "nesterov", L=Lf, lr=lrf_n, beta=beta, rho_k=rho_n
    )
    lr_gd = _near(2 / L, side, k)
    assert descent.gd_guaranteed(lr_gd, Lf) is _truth("gd", L=Lf, lr=lr_gd)


@SETTINGS
@given(L=lengths, s100=st.integers(1, 99), side=sides, k=closeness)
def test_the_tau_proportional_region_decides_as_its_printed_condition(L, s100, side, k):
    """tau = s lr, 0 < s < 1: lr a hair from 2 / (L (1 + s)); the float verdict (its own
    function) and the printed condition, exactly."""
    s = s100 / 100
    lr = _near(2 / (L * (1 + Fraction(s))), side, k)
    want = _truth("adaptive_momentum_tau_proportional", L=float(L), lr=lr, s_p=s)
    assert descent.REGIONS["adaptive_momentum_tau_proportional"].guaranteed(lr, s, float(L)) is want
    assert want is (side < 0)  # the point lies on the side drawn: the printed 2 is the truth's


def _rmsprop_worst(lr: float, L: float, g: np.ndarray, d: np.ndarray, r: mpmath.mpf) -> mpmath.mpf:
    """The worst change of one RMSProp step d = -lr D g + m, |m| = r, over L-smooth E, written
    out again from the README: -lr g.Dg + L lr^2 |Dg|^2 / 2 + r |g - L lr D g| + L r^2 / 2, at
    80 digits (every product of two floats exact)."""
    with mpmath.workdps(80):
        lr_, L_ = mpmath.mpf(lr), mpmath.mpf(L)
        dg = [mpmath.mpf(float(a)) * mpmath.mpf(float(b)) for a, b in zip(g, d)]
        p = mpmath.fsum(mpmath.mpf(float(a)) * b for a, b in zip(g, dg))
        q = mpmath.fsum(v * v for v in dg)
        rest = mpmath.sqrt(
            mpmath.fsum((mpmath.mpf(float(a)) - L_ * lr_ * b) ** 2 for a, b in zip(g, dg))
        )
        return -lr_ * p + L_ * lr_**2 * q / 2 + r * rest + L_ * r**2 / 2


@SETTINGS
@given(
    L=lengths,
    g=st.lists(st.integers(-8, 8).filter(bool), min_size=1, max_size=3),
    v=st.lists(st.integers(1, 16), min_size=3, max_size=3),
    a=st.integers(1, 99),
    momentum=st.sampled_from([0.0, 0.5, 0.9]),
    side=sides,
    k=closeness,
)
def test_rmsprops_verdict_is_the_sign_of_its_worst_case_a_hair_from_zero(
    L, g, v, a, momentum, side, k
):
    """RMSProp with D = diag(1 / (sqrt(v) + eps)) (eps 1e-8): without momentum lr a hair from
    2 g.Dg / (L |Dg|^2) (and the printed condition at that point, exactly); with it, lr inside
    that and the previous step's length a hair from where the worst case turns positive."""
    grad = np.array(g, dtype=float)
    scale = 1.0 / (np.sqrt(np.array(v[: len(g)], dtype=float)) + 1e-8)
    Lf = float(L)
    dg = [Fraction(x) * Fraction(d) for x, d in zip(grad, scale)]
    p = sum(Fraction(x) * d for x, d in zip(grad, dg))
    q = sum(d * d for d in dg)
    top = 2 * p / (L * q)
    if momentum == 0.0:
        lr = _near(top, side, k)
        got = descent.rmsprop_guaranteed(lr, Lf, grad, scale)
        assert got is _truth("rmsprop", L=Lf, lr=lr, p=p, q=q)
        assert got is (_rmsprop_worst(lr, Lf, grad, scale, mpmath.mpf(0)) < 0)
        return
    lr = float(top * Fraction(a, 100))
    with mpmath.workdps(80):  # where the worst case, quadratic in r, crosses 0
        w0 = _rmsprop_worst(lr, Lf, grad, scale, mpmath.mpf(0))
        slope = _rmsprop_worst(lr, Lf, grad, scale, mpmath.mpf(1)) - w0 - mpmath.mpf(Lf) / 2
        edge = (-slope + mpmath.sqrt(slope**2 - 2 * Lf * w0)) / Lf
        prev = float(edge * (1 + side * mpmath.mpf(2) ** -k) / momentum)
        r = mpmath.mpf(momentum) * mpmath.mpf(prev)  # exact, as the API takes it
        want = _rmsprop_worst(lr, Lf, grad, scale, r) < 0
    assert want is (side < 0)  # the point lies on the side drawn
    assert descent.rmsprop_guaranteed(lr, Lf, grad, scale, momentum, prev) is want
