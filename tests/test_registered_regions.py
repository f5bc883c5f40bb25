"""``registered-regions-give-descent``: the ledger tests every registered optimizer's own region
on runs, a plugin's callable region included; a region drawn wider than the truth is falsified
with a counterexample that replays, the true one holds."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sympy as sp
from optimizer_plugins import FakeEntryPoint

import descentcheck.registry.optimizers as reg
from descentcheck.impl.optim.base import Optimizer, StepInfo
from descentcheck.properties.claims.registered_regions import REGISTERED_REGIONS, judged_optimizers
from descentcheck.properties.counterexample import replay
from descentcheck.properties.profiles import get_profile
from descentcheck.properties.runner import run_claim
from descentcheck.registry.optimizers import (
    LR,
    Hyperparameter,
    OptimizerEntry,
    UpdateRule,
    coverage_problems,
)
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


def test_a_plugin_region_whose_test_raises_is_refused_by_theory_and_not_judged(plugins, tmp_path):
    from click.testing import CliRunner

    from descentcheck.cli import main
    from descentcheck.properties.sweep.checks import inside_region

    def broken(lr, L):
        return 1 / 0

    region = replace(edge_region(2.0), guaranteed=broken)
    plugins(FakeEntryPoint("plain_gd", replace(plain_gd(2.0), region=lambda: region)))
    problems = coverage_problems(reg.get("plain_gd"))
    assert len(problems) == 1 and "'lr L < 2': guaranteed raised at {" in problems[0], problems
    assert problems[0].endswith("ZeroDivisionError: division by zero")
    assert judged_optimizers() == ("gd", "adaptive_momentum")
    note = inside_region("plain_gd", {"lr": 0.5}, 1.0)["note"]
    assert note.startswith("plain_gd: theory refuses its region 'lr L < 2' (optimizer plain_gd")
    env = {"DESCENTCHECK_HYPOTHESIS_DB": str(tmp_path / "db"), "DESCENTCHECK_JOBS": "1"}
    args = ["verify", "--profile", "fast", "--claim", "registered-regions-give-descent"]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output


def test_a_region_callable_that_raises_or_is_no_region_is_not_judged(plugins):
    """The held-out plugin's two broken regions: verify gave a traceback (the claim asked for
    the region before theory's verdict); the sweep stored an AttributeError."""
    from descentcheck.properties.sweep.checks import inside_region

    def raising():
        raise RuntimeError("boom from region callable")

    for region, says in ((raising, "RuntimeError: boom"), (lambda: "gd", "is a str, not")):
        plugins(FakeEntryPoint("plain_gd", replace(plain_gd(2.0), region=region)))
        assert judged_optimizers() == ("gd", "adaptive_momentum")
        note = inside_region("plain_gd", {"lr": 0.5}, 1.0)["note"]
        assert note.startswith("plain_gd: theory refuses its region") and says in note, note


def make_scaled_gd(lr: float, c: float) -> Optimizer:
    def update(grads, state, params):
        return {k: -lr * c * g for k, g in grads.items()}, None, StepInfo(None)

    return Optimizer("scaled_gd", {"lr": lr, "c": c}, lambda params: None, update)


def scaled_gd_rule() -> UpdateRule:
    lr, c, g = sp.symbols("lr c g", real=True)
    return UpdateRule(step=-lr * c * g, gradient=g, hyperparameters={"lr": lr, "c": c})


def scaled_region(guaranteed=lambda lr, c, L: 0.0 < lr * c * L < 2.0, condition=None):
    lr, c, L = sp.symbols("lr c L", positive=True)  # fresh symbols: matched by name
    return descent.Region(
        name="lr c L < 2",
        condition=sp.StrictLessThan(lr * c * L, 2) if condition is None else condition,
        latex=r"\eta c L < 2",
        mathml="",
        words="w -= lr c g decreases every L-smooth E when lr c L < 2",
        guaranteed=guaranteed,
    )


def scaled_gd(region) -> OptimizerEntry:
    c = Hyperparameter("c", "float", "step multiplier", 1.0, high=10.0, draw=(0.5, 4.0, False))
    return OptimizerEntry(
        name="scaled_gd",
        summary="w -= lr c g",
        hyperparameters=(LR, c),
        factory=make_scaled_gd,
        derivation=scaled_gd_rule,
        region=lambda: region,
    )


def test_a_region_in_the_plugins_own_hyperparameters_is_accepted_and_judged(plugins, tmp_path):
    """The held-out plugin could not state lr c < 2/L: its condition had to use only the
    symbols of theory.descent_proofs (the objects themselves, not symbols of those names)."""
    plugins(FakeEntryPoint("scaled_gd", scaled_gd(scaled_region())))
    assert coverage_problems(reg.get("scaled_gd")) == []
    assert judged_optimizers() == ("gd", "adaptive_momentum", "scaled_gd")
    entry = _run(tmp_path)
    assert entry["outcome"] == "held" and entry["measured"]["cases_of_plugins"] >= 5, entry


@pytest.mark.parametrize(
    ("region", "says"),
    [
        # the held-out plugin's: derive printed lr c L < 2, the runs were judged by lr c L < 1
        (
            scaled_region(guaranteed=lambda lr, c, L: 0.0 < lr * c * L < 1.0),
            "guaranteed says False, its condition True, at {",
        ),
        (
            scaled_region(condition=sp.StrictLessThan(sp.Symbol("lr") * sp.Symbol("L"), 2)),
            "guaranteed takes ['L', 'c', 'lr'], its condition ['L', 'lr']: the two cannot state",
        ),
    ],
    ids=["disagree", "other quantities"],
)
def test_a_region_whose_test_and_condition_differ_is_refused(plugins, region, says):
    plugins(FakeEntryPoint("scaled_gd", scaled_gd(region)))
    problems = coverage_problems(reg.get("scaled_gd"))
    assert len(problems) == 1 and says in problems[0], problems
    assert judged_optimizers() == ("gd", "adaptive_momentum")


def test_the_readmes_region_example_is_accepted(plugins):
    """The README's ``scaled_gd_region``, as written there, passes theory's region checks."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    (code,) = re.findall(r"```python\n(def scaled_gd_region\(\):.*?)```", readme, flags=re.S)
    namespace: dict = {}
    exec(code, namespace)
    region = namespace["scaled_gd_region"]()
    plugins(FakeEntryPoint("scaled_gd", scaled_gd(region)))
    assert coverage_problems(reg.get("scaled_gd")) == []
    assert region.guaranteed(lr=0.5, c=1.0, L=3.0) and not region.guaranteed(lr=1.0, c=1.0, L=3.0)
