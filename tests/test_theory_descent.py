"""Exact descent regions: the SymPy derivation, the float API the property tests use, the worst
case on L-smooth quadratics (convex or not) reached by the witness, and the heavy-ball worst
case on both sides."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, example, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from descentcheck.properties.profiles import TEST_PROFILE_MANY, hypothesis_settings
from descentcheck.theory import descent
from descentcheck.theory import descent_proofs as dp
from descentcheck.theory.descent_cauchy_schwarz import cs_guaranteed, cs_max_tau

Ls = st.floats(0.05, 20.0)
NO_DEADLINE = hypothesis_settings(TEST_PROFILE_MANY)


def test_every_derived_fact_holds():
    for name, items in dp.prove_all().items():
        assert items and all(i.holds for i in items), (name, [str(i) for i in items if not i.holds])


def test_regions_for_the_report():
    regions = descent.REGIONS
    assert {"gd", "adaptive_momentum", "constant_momentum", "nesterov", "rmsprop"} <= set(regions)
    for r in regions.values():
        assert isinstance(r.condition, sp.core.relational.StrictLessThan)
        assert r.latex and "<" in r.latex
        ET.fromstring(r.mathml)
        assert "strict" in r.words
    assert r"\min" in regions["adaptive_momentum"].latex
    assert "1705.07404" in descent.PAPER_CONDITIONS
    assert "2 / (L (1 + s))" in descent.PAPER_CONDITIONS


@NO_DEADLINE
@given(L=Ls, a=st.floats(0.0, 3.0))
def test_gd_region_is_lr_below_two_over_L(L, a):
    lr = a / L
    assume(abs(lr - 2 / L) > 1e-12 * (2 / L) and lr > 0)
    assert descent.gd_guaranteed(lr, L) == (lr < 2 / L)
    bound = descent.gd_decrease_bound(lr, L, 1.0)
    assert (bound > 0) == descent.gd_guaranteed(lr, L)
    assert bound <= 1 / (2 * L) * (1 + 1e-12)  # best at lr = 1/L
    assert math.isclose(bound, descent.adaptive_decrease_bound(lr, 0.0, L, 1.0), abs_tol=1e-14)


@NO_DEADLINE
@given(L=Ls, a=st.floats(1e-6, 2.5), t=st.floats(0.0, 1.5))
def test_adaptive_region_is_tau_below_min_of_lr_and_two_over_L_minus_lr(L, a, t):
    lr, tau = a / L, t / L
    top = descent.max_tau(lr, L)
    assume(abs(tau - top) > 1e-9 / L)
    assert top == min(lr, 2 / L - lr)
    assert descent.adaptive_guaranteed(lr, tau, L) == (tau < top)
    assert top <= 1 / L * (1 + 1e-12)
    # the decrease bound is positive exactly inside, and equals the closed form
    dec = descent.adaptive_decrease_bound(lr, tau, L, 1.0)
    assert (dec > 0) == (tau < top)
    closed = (1 - (abs(1 - lr * L) + tau * L) ** 2) / (2 * L)
    assert math.isclose(dec, closed, rel_tol=1e-9, abs_tol=1e-12 / L)


@NO_DEADLINE
@given(L=Ls, a=st.floats(0.01, 2.5), t=st.floats(0.0, 1.5))
def test_float_api_equals_the_sympy_condition_exactly(L, a, t):
    lr, tau = a / L, t / L
    exact = {dp.L: sp.Rational(L), dp.lr: sp.Rational(lr), dp.tau: sp.Rational(tau)}
    for name, fast in (
        ("adaptive_momentum", descent.adaptive_guaranteed(lr, tau, L)),
        ("gd", descent.gd_guaranteed(lr, L)),
    ):
        cond = descent.REGIONS[name].condition
        margin = float((cond.lhs - cond.rhs).subs(exact))  # exact rationals, then rounded
        if abs(margin) > 1e-12 * max(lr, 2 / L):  # floats decide alike off the boundary
            assert bool(cond.subs(exact)) == fast, (name, margin)


def test_region_edges():
    L = 3.0
    assert descent.max_tau(1 / L, L) == pytest.approx(1 / L, rel=1e-15)  # the peak
    assert descent.max_tau(2 / L, L) == pytest.approx(0.0, abs=1e-15)
    assert descent.max_tau(2.5 / L, L) < 0
    assert descent.max_tau(0.1, 0.0) == pytest.approx(0.1)
    assert descent.gd_guaranteed(1e9, 0.0)
    assert not descent.gd_guaranteed(0.0, 1.0)
    assert not descent.gd_guaranteed(2.0, 1.0)  # strict: the boundary is excluded
    assert not descent.adaptive_guaranteed(1.0, 1.0, 1.0)  # the peak itself is excluded
    assert descent.adaptive_guaranteed(1.0, 0.999, 1.0)
    # the first round refused this point; the exact region admits it
    assert not cs_guaranteed(1.0, 0.5, 1.0) and descent.adaptive_guaranteed(1.0, 0.5, 1.0)
    assert math.isclose(cs_max_tau(0.75, 1.0), 0.25, rel_tol=1e-15)
    assert descent.constant_momentum_guaranteed(0.5, 0.0, 1.0, math.inf)  # beta = 0 is GD
    assert not descent.constant_momentum_guaranteed(0.5, 0.1, 1.0, math.inf)


@pytest.mark.parametrize("beta", [1e-190, 1e-170, 0.5])
def test_nesterov_any_positive_beta_has_no_guarantee_against_an_unbounded_buffer(beta):
    """beta^2 underflows to 0 below 1e-162; an infinite |b_{k-1}| / |g_k| must still refuse."""
    assert not descent.nesterov_guaranteed(0.1, beta, 1.0, math.inf)
    assert descent.nesterov_guaranteed(0.1, 0.0, 1.0, math.inf)  # beta = 0 is GD
    # a huge finite ratio: beta (beta rho) = 1e-80, not (beta^2) rho = 0
    assert descent.nesterov_guaranteed(0.1, 1e-190, 1.0, 1e300)
    assert descent.nesterov_decrease_bound(0.1, 1e-190, 1.0, 1e300, 1.0) > 0


@pytest.mark.parametrize("bad", [-1.0, float("nan")])
def test_bad_inputs_raise(bad):
    with pytest.raises(ValueError):
        descent.gd_guaranteed(bad, 1.0)
    with pytest.raises(ValueError):
        descent.adaptive_guaranteed(0.1, bad, 1.0)
    with pytest.raises(ValueError):
        descent.constant_momentum_guaranteed(0.1, 0.5, bad, 1.0)
    with pytest.raises(ValueError):
        descent.nesterov_guaranteed(0.1, bad, 1.0, 0.0)
    with pytest.raises(ValueError):
        descent.max_tau(0.1, bad)


# ---- the worst case, on L-smooth quadratics and at the witness --------------------------------

vec = arrays(np.float64, 4, elements=st.floats(-3, 3, allow_nan=False))


def _curvatures(L, curvatures):
    """Eigenvalues in [-L, L] (L-smooth, not necessarily convex), the first exactly +-L."""
    h = np.array(curvatures) * L
    h[0] = L if h[0] >= 0 else -L
    return h


@NO_DEADLINE
@given(
    L=Ls,
    curv=st.lists(st.floats(-1, 1), min_size=4, max_size=4),
    w=vec,
    prev=vec,
    a=st.floats(1e-6, 2.5),
    t=st.floats(0.0, 1.5),
)
def test_no_quadratic_beats_the_worst_case(L, curv, w, prev, a, t):
    h = _curvatures(L, curv)
    g = h * w
    lr, tau = a / L, t / L
    gn, pn = float(np.linalg.norm(g)), float(np.linalg.norm(prev))
    assume(gn > 1e-6 and pn > 1e-6)
    d = -lr * g + (tau * gn / pn) * prev
    change = float(g @ d + 0.5 * d @ (h * d))
    worst = -descent.adaptive_decrease_bound(lr, tau, L, gn)
    assert change <= worst + 1e-9 * (abs(worst) + gn * gn / L)
    if descent.adaptive_guaranteed(lr, tau, L):
        assert change < 0


@NO_DEADLINE
@given(L=Ls, g=vec, a=st.floats(0.0, 2.5), t=st.floats(0.0, 1.5))
def test_the_witness_attains_the_worst_case(L, g, a, t):
    """E*(x) = g.x + L|x|^2/2 and m = sign(1 - lr L) tau g: the change is the worst case, so
    outside the region the step does not decrease E*. This is what makes the region exact."""
    gn = float(np.linalg.norm(g))
    assume(gn > 1e-6)
    lr, tau = a / L, t / L
    d = -lr * g + math.copysign(1.0, 1 - lr * L) * tau * g
    change = float(g @ d + 0.5 * L * d @ d)
    worst = -descent.adaptive_decrease_bound(lr, tau, L, gn)
    assert math.isclose(change, worst, rel_tol=1e-9, abs_tol=1e-12 * gn * gn / L)
    if abs(tau - descent.max_tau(lr, L)) > 1e-9 / L:
        assert (change < 0) == descent.adaptive_guaranteed(lr, tau, L)


@NO_DEADLINE
@given(
    L=Ls,
    curv=st.lists(st.floats(-1, 1), min_size=4, max_size=4),
    w=vec,
    buf=vec,
    a=st.floats(1e-6, 2.0),  # a subnormal lr rounds the change itself to 0
    beta=st.floats(0.0, 0.99),
)
def test_nesterov_region_is_sufficient_on_quadratics(L, curv, w, buf, a, beta):
    """torch's Nesterov step from a buffer b_{k-1}, against nesterov_guaranteed."""
    h = _curvatures(L, curv)
    g = h * w
    lr = a / L
    gn = float(np.linalg.norm(g))
    assume(gn > 1e-6)
    b = beta * buf + g
    d = -lr * (g + beta * b)
    change = float(g @ d + 0.5 * d @ (h * d))
    ratio = lr * float(np.linalg.norm(buf)) / gn
    worst = -descent.nesterov_decrease_bound(lr, beta, L, ratio, gn)
    assert change <= worst + 1e-9 * (abs(worst) + gn * gn / L)
    if descent.nesterov_guaranteed(lr, beta, L, ratio):
        assert change < 0


