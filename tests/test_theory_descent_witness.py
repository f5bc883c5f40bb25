"""The worst case is attained, in exact rationals, at every grid point; a wrong closed form or a
wrong region is caught."""

from __future__ import annotations

from fractions import Fraction as F

from descentcheck.theory import descent_witness as w


def test_every_grid_point_has_its_witness():
    rep = w.check_grid()
    assert rep.failures == []
    assert rep.inside > 100 and rep.outside > 100  # both sides of the boundary are visited


def test_boundary_points_are_outside():
    # at s = min(lr, 2/L - lr) the witness change is exactly 0: no decrease
    for lr, s in ((F(1, 2), F(1, 2)), (F(3, 2), F(1, 2)), (F(2), F(0))):
        assert w.worst_case(lr, s, F(1), F(1)) == 0
        assert not w.inside(lr, s, F(1))
        assert w.check_point(lr, s, F(1)) == []


def test_a_wrong_closed_form_is_caught(monkeypatch):
    # the signed form (1 - lr L) instead of |1 - lr L| is wrong past lr = 1/L
    monkeypatch.setattr(
        w, "worst_case", lambda lr, s, L, gg: gg * (((1 - lr * L) + s * L) ** 2 - 1) / (2 * L)
    )
    assert w.check_grid().failures


def test_a_wrong_region_is_caught(monkeypatch):
    monkeypatch.setattr(w, "inside", lambda lr, s, L: lr > 0 and s < lr)
    assert any("inside" in f for f in w.check_grid().failures)
