"""The ledger has teeth: with a bug planted in the trainer, claims that held are falsified."""

from __future__ import annotations

import importlib
from dataclasses import replace

import pytest

from descentcheck.impl.ops import merges
from descentcheck.impl.optim import Optimizer
from descentcheck.properties import BY_ID, get_profile
from descentcheck.properties.runner import run_claim


@pytest.fixture()
def profile(tmp_path):
    return replace(get_profile("fast"), database=str(tmp_path / "db"), jobs=1)


def test_an_add_that_drops_the_skip_gradient_is_caught(monkeypatch, profile):
    """Backprop through add loses the gradient of its first input (a chain edge when the add
    merges a skip into a block). Only cases with an add merge can see it."""

    def backward(self, params, cache, gy):
        return [gy * 0.0] + [gy for _ in self.inputs[1:]], {}

    monkeypatch.setattr(merges.Add, "backward", backward)
    entry = run_claim(BY_ID["gradient-equals-oracle"], replace(profile, examples=150))
    assert entry["outcome"] == "falsified"
    assert "differs from the oracle" in entry["message"]


def test_adaptive_momentum_with_a_reversed_tripled_momentum_term_is_caught(monkeypatch, profile):
    """The momentum term alpha_k dw_{k-1} reversed and three times as long: |m| = 3 tau |g_k|
    breaks the |m| = tau |g_k| the region is derived from, and from the second step on the loss
    falls by less than theory guarantees (or rises)."""
    real = importlib.import_module("descentcheck.impl.optim.adaptive_momentum").adaptive_momentum

    def broken(lr, tau, group="array"):
        opt = real(lr, tau, group)

        def update(grads, prev, params):
            dw, _, info = opt.update(grads, prev, params)
            bad = {k: -(lr * g) - 3.0 * (dw[k] + lr * g) for k, g in grads.items()}
            return bad, bad, info

        # a fresh Optimizer: only the dict-form update, the planted bug in it
        return Optimizer(opt.name, opt.hyperparameters, opt.init, update)

    monkeypatch.setattr("descentcheck.impl.optim.adaptive_momentum", broken)
    entry = run_claim(BY_ID["adaptive-momentum-descent"], profile)
    assert entry["outcome"] == "falsified"
    assert entry["counterexample"]["step"] >= 1  # momentum only acts from the second step on