@NO_DEADLINE
@given(
    L=Ls,
    curv=st.lists(st.floats(-1, 1), min_size=4, max_size=4),
    w=vec,
    scale=arrays(np.float64, 4, elements=st.floats(0.01, 100)),
    prev=vec,
    a=st.floats(0.0, 3.0),
    mu=st.floats(0.0, 0.99),
)
# a subnormal lr inside the region: lr * g.Dg underflowed to 0, so the float test said outside
@example(L=0.5, curv=[0.0] * 4, w=np.ones(4), scale=np.ones(4), prev=np.zeros(4), a=5e-324, mu=0.0)
def test_rmsprop_region_is_exact_on_quadratics(L, curv, w, scale, prev, a, mu):
    h = _curvatures(L, curv)
    g = h * w
    gn = float(np.linalg.norm(g))
    assume(gn > 1e-6)
    dg = scale * g
    lr = a / (L * float(scale.max()))
    d = -lr * dg + mu * prev
    change = float(g @ d + 0.5 * d @ (h * d))
    dec = descent.rmsprop_decrease_bound(lr, L, g, scale, mu, float(np.linalg.norm(prev)))
    assert change <= -dec + 1e-9 * (abs(dec) + gn * gn / L + float(dg @ dg) * lr * lr * L)
    # without momentum: the witness (curvature L everywhere) reaches the bound
    d0 = -lr * dg
    witness = float(g @ d0 + 0.5 * L * d0 @ d0)
    dec0 = descent.rmsprop_decrease_bound(lr, L, g, scale)
    assert math.isclose(witness, -dec0, rel_tol=1e-9, abs_tol=1e-12 * gn * gn / L)
    bound = 2 * float(g @ dg) / (L * float(dg @ dg))
    if abs(lr - bound) > 1e-9 * bound:
        assert descent.rmsprop_guaranteed(lr, L, g, scale) == (0 < lr < bound)


