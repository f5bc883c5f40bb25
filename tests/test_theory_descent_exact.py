"""The float region tests of ``theory.descent`` decide exactly for the floats they are handed.

Near the boundary a float evaluation of ``2/L - lr`` (or of ``lr (1 + beta)``, ``beta rho``, RMSProp's
sums) rounds either way, so it could call a step that can raise the loss guaranteed (a held-out
review found 1762 such points in 100,000 near the adaptive-momentum boundary). The references
here are independent of the code: the theorem's worst case ``(|1 - lr L| + s L)^2 < 1`` in
rationals, and RMSProp's worst case in 300-digit mpmath.
"""

from __future__ import annotations

import math
from fractions import Fraction as F

import mpmath
from hypothesis import assume, given
from hypothesis import strategies as st

from descentcheck.properties.profiles import (
    TEST_PROFILE_MANY,
    TEST_PROFILE_MEDIUM,
    hypothesis_settings,
)
from descentcheck.theory import descent

positive = st.floats(min_value=2.0**-40, max_value=2.0**40)
ulps = st.integers(min_value=-3, max_value=3)


def _nudge(x: float, k: int) -> float:
    for _ in range(abs(k)):
        x = math.nextafter(x, math.inf if k > 0 else 0.0)
    return x


def _worst_case_negative(lr: F, s: F, L: F) -> bool:
    """sup [E(w + d) - E(w)] < 0 (|g| = 1): the theorem's worst case, not the region's form."""
    if lr <= 0:
        return False
    if L == 0:
        return s - lr < 0
    return (abs(1 - lr * L) + s * L) ** 2 < 1


@st.composite
def near_edge(draw: st.DrawFn) -> tuple[float, float, float]:
    """(lr, s, L) with s within a few ulps of one edge of min(lr, 2/L - lr), as floats give it."""
    L = draw(positive)
    lr = draw(st.floats(min_value=0.0, max_value=2.2)) / L
    edge = lr if draw(st.booleans()) else 2.0 / L - lr
    return lr, max(_nudge(edge, draw(ulps)), 0.0), L


@hypothesis_settings(TEST_PROFILE_MANY)
@given(near_edge())
def test_momentum_step_verdict_is_exact_at_the_edge(point: tuple[float, float, float]) -> None:
    lr, s, L = point
    exact = _worst_case_negative(F(lr), F(s), F(L))
    assert descent.momentum_step_guaranteed(lr, s, L) == exact
    assert descent.adaptive_guaranteed(lr, s, L) == exact
    # the bound's sign is the verdict's (it is evaluated exactly, then rounded once)
    bound = descent.momentum_step_decrease_bound(lr, s, L, 1.0)
    assert (bound > 0) == exact or bound == 0.0


@hypothesis_settings(TEST_PROFILE_MANY)
@given(positive, st.floats(min_value=0.0, max_value=1.0), st.floats(0.0, 1e3), ulps)
def test_heavy_ball_and_nesterov_do_not_round_their_products(
    L: float, beta: float, ratio: float, k: int
) -> None:
    lr = 0.5 / L
    # ratio put within ulps of the edge beta rho = min(lr, 2/L - lr) = lr when beta > 0
    rho = _nudge(lr / beta, k) if beta > 0 else ratio
    assume(math.isfinite(rho))  # beta near 2^-1022: lr / beta overflows
    exact_hb = _worst_case_negative(F(lr), F(beta) * F(rho), F(L))
    assert descent.constant_momentum_guaranteed(lr, beta, L, rho) == exact_hb
    lr_n = F(lr) * (1 + F(beta))
    exact_n = _worst_case_negative(lr_n, F(beta) ** 2 * F(rho), F(L))
    assert descent.nesterov_guaranteed(lr, beta, L, rho) == exact_n


