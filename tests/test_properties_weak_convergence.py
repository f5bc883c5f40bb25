"""The weak-convergence claim (``gradient-sum-bounded``) has teeth: a trainer that steps half as
far as its learning rate says, or records a gradient norm other than the one it stepped with,
breaks the bound, proved on the real numbers, while the trainer as written keeps it."""

from __future__ import annotations

import dataclasses
from dataclasses import replace

import numpy as np
import pytest

from descentcheck.properties.claims import BY_ID
from descentcheck.properties.claims import convergence as conv
from descentcheck.properties.profiles import get_profile
from descentcheck.properties.runner import run_claim

_TRAIN = conv.train


def _run(tmp_path) -> dict:
    profile = replace(get_profile("fast"), database=str(tmp_path / "db"), jobs=1)
    return run_claim(BY_ID["gradient-sum-bounded"], profile)


def test_gradient_sum_bound_holds_and_every_tested_run_is_certified(tmp_path):
    entry = _run(tmp_path)
    assert entry["outcome"] == "held", entry["message"]
    m = entry["measured"]
    assert m["runs_tested"] >= 40 and m["runs_certified"] == m["runs_tested"], m
    assert m["runs_tested"] + m["runs_outside"] + m["runs_vacuous"] == entry["examples"]
    # the bound is approached, not only met: a float comparison with slack could not decide it
    assert 0.9 < m["gradient_sum_over_bound"] <= 1.0, m
    assert 0 < m["smallest_gradient_over_rate_bound"] <= 1.0, m


def _half_step(*args, lr, **kwargs):
    return _TRAIN(*args, lr=lr / 2, **kwargs)


def _gradient_recorded_long(*args, **kwargs):
    traj = _TRAIN(*args, **kwargs)
    return dataclasses.replace(traj, grad_norms=np.asarray(traj.grad_norms) * 1.5)


@pytest.mark.parametrize("planted", [_half_step, _gradient_recorded_long], ids=lambda f: f.__name__)
def test_gradient_sum_bound_catches_a_planted_bug(monkeypatch, tmp_path, planted):
    monkeypatch.setattr(conv, "train", planted)
    entry = _run(tmp_path)
    assert entry["outcome"] == "falsified", entry["measured"]
    assert "sum of squared gradients exceeds its bound" in entry["message"]
    assert entry["counterexample"]["certified_violation"] is True


def test_certify_gradient_sum_proves_a_false_bound_false():
    """On a short run of one dense layer it proves the bound with the learning rate trained,
    and proves it false when the claim is told a learning rate twice as long (c too large)."""
    from specs import one_dense_run

    from descentcheck.properties.claims.weak_convergence import certify_gradient_sum
    from descentcheck.theory.descent import adaptive_decrease_bound

    lr, L = 0.1, 4.0  # L above the Hessian's largest eigenvalue (3.35)
    run = one_dense_run(lr, L)
    assert adaptive_decrease_bound(lr, 0.0, L, 1.0) > 0
    assert certify_gradient_sum(run)[0] == "certified"
    told_long = {**run, "hp": {"lr": 2 * lr, "tau": 0.0}}
    assert certify_gradient_sum(told_long)[0] == "violated"
