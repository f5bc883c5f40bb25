"""A NaN is a miss: each claim below once let a NaN through its comparison.

``nan > tol`` is false, and Python's ``max`` keeps its first argument when a later one is NaN,
so a claim that looks for a miss with ``>`` or folds errors with ``max`` passes a NaN. An
adversarial review of the full mutation run found the matmul-accuracy claim doing so (a NaN
input gradient passed); the same pattern was then fixed in the claims below, and a divergence
(a finite loss, then inf or NaN) is now a step the a-priori claims judge. Each planted bug here
held before the fix.
"""

from __future__ import annotations

import importlib
from dataclasses import replace

import pytest
from planting import plant

from descentcheck.properties import BY_ID, get_profile
from descentcheck.properties.claims.apriori import apriori_claim
from descentcheck.properties.runner import run_claim

pytestmark = pytest.mark.teeth


@pytest.fixture()
def profile(tmp_path):
    return replace(get_profile("fast"), database=str(tmp_path / "db"), jobs=1)


def test_a_nan_step_norm_record_is_caught(monkeypatch, profile):
    trainer = importlib.import_module("descentcheck.impl.trainer")
    new = "self.step_norms.append(float('nan'))"
    plant(monkeypatch, trainer._Run, "update", ("self.step_norms.append(_norm(dw))", new))
    entry = run_claim(BY_ID["trajectory-records-equal-the-observables"], profile)
    assert entry["outcome"] == "falsified", entry


def test_a_run_going_on_past_a_nan_update_is_caught(monkeypatch, profile):
    """The trainer before a held-out audit: RMSProp at eps = 0 made NaN weights, which a relu
    maps to 0, and the run went on "completed". The observables claim draws relu, eps = 0 and a
    zero input column: its NaN step-norm records differ from the iterates' (NaN) steps."""
    trainer = importlib.import_module("descentcheck.impl.trainer")
    old = 'return finite or not self.diverged(f"update became non-finite at step {k}")'
    plant(monkeypatch, trainer._Run, "update", (old, "return True"))
    entry = run_claim(BY_ID["trajectory-records-equal-the-observables"], profile)
    assert entry["outcome"] == "falsified", entry


def test_a_nan_in_a_later_gradient_array_is_caught(monkeypatch, profile):
    from descentcheck.impl.ops.dense import Dense

    real = Dense.backward

    def backward(self, params, cache, gy, out=None):
        gx, grads = real(self, params, cache, gy, out=out)
        return gx, {**grads, "b": grads["b"] * float("nan")}  # "b" after "W"

    monkeypatch.setattr(Dense, "backward", backward)
    entry = run_claim(BY_ID["gradient-equals-oracle"], profile)
    assert entry["outcome"] == "falsified", entry


def test_a_nan_initial_weight_is_caught(monkeypatch, profile):
    from descentcheck.impl.ops.dense import Dense

    real = Dense.init

    def init(self, rng, xs):
        p = real(self, rng, xs)
        p["W"].flat[-1] = float("nan")
        return p

    monkeypatch.setattr(Dense, "init", init)
    entry = run_claim(BY_ID["dense-init-glorot-uniform"], profile)
    assert not entry["meets_expectation"], entry


@pytest.mark.parametrize(
    "claim",
    [
        "apriori-adaptive-momentum-c4 (fresh draws)",
        "update-equals-derived-rule",
        "minibatch-trainer-equals-the-reference-loop",
    ],
)
def test_a_run_that_diverges_fails_a_held_claim(monkeypatch, profile, claim):
    """A trainer whose third step is infinite: the loss goes from finite to NaN. The a-priori
    claims judged no step after a non-finite loss, so this run held; a divergence is now a step
    that did not decrease (uncertified here: the iterate itself is not finite, so the claim's
    outcome is an error, which misses its expectation as a falsification would). The update and
    minibatch claims skipped diverged runs whole: they held with every one of their runs
    diverged; they now check each step a diverged run took."""
    trainer = importlib.import_module("descentcheck.impl.trainer")
    old = "self.step_norms.append(_norm(dw))"
    new = "dw = dw * (float('inf') if len(self.step_norms) == 2 else 1.0)\n    " + old
    plant(monkeypatch, trainer._Run, "update", (old, new))
    # the ledger's c = 4 claim is must-fail (a recorded case rises): its fresh draws, as a
    # claim expected to hold
    held = apriori_claim("adaptive_momentum", 4.0, "holds", "test")
    entry = run_claim(held if claim.startswith("apriori") else BY_ID[claim], profile)
    assert not entry["meets_expectation"], entry