def test_the_reviewed_points() -> None:
    # s >= 2/L - lr in rationals; floats said 2/L - lr - s > 0 and a worst case of -2.3e-13
    lr, s, L = 4789.192932408954, 339.0253038238495, 0.00038999900313704334
    assert not descent.adaptive_guaranteed(lr, s, L)
    assert descent.momentum_step_worst_case(lr, s, L) > 0
    d = -F(lr) + (1 if 1 - F(lr) * F(L) > 0 else -1) * F(s)  # the witness step, g = 1
    assert d + F(L) * d * d / 2 > 0  # the loss rises on E(x) = x + L x^2 / 2


def _rmsprop_exact(lr, L, g, scale, momentum, prev) -> bool:
    """The RMSProp worst case's sign in 300-digit arithmetic (its zero is never drawn exactly)."""
    with mpmath.workdps(300):
        lr, L = mpmath.mpf(lr), mpmath.mpf(L)
        gs, ds = [mpmath.mpf(v) for v in g], [mpmath.mpf(v) for v in scale]
        r = mpmath.mpf(momentum) * mpmath.mpf(prev)
        p = mpmath.fsum(a * a * b for a, b in zip(gs, ds))
        q = mpmath.fsum((a * b) ** 2 for a, b in zip(gs, ds))
        v = mpmath.fsum((a - L * lr * b * a) ** 2 for a, b in zip(gs, ds))
        return lr * p - L * lr**2 * q / 2 - r * mpmath.sqrt(v) - L * r**2 / 2 > 0


finite = st.floats(min_value=-1e3, max_value=1e3).filter(lambda v: abs(v) > 1e-6)
scales = st.floats(min_value=1e-3, max_value=1e3)


@hypothesis_settings(TEST_PROFILE_MEDIUM)
@given(
    st.lists(st.tuples(finite, scales), min_size=1, max_size=5),
    st.floats(min_value=1e-3, max_value=1e3),
    ulps,
    st.one_of(st.just(0.0), st.floats(0.0, 0.99)),
    st.floats(0.0, 1e-6),
)
def test_rmsprop_verdict_is_exact_at_the_edge(entries, L, k, momentum, prev) -> None:
    g, scale = [a for a, _ in entries], [b for _, b in entries]
    p = math.fsum(a * a * b for a, b in entries)
    q = math.fsum((a * b) ** 2 for a, b in entries)
    lr = _nudge(2.0 * p / (L * q), k)  # the no-momentum edge, as floats give it
    exact = _rmsprop_exact(lr, L, g, scale, momentum, prev)
    assert descent.rmsprop_guaranteed(lr, L, g, scale, momentum, prev) == exact


def test_rmsprop_far_from_the_edge_needs_no_rationals() -> None:
    g, scale = [1.0, -2.0, 0.5], [0.3, 1.0, 2.0]
    assert descent._rmsprop_filter(0.01, 1.0, g, scale, 0.0) is True
    assert descent._rmsprop_filter(100.0, 1.0, g, scale, 0.0) is False
    assert descent._rmsprop_filter(0.01, 1.0, g, scale, 1e-3) is True


@st.composite
def momentum_near_edge(draw: st.DrawFn) -> tuple[float, float, float, float, bool]:
    """(lr, beta, L, rho, nesterov) with the momentum length beta rho (beta^2 rho for Nesterov)
    within a few ulps of either edge of min(lr', 2/L - lr'), lr' = lr (1 + beta) for Nesterov."""
    L = draw(positive)
    lr = draw(st.floats(min_value=0.01, max_value=2.2)) / L
    beta = draw(st.floats(min_value=0.05, max_value=0.99))
    nesterov = draw(st.booleans())
    lr_eff = F(lr) * (1 + F(beta)) if nesterov else F(lr)
    edge = lr_eff if draw(st.booleans()) else 2 / F(L) - lr_eff
    assume(edge > 0)
    rho = _nudge(float(edge / (F(beta) ** 2 if nesterov else F(beta))), draw(ulps))
    return lr, beta, L, rho, nesterov


