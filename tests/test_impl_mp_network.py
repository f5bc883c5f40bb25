"""The shared 50-digit evaluator: its ball-arithmetic form encloses its mpmath value, its error
bound covers the trainer's float loss, and the one-step rules' proofs hold."""

from __future__ import annotations

import mpmath
import numpy as np

from descentcheck.impl import mp_network
from descentcheck.impl.network import Network
from descentcheck.theory.momentum import step_rules

SPEC = {
    "inputs": 2,
    "output": "out",
    "loss": "softmax_cross_entropy",
    "nodes": [
        {"name": "h", "op": "dense", "units": 3, "inputs": ["input"]},
        {"name": "a", "op": "tanh", "inputs": ["h"]},
        {"name": "g", "op": "gaussian", "units": 3, "radius": "per_unit", "inputs": ["a"]},
        {"name": "s", "op": "add", "inputs": ["g", "a"]},
        {"name": "out", "op": "dense", "units": 2, "inputs": ["s"]},
    ],
}


def _case():
    net = Network.from_spec(SPEC)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 2))
    params = {k: v + 0.1 * rng.normal(size=v.shape) for k, v in net.init(seed=1, x=x).items()}
    y = np.eye(2)[rng.integers(0, 2, size=5)]
    return net, params, x, y


def test_arb_forward_encloses_the_mpmath_loss():
    net, params, x, y = _case()
    E_mp, bound = mp_network.loss_with_error_bound(SPEC, params, x, y)
    from flint import arb, ctx

    old, ctx.prec = ctx.prec, 200
    try:
        P = {k: mp_network.to_arb(v) for k, v in params.items()}
        X, Y = mp_network.to_arb(x), mp_network.to_arb(y)
        ball = mp_network.loss(SPEC, P, X, Y, mp_network.arb_functions())
        assert ball.overlaps(arb(mpmath.nstr(E_mp, 45), 1e-40))  # mpmath: 50 digits, rounded
        assert float(ball.rad()) < 1e-40
    finally:
        ctx.prec = old
    assert abs(float(net.loss(params, x, y)) - float(E_mp)) <= 2 * bound
    assert 0 < bound < 1e-12


def test_step_rule_proofs_hold():
    rules = step_rules()
    for name, (_expr, _symbols, proofs) in rules.items():
        assert all(p.holds for p in proofs), name
    assert len(rules["nesterov"][2]) == 1 and len(rules["adaptive_momentum"][2]) == 1
