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
