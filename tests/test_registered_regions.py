"""``registered-regions-give-descent``: the ledger tests every registered optimizer's own region
on runs, a plugin's callable region included; a region drawn wider than the truth is falsified
with a counterexample that replays, the true one holds."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sympy as sp
from optimizer_plugins import FakeEntryPoint

from descentcheck.impl.optim.base import Optimizer, StepInfo
from descentcheck.properties.claims.registered_regions import REGISTERED_REGIONS, judged_optimizers
from descentcheck.properties.counterexample import replay
from descentcheck.properties.profiles import get_profile
from descentcheck.properties.runner import run_claim
from descentcheck.registry.optimizers import LR, OptimizerEntry, OptimizerPluginError, UpdateRule
from descentcheck.theory import descent
from descentcheck.theory import descent_proofs as dp


def make_plain_gd(lr: float) -> Optimizer:
    def update(grads, state, params):
        return {k: -lr * g for k, g in grads.items()}, None, StepInfo(None)

    return Optimizer("plain_gd", {"lr": lr}, lambda params: None, update)


def plain_gd_rule() -> UpdateRule:
    lr, g = sp.symbols("lr g", real=True)
    return UpdateRule(step=-lr * g, gradient=g, hyperparameters={"lr": lr})


def edge_region(edge: float) -> descent.Region:
    """Gradient descent's region with ``lr L < edge`` (the truth: edge 2)."""
    return descent.Region(
        name=f"lr L < {edge:g}",
        condition=sp.StrictLessThan(dp.lr * dp.L, edge),
        latex=rf"\eta L < {edge:g}",
        mathml="",
        words=f"one step of gradient descent decreases when lr L < {edge:g}",
        guaranteed=lambda lr, L: 0.0 < lr * L < edge,
    )


def plain_gd(edge: float) -> OptimizerEntry:
    return OptimizerEntry(
        name="plain_gd",
        summary="w -= lr g, with its own region",
        hyperparameters=(LR,),
        factory=make_plain_gd,
        derivation=plain_gd_rule,
        region=lambda: edge_region(edge),
    )


def _run(tmp_path, profile: str = "ci") -> dict:
    settings = replace(get_profile(profile), database=str(tmp_path / "db"), jobs=1)
    return run_claim(REGISTERED_REGIONS, settings)


def test_without_plugins_the_regions_without_a_ratio_are_judged():
    assert judged_optimizers() == ("gd", "adaptive_momentum")


def test_a_plugin_region_drawn_too_wide_is_falsified_and_replays(plugins, tmp_path):
    plugins(FakeEntryPoint("plain_gd", plain_gd(6.0)))
    assert "plain_gd" in judged_optimizers()
    entry = _run(tmp_path)
    assert entry["outcome"] == "falsified", entry["message"]
    assert entry["message"].startswith("plain_gd, step "), entry["message"]
    ce = entry["counterexample"]
    assert ce["certified_increase"] is True
    k = ce["step"]
    traj = replay(ce)
    assert traj.losses[k + 1] > traj.losses[k]
    assert ce["region"] == "lr L < 6"
    # theory's edge says the step was outside: lr L_k >= 2 on the step that rose
    assert ce["hyperparameters"]["lr"] * ce["L_k"] >= 2.0


def test_the_true_region_holds_and_the_plugin_is_judged(plugins, tmp_path):
    plugins(FakeEntryPoint("plain_gd", plain_gd(2.0)))
    entry = _run(tmp_path)
    assert entry["outcome"] == "held", entry["message"]
    measured = entry["measured"]
    assert measured["cases_of_plugins"] >= 5, measured
    assert measured["steps_tested"] > 0 and measured["steps_uncertified"] == 0, measured


def test_a_region_theory_refuses_is_not_judged(plugins):
    refused = replace(plain_gd(2.0), region=lambda: descent.REGIONS["gd"], name="sign")
    refused = replace(
        refused,
        derivation=lambda: UpdateRule(
            step=-sp.Symbol("lr") * sp.sign(sp.Symbol("g")),
            gradient=sp.Symbol("g"),
            hyperparameters={"lr": sp.Symbol("lr")},
        ),
    )
    plugins(FakeEntryPoint("sign", refused))
    assert judged_optimizers() == ("gd", "adaptive_momentum")


def test_a_plugin_region_that_raises_is_one_line_naming_the_plugin(plugins, tmp_path):
    from click.testing import CliRunner

    from descentcheck.cli import main
    from descentcheck.properties.sweep.checks import inside_region

    def broken(lr, L):
        return 1 / 0

    region = replace(edge_region(2.0), guaranteed=broken)
    plugins(FakeEntryPoint("plain_gd", replace(plain_gd(2.0), region=lambda: region)))
    message = (
        "plugin 'plain_gd' (fake_plugin:ADAM): its region's guaranteed failed on "
        "{'lr': 0.5, 'L': 1.0}: ZeroDivisionError: division by zero"
    )
    with pytest.raises(OptimizerPluginError) as info:
        inside_region("plain_gd", {"lr": 0.5}, 1.0)
    assert str(info.value) == message
    env = {"DESCENTCHECK_HYPOTHESIS_DB": str(tmp_path / "db"), "DESCENTCHECK_JOBS": "1"}
    args = ["verify", "--profile", "fast", "--claim", "registered-regions-give-descent"]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code != 0
    assert (
        result.output.strip()
        .splitlines()[-1]
        .startswith(
            "error: plugin 'plain_gd' (fake_plugin:ADAM): its region's guaranteed failed on"
        )
    ), result.output
    assert "Traceback" not in result.output