@hypothesis_settings(TEST_PROFILE_MANY)
@given(momentum_near_edge())
def test_heavy_ball_and_nesterov_bounds_have_the_verdicts_sign(point) -> None:
    """The bounds were evaluated from rounded ``beta rho`` and ``lr (1 + beta)``: at the edge
    their sign could disagree with the exact verdict (held-out review)."""
    lr, beta, L, rho, nesterov = point
    if nesterov:
        exact = _worst_case_negative(F(lr) * (1 + F(beta)), F(beta) ** 2 * F(rho), F(L))
        verdict = descent.nesterov_guaranteed(lr, beta, L, rho)
        bound = descent.nesterov_decrease_bound(lr, beta, L, rho, 1.0)
    else:
        exact = _worst_case_negative(F(lr), F(beta) * F(rho), F(L))
        verdict = descent.constant_momentum_guaranteed(lr, beta, L, rho)
        bound = descent.constant_momentum_decrease_bound(lr, beta, L, rho, 1.0)
    assert verdict == exact and (bound > 0) == exact


def _rmsprop_rational(lr, L, g, scale, momentum, prev) -> bool:
    """The RMSProp worst case's sign in rationals: A - r sqrt(V) > 0 iff A > 0, A^2 > r^2 V."""
    lr, L, r = F(lr), F(L), F(momentum) * F(prev)
    gs, ds = [F(v) for v in g], [F(v) for v in scale]
    A = (
        lr * sum(a * a * b for a, b in zip(gs, ds))
        - L * lr**2 * sum((a * b) ** 2 for a, b in zip(gs, ds)) / 2
        - L * r**2 / 2
    )
    V = sum((a - L * lr * b * a) ** 2 for a, b in zip(gs, ds))
    return A > 0 and A * A > r * r * V


def _power_of_two_scaled(lo: int, hi: int) -> st.SearchStrategy[float]:
    return st.builds(math.ldexp, st.floats(min_value=0.5, max_value=1.0), st.integers(lo, hi))


@st.composite
def extreme_entry(draw: st.DrawFn) -> tuple[float, float]:
    """(g_i, D_i) whose product g_i D_i lies anywhere in 2^[-700, 100]: below 2^-537 its square
    underflows in floats, below 2^-1074 g_i^2 D_i can too."""
    e_product = draw(st.integers(-700, 100))
    e_g = draw(st.integers(-450, 450))
    e_d = max(min(e_product - e_g, 1000), -1000)
    m_g, m_d = draw(st.floats(0.5, 1.0)), draw(st.floats(0.5, 1.0))
    return math.ldexp(m_g, e_g) * draw(st.sampled_from((1, -1))), math.ldexp(m_d, e_d)


@hypothesis_settings(TEST_PROFILE_MEDIUM)
@given(
    st.lists(extreme_entry(), min_size=1, max_size=3),
    _power_of_two_scaled(-100, 100),
    ulps,
    st.one_of(st.just(0.0), st.floats(0.0, 0.99)),
    _power_of_two_scaled(-600, 0),
)
def test_rmsprop_verdict_is_exact_where_products_underflow(entries, L, k, momentum, prev) -> None:
    """Entries spanning 2^+-500: |Dg|^2 or g.Dg underflow in floats, and a relative error bracket
    no longer holds (g = 1e-100, D = 1e-65 and lr = 1e150 were called guaranteed)."""
    g, scale = [a for a, _ in entries], [b for _, b in entries]
    p = sum(F(a) ** 2 * F(b) for a, b in entries)
    q = sum((F(a) * F(b)) ** 2 for a, b in entries)
    edge = 2 * p / (F(L) * q)
    assume(edge < F(2.0**1000))
    lr = _nudge(float(edge), k)
    assume(0 < lr < math.inf)
    exact = _rmsprop_rational(lr, L, g, scale, momentum, prev)
    assert descent.rmsprop_guaranteed(lr, L, g, scale, momentum, prev) == exact
    # the bound's sign is the verdict's too (its float sums gave NaN or 0: held-out review)
    assert (descent.rmsprop_decrease_bound(lr, L, g, scale, momentum, prev) > 0) == exact


