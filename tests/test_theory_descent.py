"""Descent regions: the SymPy derivation, the float API the property tests use, sufficiency on
L-smooth quadratics (convex or not), and the heavy-ball worst case on both sides."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from descentcheck.theory import descent
from descentcheck.theory import descent_proofs as dp

Ls = st.floats(0.05, 20.0)
unit = st.floats(0.0, 1.0)
SETTINGS = settings(max_examples=60, deadline=None)


def test_every_derived_fact_holds():
    for name, items in dp.prove_all().items():
        assert items and all(i.holds for i in items), (name, [str(i) for i in items if not i.holds])


def test_regions_for_the_report():
    regions = descent.REGIONS
    assert {"gd", "adaptive_momentum", "constant_momentum"} <= set(regions)
    for r in regions.values():
        assert isinstance(r.condition, sp.core.relational.StrictLessThan)
        assert r.latex and "<" in r.latex
        ET.fromstring(r.mathml)
        assert "strict" in r.words
    assert "2 \\left(1 - s\\right)" in regions["adaptive_momentum_tau_proportional"].latex or (
        "s" in regions["adaptive_momentum_tau_proportional"].latex
    )
    assert "1705.07404" in descent.PAPER_CONDITIONS


@SETTINGS
@given(L=Ls, a=st.floats(0.0, 3.0))
def test_gd_region_is_lr_below_two_over_L(L, a):
    lr = a / L
    assume(abs(lr - 2 / L) > 1e-12 * (2 / L) and lr > 0)
    assert descent.gd_guaranteed(lr, L) == (lr < 2 / L)
    bound = descent.gd_decrease_bound(lr, L, 1.0)
    assert (bound > 0) == descent.gd_guaranteed(lr, L)
    assert bound <= 1 / (2 * L) * (1 + 1e-12)  # best at lr = 1/L


@SETTINGS
@given(L=Ls, a=st.floats(1e-6, 2.5), t=st.floats(0.0, 1.0))
def test_adaptive_region_is_tau_below_max_tau(L, a, t):
    lr, tau = a / L, t / L
    top = descent.max_tau(lr, L)
    assume(abs(tau - top) > 1e-9 / L)
    assert descent.adaptive_guaranteed(lr, tau, L) == (tau < top)
    assert top <= 1 / (4 * L) * (1 + 1e-12)
    assert (top > 0) == (lr < 2 / L) or abs(lr - 2 / L) < 1e-9 / L
    # same closed form two ways
    assert math.isclose(
        top, (math.sqrt(1 + 4 * L * lr) - 1 - L * lr) / L, rel_tol=1e-9, abs_tol=1e-12 / L
    )


@settings(max_examples=20, deadline=None)
@given(L=Ls, a=st.floats(0.01, 2.5), t=st.floats(0.0, 0.5))
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


def test_max_tau_peak_and_edges():
    L = 3.0
    assert math.isclose(descent.max_tau(0.75 / L, L), 0.25 / L, rel_tol=1e-15)
    assert descent.max_tau(2 / L, L) == pytest.approx(0.0, abs=1e-15)
    assert descent.max_tau(2.5 / L, L) < 0
    assert descent.max_tau(0.1, 0.0) == pytest.approx(0.1)
    assert descent.gd_guaranteed(1e9, 0.0)
    assert not descent.gd_guaranteed(0.0, 1.0)
    assert not descent.gd_guaranteed(2.0, 1.0)  # strict: the boundary is excluded
    assert not descent.adaptive_guaranteed(0.75, 0.25, 1.0)  # the boundary point itself


@pytest.mark.parametrize("bad", [-1.0, float("nan")])
def test_bad_inputs_raise(bad):
    with pytest.raises(ValueError):
        descent.gd_guaranteed(bad, 1.0)
    with pytest.raises(ValueError):
        descent.adaptive_guaranteed(0.1, bad, 1.0)
    with pytest.raises(ValueError):
        descent.constant_momentum_guaranteed(0.1, 0.5, bad, 1.0)
    with pytest.raises(ValueError):
        descent.max_tau(0.1, bad)


# ---- sufficiency: on every L-smooth quadratic, a guaranteed step does decrease E ---------------

vec = arrays(np.float64, 4, elements=st.floats(-3, 3, allow_nan=False))


def _quadratic(L, curvatures):
    """f(w) = 1/2 w^T diag(h) w with eigenvalues in [-L, L] (L-smooth, not necessarily convex),
    the largest |eigenvalue| exactly L."""
    h = np.array(curvatures) * L
    h[0] = L if abs(h[0]) < L else h[0]
    return h


@SETTINGS
@given(
    L=Ls,
    curv=st.lists(st.floats(-1, 1), min_size=4, max_size=4),
    w=vec,
    prev=vec,
    a=st.floats(0.0, 2.5),
    t=st.floats(0.0, 0.5),
)
def test_adaptive_guarantee_is_sufficient_on_quadratics(L, curv, w, prev, a, t):
    h = _quadratic(L, curv)
    g = h * w
    lr, tau = a / L, t / L
    gn, pn = float(np.linalg.norm(g)), float(np.linalg.norm(prev))
    assume(gn > 1e-6)
    alpha = tau * gn / pn if pn > 0 else 0.0
    d = -lr * g + alpha * prev
    change = float(g @ d + 0.5 * d @ (h * d))
    if descent.adaptive_guaranteed(lr, tau, L):
        bound = -descent.adaptive_decrease_bound(lr, tau, L, gn)
        assert change <= bound + 1e-9 * (1 + abs(bound))
        assert change < 0


@SETTINGS
@given(
    L=Ls,
    curv=st.lists(st.floats(-1, 1), min_size=4, max_size=4),
    w=vec,
    prev=vec,
    a=st.floats(0.0, 2.5),
    beta=st.floats(0.0, 0.99),
)
def test_constant_momentum_guarantee_is_sufficient_on_quadratics(L, curv, w, prev, a, beta):
    h = _quadratic(L, curv)
    g = h * w
    lr = a / L
    gn = float(np.linalg.norm(g))
    assume(gn > 1e-6)
    ratio = float(np.linalg.norm(prev)) / gn
    d = -lr * g + beta * prev
    change = float(g @ d + 0.5 * d @ (h * d))
    if descent.constant_momentum_guaranteed(lr, beta, L, ratio):
        assert change < 1e-12 * (1 + abs(change))
        bound = -descent.constant_momentum_decrease_bound(lr, beta, L, ratio, gn)
        assert change <= bound + 1e-9 * (1 + abs(bound))


@SETTINGS
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
    # step 1 (the second step) lies outside the constant-momentum region, step 0 inside
    assert not descent.constant_momentum_guaranteed(lr, beta, L, ratios[1])
    assert descent.constant_momentum_guaranteed(lr, beta, L, ratios[0])
    # and no constant beta > 0 is safe for every ratio
    assert not descent.constant_momentum_guaranteed(lr / 10, beta, L, 1e6)
