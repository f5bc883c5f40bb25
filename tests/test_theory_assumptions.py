"""Assumptions: activation suprema and the Gaussian unit's derivative bounds, symbolic and at
Hypothesis-drawn points (a bound must never be exceeded, and is approached where stated)."""

from __future__ import annotations

import math

import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from descentcheck.properties.profiles import TEST_PROFILE, hypothesis_settings
from descentcheck.theory.assumptions import (
    ACTIVATION_FUNCTIONS,
    EXPECTED,
    SupremumError,
    activation_bounds,
    gaussian_bounds,
    sup_abs,
    x,
)


@pytest.mark.parametrize("op", list(ACTIVATION_FUNCTIONS))
def test_activation_suprema(op):
    b = activation_bounds(op)
    assert b.matches_expected, b.sups
    assert b.derivatives_bounded and b.in_theorem
    if op in ("softplus", "identity"):
        assert b.sups[0] == sp.oo and "unbounded" in b.note


def test_relu_reported_outside_the_theorem():
    b = activation_bounds("relu")
    assert not b.in_theorem and b.sups is None
    assert "not differentiable at 0" in b.note


def test_sup_abs_is_not_fooled_by_a_wrong_claim():
    # a deliberately wrong expectation must not match
    assert sup_abs(sp.tanh(x).diff(x, 2), x) != sp.Rational(1, 2)
    f = x * sp.exp(-(x**2))  # sup |f| = e^(-1/2) / sqrt(2), at x = 1/sqrt(2)
    assert sp.simplify(sup_abs(f, x) - sp.exp(-sp.S.Half) / sp.sqrt(2)) == 0
    # infinitely many critical points: refused, never guessed
    with pytest.raises(SupremumError):
        sup_abs(3 * sp.sin(x), x)


@hypothesis_settings(TEST_PROFILE)
@given(v=st.floats(-40, 40), op=st.sampled_from(list(ACTIVATION_FUNCTIONS)))
def test_activation_derivatives_never_exceed_their_suprema(v, op):
    phi = ACTIVATION_FUNCTIONS[op]
    for n in range(3):
        bound = EXPECTED[op][n]
        if bound == sp.oo:
            continue
        val = abs(float(sp.diff(phi, x, n).subs(x, sp.Float(v, 30)).evalf(30)))
        assert val <= float(bound) * (1 + 1e-12)


radius = st.floats(0.05, 5.0)
coord = st.floats(-10.0, 10.0)


@hypothesis_settings(TEST_PROFILE)
@given(r=radius, r_j=radius, u=coord, u_j=coord)
def test_gaussian_bounds_hold_at_drawn_points(r, r_j, u, u_j):
    y = math.exp(-0.5 * (r * r * u * u + r_j * r_j * u_j * u_j))
    tol = 1 + 1e-12
    assert abs(r * r * u * y) <= r * math.exp(-0.5) * tol  # dy/dx_i and dy/dc_i
    assert abs(r * r * (r * r * u * u - 1) * y) <= r * r * tol  # d2y/dx_i^2
    assert abs(r * r * u * r_j * r_j * u_j * y) <= r * r_j / math.e * tol  # mixed
    assert abs(r * u * u * y) <= 2 / (math.e * r) * tol  # dy/dr_i


def test_gaussian_bounds_symbolic_and_attained():
    bounds = gaussian_bounds()
    assert all(b.holds for b in bounds), [(b.what, b.sup) for b in bounds]
    # attained: dy/dx_i at u = 1/r equals r e^(-1/2)
    r = 1.7
    u = 1 / r
    assert math.isclose(r * r * u * math.exp(-0.5 * r * r * u * u), r * math.exp(-0.5))


def test_a_wrong_stated_bound_fails_naming_what_was_expected(monkeypatch):
    """A wrong expected supremum (a plugin's typo) fails the check, and the message shows the
    stated values beside SymPy's."""
    from descentcheck.theory import assumptions
    from descentcheck.theory.checks import check_assumptions

    wrong = {**EXPECTED, "tanh": (sp.Integer(1), sp.Integer(2), EXPECTED["tanh"][2])}
    monkeypatch.setattr(assumptions, "EXPECTED", wrong)
    result = check_assumptions()
    assert not result.ok
    lines = [d for d in result.details if d.startswith("tanh:") and "expected" in d]
    assert len(lines) == 1 and "expected (1, 2," in lines[0] and "are (1, 1," in lines[0], lines