def test_the_reviewed_extreme_points() -> None:
    assert not descent.rmsprop_guaranteed(1e150, 1.0, [1e-100], [1e-65])
    lr, L, g, D = 3.868579246472686e41, 0.5570381383674031, [4.05e-119], [9.28e-42]
    assert descent.rmsprop_guaranteed(lr, L, g, D) == _rmsprop_rational(lr, L, g, D, 0.0, 0.0)
    # beyond the float range: +-inf, never OverflowError; below it: the least subnormal, signed
    assert descent.gd_decrease_bound(1e-5, 1e-300, 1e200) == math.inf
    assert descent.gd_decrease_bound(1e300, 1e10, 1e10) == -math.inf
    for lr, L, g, D in (
        (1e150, 0.0, [1e146], [1e153]),
        (0.5, 1.0, [1e300, 1e300], [1.0, 1.0]),
        (1e-160, 0.0, [1e-160], [1e-150]),
        (1.0, 1.0, [1e-170], [1.0]),
        (1.0, 1e200, [1e-300], [1e-300]),
    ):
        assert descent.rmsprop_guaranteed(lr, L, g, D)
        assert descent.rmsprop_decrease_bound(lr, L, g, D) > 0
    tiny = descent.momentum_step_decrease_bound(1e-200, 0.0, 1.0, 1e-100)
    assert tiny == math.ulp(0.0) and descent.momentum_step_guaranteed(1e-200, 0.0, 1.0)


def test_a_momentum_length_beyond_floats_is_a_verdict_not_an_overflow() -> None:
    """momentum * prev_step_norm above the float range: the worst case is -inf, so False (the
    float filter's ``float(r)`` raised OverflowError: theory review)."""
    args = (0.1, 1.0, [1.0], [1.0], 2.0, 1e308)
    assert descent.rmsprop_decrease_bound(*args) == -math.inf
    assert descent.rmsprop_guaranteed(*args) is False


def test_numbers_fraction_refuses_are_read_through_their_float() -> None:
    """A numpy float32 passes the argument check; Fraction refuses it, so it is read through its
    float (exactly), and the verdict is the float64 one's (it raised TypeError: theory review)."""
    np = __import__("numpy")
    lr, L = np.float32(0.1), np.float32(1.0)
    assert descent.gd_guaranteed(lr, L) == descent.gd_guaranteed(float(lr), 1.0)
    assert descent.adaptive_guaranteed(lr, 0.05, L) == descent.adaptive_guaranteed(
        float(lr), 0.05, 1.0
    )
    assert descent.momentum_step_decrease_bound(lr, 0.0, L, np.float32(2.0)) == (
        descent.momentum_step_decrease_bound(float(lr), 0.0, 1.0, 2.0)
    )
    assert descent.rmsprop_guaranteed(lr, L, [1.0], [1.0], np.float32(0.5), np.float32(0.01))
    h = np.float32(0.5)
    for name, args in (
        ("constant_momentum_guaranteed", (lr, h, L, h)),
        ("constant_momentum_decrease_bound", (lr, h, L, h, h)),
        ("nesterov_guaranteed", (lr, h, L, h)),
        ("nesterov_decrease_bound", (lr, h, L, h, h)),
        ("adaptive_decrease_bound", (lr, h, L, h)),
        ("gd_decrease_bound", (lr, L, h)),
        ("rmsprop_decrease_bound", (lr, L, [1.0], [1.0], h, h)),
    ):
        fn = getattr(descent, name)
        assert fn(*args) == fn(*(a if isinstance(a, list) else float(a) for a in args)), name
    # rationals and Decimals keep their exact value: lr = 2/L exactly is outside
    assert not descent.gd_guaranteed(F(1, 3), 6)
    assert not descent.gd_guaranteed(__import__("decimal").Decimal("0.1"), 20)
