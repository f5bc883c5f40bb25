"""The sweep's ``inside_region`` check reads each optimizer's region from the registry: a
registered optimizer with a region gets its verdict, with no edit to the check."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

import descentcheck.registry.optimizers as reg
from descentcheck.properties.profiles import TEST_PROFILE_MANY, hypothesis_settings
from descentcheck.properties.sweep.checks import inside_region
from descentcheck.registry.optimizers import LR, Hyperparameter, OptimizerEntry
from descentcheck.theory.descent import (
    Region,
    adaptive_guaranteed,
    gd_guaranteed,
    max_tau,
    nesterov_guaranteed,
)

positive = st.floats(1e-3, 10.0)
small = st.floats(0.0, 10.0)


def _half_gd(lr: float, kappa: float, L: float) -> bool:
    """A made-up region, ``kappa lr L < 1``, in a hyperparameter no built-in has."""
    return kappa * lr * L < 1


HALF = OptimizerEntry(
    name="half",
    summary="a fake optimizer with its own region",
    hyperparameters=(LR, Hyperparameter("kappa", "float", "region scale", 2.0)),
    factory="descentcheck.impl.optim:gd",
    derivation=None,
    region=lambda: Region("half_gd", None, "", "", "kappa lr L < 1", _half_gd),
)


@pytest.fixture
def registered(monkeypatch):
    """Register entries for the test (the registry's plugins loaded first, then these)."""

    def install(*entries: OptimizerEntry) -> None:
        found = {**reg.registry(), **{e.name: e for e in entries}}
        monkeypatch.setattr(reg, "_entries", found)

    return install


@hypothesis_settings(TEST_PROFILE_MANY)
@given(lr=positive, kappa=small, L=small)
def test_a_registered_region_gives_its_verdict(lr, kappa, L):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(reg, "_entries", {**reg.registry(), "half": HALF})
        out = inside_region("half", {"lr": lr, "kappa": kappa}, L)
        default = inside_region("half", {"lr": lr}, L)  # kappa's default, 2
    assert out["region"] == "half_gd" and out["lr_L"] == lr * L
    assert out["inside"] is (kappa * lr * L < 1)
    assert default["inside"] is (2.0 * lr * L < 1)


def test_a_plugin_may_name_a_theory_region(registered):
    registered(replace(HALF, name="plain", region="gd"))
    assert inside_region("plain", {"lr": 1.0}, 1.0)["inside"] is True
    out = inside_region("plain", {"lr": 2.0}, 1.0)
    assert out["inside"] is False and out["region"] == "gd"


@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_a_plugin_naming_a_builtins_region_gets_its_verdicts(registered, beta):
    """A blind plugin author's heavy ball named constant_momentum, its hyperparameters named as
    the README says (``momentum``, no ``argument``): the sweep gave no verdict ("needs per-step
    beta"), because the region's test takes the built-in's keyword ``beta``."""
    own = Hyperparameter("momentum", "float", "momentum", 0.0, high=1.0, high_open=True)
    registered(
        replace(
            reg.get("momentum"),
            name="hb2",
            hyperparameters=(LR, own),
            origin="plugin 'hb2' (hb:HB2)",
        )
    )
    for lr in (0.5, 1.9, 2.5):
        mine = inside_region("hb2", {"lr": lr, "momentum": beta}, 1.0)
        builtin = inside_region("momentum", {"lr": lr, "momentum": beta}, 1.0)
        assert mine["inside"] is builtin["inside"] is not None, mine
        assert mine["region"] == "constant_momentum" and mine["beta"] == beta


def test_no_verdict_without_a_region_or_with_a_per_step_quantity(registered):
    per_step = Region("per_step", None, "", "", "", lambda lr, L, grad: True)
    registered(
        replace(HALF, name="none", region=None, no_region="no theorem"),
        replace(HALF, name="step", region=lambda: per_step),
    )
    out = inside_region("none", {"lr": 0.1}, 1.0)
    assert out["inside"] is None and out["region"] is None and "no theorem" in out["note"]
    out = inside_region("step", {"lr": 0.1}, 1.0)
    assert (
        out["inside"] is None
        and out["note"] == "the per_step region needs per-step grad: no verdict"
    )
    rms = inside_region("rmsprop", {"lr": 0.1, "rho": 0.9}, 1.0)
    assert rms["inside"] is None and rms["region"] == "rmsprop"


@hypothesis_settings(TEST_PROFILE_MANY)
@given(lr=positive, tau=small, beta=st.floats(0.0, 0.99), L=small)
def test_builtins_match_theory(lr, tau, beta, L):
    """Each built-in gets theory's verdict; heavy ball and Nesterov at the worst case of the
    unbounded ratio rho_k: inside only at beta = 0, then gd's region."""
    assert inside_region("gd", {"lr": lr}, L)["inside"] is gd_guaranteed(lr, L)
    am = inside_region("adaptive_momentum", {"lr": lr, "tau": tau, "group": "node"}, L)
    assert am["inside"] is adaptive_guaranteed(lr, tau, L)
    assert am["tau_L"] == tau * L and am["tau_max_L"] == max_tau(lr, L) * L
    hb = inside_region("momentum", {"lr": lr, "momentum": beta}, L)
    assert hb["beta"] == beta and hb["inside"] is (beta == 0 and gd_guaranteed(lr, L))
    nag = inside_region("nesterov", {"lr": lr, "momentum": beta}, L)
    assert nag["beta"] == beta and nag["inside"] is nesterov_guaranteed(lr, beta, L, math.inf)
    for name in ("momentum", "nesterov"):
        zero = inside_region(name, {"lr": lr, "momentum": 0.0}, L)
        assert (
            zero["inside"] is gd_guaranteed(lr, L)
            and zero["note"] == "beta = 0 is gradient descent"
        )


def test_a_non_finite_L0_gives_no_verdict():
    out = inside_region("gd", {"lr": 0.1}, float("inf"))
    assert out["inside"] is None and out["note"] == "L_0 is inf: no region"
