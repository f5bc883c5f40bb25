"""PEPit referees the exact descent regions (``tox -e pep``; PEPit and cvxpy are test-time only).

On a grid of ``(lr L, s)`` the closed-form worst case of one step of GD, adaptive momentum, heavy
ball and Nesterov equals PEPit's SDP worst case within the solver's accuracy, and the region
functions say "guaranteed" exactly where PEPit's worst case is negative (away from the
boundary). The heavy-ball table the report shows is re-solved and compared with the committed
file."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest

pytest.importorskip("PEPit", reason="PEPit is the test-time referee: tox -e pep installs it")
import pep_reference as pep

from descentcheck.theory import descent

pytestmark = pytest.mark.pep

A_GRID = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 1.95, 2.2)
S_GRID = (0.0, 0.1, 0.3, 0.6, 0.9, 1.2)
SDP_TOL = 2e-4  # PEPit's SDP solves to about 1e-5 .. 1e-4 here
BOUNDARY = 1e-3  # closer than this to 0, the sign is left to the exact proofs
EDGE = 0.002  # the boundary test's points: this far (relative) from it, |W| >= 1.0e-3 at L = 1
EDGE_SIGN = 5e-4  # there the SDP's sign is read: well above its accuracy
TABLE = Path(__file__).resolve().parents[1] / "reports" / "pep_heavy_ball.json"


def closed_form(method: str, a: float, s: float) -> tuple[float, bool]:
    """(worst case W / |g|^2 at L = 1, guaranteed) from descentcheck.theory.descent."""
    if method == "gd":
        return -descent.gd_decrease_bound(a, 1.0, 1.0), descent.gd_guaranteed(a, 1.0)
    if method == "adaptive_momentum":
        return (
            -descent.adaptive_decrease_bound(a, s, 1.0, 1.0),
            descent.adaptive_guaranteed(a, s, 1.0),
        )
    if method == "heavy_ball":  # rho_k = 1, beta = s
        return (
            -descent.constant_momentum_decrease_bound(a, s, 1.0, 1.0, 1.0),
            descent.constant_momentum_guaranteed(a, s, 1.0, 1.0),
        )
    return (  # nesterov, rho_k = lr |b_{k-1}| / |g_k| = 1, beta = s
        -descent.nesterov_decrease_bound(a, s, 1.0, 1.0, 1.0),
        descent.nesterov_guaranteed(a, s, 1.0, 1.0),
    )


def _grid(method: str) -> list[tuple[float, float]]:
    s_values = (0.0,) if method == "gd" else S_GRID
    return list(itertools.product(A_GRID, s_values))


@pytest.mark.parametrize("method", pep.METHODS)
def test_closed_forms_equal_pepit_worst_case(method):
    worst_gap = 0.0
    signs = 0
    for a, s in _grid(method):
        got = pep.one_step(method, a, s)
        exact, guaranteed = closed_form(method, a, s)
        gap = abs(got - exact) / max(1.0, abs(exact))
        worst_gap = max(worst_gap, gap)
        assert gap <= SDP_TOL, (method, a, s, got, exact)
        if abs(exact) > BOUNDARY:
            assert guaranteed == (got < 0), (method, a, s, got, exact)
            signs += 1
    assert signs >= 0.8 * len(_grid(method))  # the sign test is not vacuous


def _edges(method: str) -> list[tuple[float, float]]:
    """Points 0.2% either side of each method's boundary at L = |g| = rho = 1 (a held-out audit:
    the grid above has none within 1% of it, so a bound moved by 1% passed this referee)."""
    if method == "gd":
        return [(2.0 * (1 + d), 0.0) for d in (-EDGE, EDGE)]
    out = []
    for a in (0.75, 1.0, 1.5):
        if method == "nesterov":  # beta^2 = min(a (1 + beta), 2 - a (1 + beta)), solved here
            edge = min((a + math.sqrt(a * a + 4 * a)) / 2, (math.sqrt(a * a - 4 * a + 8) - a) / 2)
        else:  # s = min(a, 2 - a): adaptive momentum's tau, heavy ball's beta at rho = 1
            edge = min(a, 2.0 - a)
        out += [(a, edge * (1 + d)) for d in (-EDGE, EDGE)]
    return out


@pytest.mark.parametrize("method", pep.METHODS)
def test_the_regions_boundaries_are_where_pepit_says(method):
    """Just inside each boundary PEPit's worst case is negative and the region says guaranteed;
    just outside, positive and not guaranteed."""
    for a, s in _edges(method):
        got = pep.one_step(method, a, s)
        exact, guaranteed = closed_form(method, a, s)
        assert abs(got - exact) / max(1.0, abs(exact)) <= SDP_TOL, (method, a, s, got, exact)
        assert abs(got) > EDGE_SIGN and guaranteed == (got < 0), (method, a, s, got, exact)


def test_the_first_rounds_region_was_loose_where_pepit_proves_decrease():
    """PEPit proves a decrease at (lr L, tau L) = (1, 0.5), which the Cauchy-Schwarz region
    refused and the exact region admits."""
    from descentcheck.theory.descent_cauchy_schwarz import cs_guaranteed

    got = pep.one_step("adaptive_momentum", 1.0, 0.5)
    assert got < -0.3
    assert not cs_guaranteed(1.0, 0.5, 1.0)
    assert descent.adaptive_guaranteed(1.0, 0.5, 1.0)


def test_committed_heavy_ball_table_matches_a_fresh_solve():
    committed = json.loads(TABLE.read_text())
    fresh = pep.heavy_ball_table()
    assert [(r["lr_L"], r["beta"]) for r in committed["rows"]] == [
        (r["lr_L"], r["beta"]) for r in fresh["rows"]
    ]
    for old, new in zip(committed["rows"], fresh["rows"]):
        for u, v in zip(old["worst_step_change"], new["worst_step_change"]):
            assert abs(u - v) <= SDP_TOL * max(1.0, abs(v)), (old, new)
    # the known counterexample is in it: lr = 1/L, beta = 1/2 rises by beta^2 (f0 - f*) = 1/8
    hb = next(r for r in fresh["rows"] if (r["lr_L"], r["beta"]) == (1.0, 0.5))
    assert abs(hb["worst_step_change"][1] - 0.125) <= SDP_TOL
