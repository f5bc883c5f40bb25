"""The local smoothness estimate along a step (``properties.curvature.segment_L``)."""

from __future__ import annotations

import numpy as np

from descentcheck.impl.network import Network
from descentcheck.properties import BY_ID, curvature, get_profile
from descentcheck.properties.claim import Context
from descentcheck.properties.claims.descent import initial_L
from descentcheck.properties.strategies import Case

# a held-out review's case: a sigmoid unit of weight 1e6 whose threshold the first step crosses
# between two grid points; the slope rises and falls back there, the loss rises by 2.7
STEEP = {
    "inputs": 1,
    "output": "out",
    "loss": "mse",
    "nodes": [
        {"name": "h0", "op": "dense", "units": 1, "inputs": ["input"]},
        {"name": "hb", "op": "dense", "units": 1, "inputs": ["h0"]},
        {"name": "a", "op": "sigmoid", "inputs": ["hb"]},
        {"name": "cat", "op": "concat", "inputs": ["h0", "a"]},
        {"name": "out", "op": "dense", "units": 1, "inputs": ["cat"]},
    ],
}


def _steep_case() -> Case:
    net = Network.from_spec(STEEP)
    x = np.array([[-1.0], [0.0], [1.0], [2.0]])
    y = np.array([[1.0], [2.0], [3.0], [6.0]])
    c = 1.1 + 0.3 * (1.81 - 1.1)
    p = {
        "h0.W": np.array([[0.5]]),
        "h0.b": np.array([0.1]),
        "hb.W": np.array([[1e6]]),
        "hb.b": np.array([-1e6 * c]),
        "out.W": np.array([[1.0], [-3.0]]),
        "out.b": np.array([0.0]),
    }
    return Case(STEEP, net, x, y, y, p, 0)


LEMMA = {
    "trainer-obeys-descent-lemma-gd": {"lr_frac": 0.2},
    "trainer-obeys-descent-lemma-adaptive-momentum": {
        "lr_frac": 0.4,
        "tau_frac": 0.0,
        "group": "array",
    },
    "trainer-obeys-descent-lemma-heavy-ball": {"lr_frac": 0.4, "beta": 0.01},
}


def test_a_slope_that_returns_between_grid_points_is_not_missed(monkeypatch):
    """The grid and mean-slope terms alone said L_k = 2.0 on the first step, the correct step
    then "violated" the descent lemma (certified); the secant term sees the value's jump, the
    step leaves the region, and the claims hold on the case. Without the term they fail."""
    case = _steep_case()
    ctx = Context(get_profile("fast"))
    # the reviewed learning rates, set as fractions of 1 / (1.5 L_0); the claims now scale by
    # the curvature along the gradient, L_g, so the same rates are fractions L_g / L_0 as large
    scale = curvature.gradient_curvature(case) / initial_L(case)
    lemma = {cid: {**d, "lr_frac": d["lr_frac"] * scale} for cid, d in LEMMA.items()}
    for cid, drawn in lemma.items():
        v = BY_ID[cid].check({"case": case, **drawn}, ctx)
        assert v.ok, (cid, v.message)
        assert v.measured["steps_tested"] >= 1, (cid, v.measured)
    monkeypatch.setattr(curvature.Line, "secant", lambda self: -np.inf)
    v = BY_ID["trainer-obeys-descent-lemma-gd"].check(
        {"case": case, **lemma["trainer-obeys-descent-lemma-gd"]}, ctx
    )
    assert not v.ok and "below the guaranteed" in v.message


def test_on_a_quadratic_the_estimate_is_the_curvature():
    """One dense layer under mse: u^T H u is the same everywhere, and the secant curvature is
    that number up to rounding; segment_L is 1.5 times it, not inflated by the rounding term."""
    spec = {
        "inputs": 2,
        "output": "out",
        "loss": "mse",
        "nodes": [{"name": "out", "op": "dense", "units": 1, "inputs": ["input"]}],
    }
    net = Network.from_spec(spec)
    x = np.array([[1.0, -0.5], [0.25, 2.0], [-1.5, 0.75]])
    y = np.array([[0.5], [-1.0], [2.0]])
    w0 = net.init(seed=3, x=x)
    d = np.array([0.3, -0.2, 0.1])
    w1 = net.unflatten(net.flatten(w0) + d)
    u = d / np.linalg.norm(d)
    kappa = curvature.curvature(net, w0, u, x, y)
    line = curvature.Line(net, w0, w1, x, y)
    assert abs(line.secant() - kappa) <= 1e-12 * kappa
    assert abs(curvature.segment_L(net, w0, w1, x, y) / 1.5 - kappa) <= 1e-12 * kappa
