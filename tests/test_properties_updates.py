"""The whole-update and forward claims have teeth: each held-out mutant of the trainer's code makes
them fail, and the unmutated trainer passes them.

Each mutant is monkeypatched into the function ``train`` actually runs (the flat, in-place form
of the optimizer, reached through ``get_optimizer``), then the claim runs under the fast profile
with a fresh example database."""

from __future__ import annotations

import importlib
from dataclasses import replace

import numpy as np
import pytest

import descentcheck.impl.optim as optim
from descentcheck.properties.claims import BY_ID
from descentcheck.properties.claims.updates import update_strategy
from descentcheck.properties.profiles import get_profile
from descentcheck.properties.runner import run_claim

UPDATE = "update-equals-derived-rule"
# the modules (the package's attributes of the same names are the factory functions)
mom = importlib.import_module("descentcheck.impl.optim.momentum")
am = importlib.import_module("descentcheck.impl.optim.adaptive_momentum")


def _run(claim_id: str, tmp_path, kinds: tuple[str, ...] | None = None) -> dict:
    """The claim under the fast profile (optionally only the optimizer kinds ``kinds``)."""
    profile = replace(get_profile("fast"), database=str(tmp_path / "db"), jobs=1)
    claim = BY_ID[claim_id]
    if kinds is not None:
        claim = replace(claim, strategy=update_strategy(kinds))
    return run_claim(claim, profile)


def test_update_claim_holds_on_the_trainer(tmp_path):
    entry = _run(UPDATE, tmp_path)
    assert entry["outcome"] == "held", entry["message"]
    m = entry["measured"]
    assert m["worst_error_over_tolerance"] <= 1.0
    assert m["runs_tested"] >= 40  # vacuous runs are few and not counted as tested
    assert m["entries_sign_resolved"] > 0.5 * m["entries_checked"]


def _heavy_ball_minus(g, buf, beta):
    """Mutant: buf_k = -beta buf_(k-1) + g_k, i.e. dw_k = -lr g_k - beta dw_(k-1)."""
    if buf is None:
        return g.copy()
    buf *= -beta
    buf += g
    return buf


def _adaptive_minus_tau(tau, g2, d2):
    """Mutant: alpha = -tau |g| / |dw|."""
    return -am.np.divide(tau * np.sqrt(g2), np.sqrt(d2), out=np.zeros(len(g2)), where=d2 > 0.0)


def _nesterov_without_lookahead(lr, beta):
    """Mutant: Nesterov steps along its buffer, w -= lr buf_k (heavy ball)."""
    opt = mom.momentum(lr, beta)
    return replace(opt, name="nesterov")


def _rmsprop_eps_inside(lr, rho=0.99, eps=1e-8, momentum=0.0):
    """Mutant: the denominator sqrt(v) + eps computed as sqrt(v + eps) (a common slip)."""
    from descentcheck.impl.optim.base import FlatOptimizer

    real = _REAL_RMSPROP(lr, rho, eps, momentum)

    def flat(layout):
        def update(g, state, w):
            v, buf = state
            v *= rho
            v += (1.0 - rho) * g * g
            scaled = g / np.sqrt(v + eps)
            if momentum > 0:
                buf *= momentum
                buf += scaled
                return -lr * buf, (v, buf), momentum
            return -lr * scaled, (v, None), None

        return FlatOptimizer(real.flat(layout).init, update)

    return replace(real, flat=flat)


def _unit_as_node(names, shapes):
    """Mutant: the unit grouping takes one coefficient per node."""
    labels, parts = {}, []
    for key, shape in zip(names, shapes):
        j = labels.setdefault(key.rsplit(".", 1)[0], len(labels))
        parts.append(np.full(int(np.prod(shape)), j, dtype=np.intp))
    return list(labels), np.concatenate(parts)


def _gd_long(lr):
    """Mutant: gradient descent with the step 1 + 1e-6 times too long."""
    return _REAL_GD(lr * (1 + 1e-6))


_REAL_RMSPROP, _REAL_GD = optim.rmsprop, optim.gd


MUTANTS = {  # name: (module, attribute, replacement, the optimizer kind it touches)
    "heavy ball adds -beta dw_(k-1)": (mom, "_buffer", _heavy_ball_minus, "momentum"),
    "adaptive momentum with -tau": (am, "_coefficients", _adaptive_minus_tau, "adaptive_momentum"),
    "nesterov without look-ahead": (optim, "nesterov", _nesterov_without_lookahead, "nesterov"),
    "rmsprop eps inside the root": (optim, "rmsprop", _rmsprop_eps_inside, "rmsprop"),
    "unit grouping per node": (am, "unit_index", _unit_as_node, "adaptive_momentum"),
    "gd step 1e-6 too long": (optim, "gd", _gd_long, "gd"),
}


@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_update_claim_kills_mutant(mutant, monkeypatch, tmp_path):
    module, name, fn, kind = MUTANTS[mutant]
    monkeypatch.setattr(module, name, fn)
    entry = _run(UPDATE, tmp_path, kinds=(kind,))
    assert entry["outcome"] == "falsified", f"{mutant} survived: {entry['measured']}"


# ---- the forward pass ----------------------------------------------------------------------

FORWARD = "forward-equals-spec"
dense_mod = importlib.import_module("descentcheck.impl.ops.dense")
act_mod = importlib.import_module("descentcheck.impl.ops.activations")
gauss_mod = importlib.import_module("descentcheck.impl.ops.gaussian")
loss_mod = importlib.import_module("descentcheck.impl.losses")


def test_forward_claim_holds_on_the_trainer(tmp_path):
    entry = _run(FORWARD, tmp_path)
    assert entry["outcome"] == "held", entry["message"]
    assert entry["measured"]["cases_tested"] >= 45
    assert entry["measured"]["error_over_allowed"] <= 1.0


def _dense_minus_bias(self, params, xs):
    """Mutant: y = x W - b."""
    x = xs[0]
    return x @ params[self.keys["W"]] - params[self.keys["b"]], x


_REAL_GAUSSIAN = gauss_mod.Gaussian.forward


def _gaussian_flipped(self, params, xs):
    """Mutant: the distance layer's exponent with the wrong sign (exp(+z), or -z for logits)."""
    y, cache = _REAL_GAUSSIAN(self, params, xs)
    return (-y if self.logits else 1.0 / y), cache


_REAL_MSE = loss_mod.MSE.__call__

FORWARD_MUTANTS = {
    "dense adds -b": (dense_mod.Dense, "forward", _dense_minus_bias),
    "tanh(-x)": (act_mod.Tanh, "fn", staticmethod(lambda x: np.tanh(-x))),
    "gaussian exponent sign": (gauss_mod.Gaussian, "forward", _gaussian_flipped),
    "mse without the 1/2": (loss_mod.MSE, "__call__", lambda self, a, b: 2 * _REAL_MSE(self, a, b)),
}


@pytest.mark.parametrize("mutant", list(FORWARD_MUTANTS))
def test_forward_claim_kills_mutant(mutant, monkeypatch, tmp_path):
    owner, name, fn = FORWARD_MUTANTS[mutant]
    monkeypatch.setattr(owner, name, fn)
    entry = _run(FORWARD, tmp_path)
    assert entry["outcome"] == "falsified", f"{mutant} survived: {entry['measured']}"