def test_rmsprop_bad_scale_is_a_one_line_error():
    with pytest.raises(ValueError, match="scale"):
        descent.rmsprop_guaranteed(0.1, 1.0, [1.0, 2.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="entries"):
        descent.rmsprop_guaranteed(0.1, 1.0, [1.0, 2.0], [1.0])


@NO_DEADLINE
@given(L=Ls, beta=st.floats(0.01, 0.99), x0=st.floats(-10, 10).filter(lambda v: abs(v) > 1e-3))
def test_heavy_ball_worst_case_rises_and_lies_outside_the_region(L, beta, x0):
    lr = 1 / L
    x, dw = x0, 0.0
    f = [L * x * x / 2]
    ratios = []
    for _ in range(2):
        gk = L * x
        ratios.append(abs(dw) / abs(gk) if gk != 0 else math.inf)
        dw = -lr * gk + beta * dw
        x = x + dw
        f.append(L * x * x / 2)
    rise = f[2] - f[1]
    assert rise > 0
    assert math.isclose(rise, descent.heavy_ball_worst_case_rise(beta, f[0]), rel_tol=1e-12)
    assert not descent.constant_momentum_guaranteed(lr, beta, L, ratios[1])
    assert descent.constant_momentum_guaranteed(lr, beta, L, ratios[0])
    assert not descent.constant_momentum_guaranteed(lr / 10, beta, L, 1e6)


class _NarrowRng:
    """A generator whose uniform draws keep to the first ``share`` of each range."""

    def __init__(self, share: float) -> None:
        self.rng, self.share = np.random.default_rng(0), share

    def uniform(self, low: float, high: float, size: int | None = None):
        return self.rng.uniform(low, low + self.share * (high - low), size)

    def normal(self, size: int | None = None):
        return self.rng.normal(size=size)


def test_the_numeric_descent_checks_need_both_sides_of_each_boundary():
    """A held-out audit narrowed the sample to lr, tau < 0.5/L and widened GD's float region with
    its condition: every point was inside both, and the check passed. Each comparison now needs
    a twentieth of its points on each side of each boundary."""
    from descentcheck.theory.descent_checks import _float_vs_sympy, _worst_on_quadratics

    assert _float_vs_sympy(np.random.default_rng(0), 400) == []
    assert _worst_on_quadratics(np.random.default_rng(0), 400)[1] == []
    narrow = _float_vs_sympy(_NarrowRng(0.15), 400)
    assert any(m.startswith("gd: the sample met 0 points outside") for m in narrow), narrow
    _, quad = _worst_on_quadratics(_NarrowRng(0.15), 400)
    assert any(m.startswith("lr L < 2 (gd's edge): the sample met 0") for m in quad), quad


@pytest.mark.parametrize(
    ("name", "wrong", "says"),
    [
        # a held-out audit's plants: each passed `python -m descentcheck.theory`
        ("gd_decrease_bound", lambda lr, L, G: lr * (1 - L * lr / 4) * G * G, "gd: decrease"),
        (
            "nesterov_decrease_bound",
            lambda lr, b, L, r, G: descent.momentum_step_decrease_bound(lr, b * b * r, L, G),
            "nesterov: decrease bound",
        ),
        # a region widened in its verdict (and its shown condition, which this check does
        # not read): GD to lr L < 2.2, heavy ball at half its beta rho
        ("gd_guaranteed", lambda lr, L: 0 < lr * L < 2.2, "gd: decrease bound"),
        (
            "constant_momentum_guaranteed",
            lambda lr, b, L, r: bool(descent._inside(lr, b * r / 2, L)),
            "momentum: decrease bound",
        ),
        (
            "rmsprop_guaranteed",
            lambda lr, L, g, sc, m=0.0, p=0.0: (
                descent.rmsprop_decrease_bound(lr / 1.1, L, g, sc, m, p) > 0
            ),
            "rmsprop: decrease bound",
        ),
    ],
)
def test_the_theory_run_checks_each_named_bound_against_the_witness(monkeypatch, name, wrong, says):
    from descentcheck.theory.descent_checks import _bounds_vs_witness

    assert _bounds_vs_witness(np.random.default_rng(0), 300) == []
    monkeypatch.setattr(descent, name, wrong)
    bad = _bounds_vs_witness(np.random.default_rng(0), 300)
    assert any(m.startswith(says) for m in bad), bad[:3]
