"""An optimizer whose update reads the parameter's value (weight decay) as a plugin: its
derivation names ``w_k`` through ``UpdateRule.parameter``, and theory's agreement check, the
ledger's ``update-equals-derived-rule``, ``derive`` and the named-region check all take it (a
held-out plugin audit: AdamW and torch's SGD ``weight_decay`` were refused, "its derivation uses
undeclared symbols ['w']", and the docs did not say so)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import sympy as sp
from click.testing import CliRunner
from optimizer_plugins import FakeEntryPoint
from weight_decay_plugins import ADAMW, SGDW, WD, make_sgdw, sgdw_rule

from descentcheck.cli import main
from descentcheck.registry.optimizers import LR, UpdateRule, coverage_problems


@pytest.mark.parametrize("entry", [SGDW, ADAMW], ids=["sgdw", "adamw"])
def test_a_weight_decay_optimizer_passes_coverage_and_agrees_with_its_derivation(plugins, entry):
    from descentcheck.theory.optimizer_agreement import compare_registered

    plugins(FakeEntryPoint(entry.name, entry))
    assert coverage_problems(entry) == []
    (mine,) = [c for c in compare_registered(sequences=3) if c.name == entry.name]
    assert mine.ok, mine


def test_theory_sees_a_decay_of_the_wrong_iterate(plugins):
    """The agreement check starts away from 0 and compares at the iterates the update saw: a
    decay of ``w + g`` instead of ``w`` is a failed comparison."""
    from descentcheck.theory.optimizer_agreement import compare_registered

    def wrong(lr, momentum=0.5, wd=0.1):
        return make_sgdw(lr, momentum, wd, where="next")

    plugins(FakeEntryPoint("sgdw", replace(SGDW, factory=wrong)))
    (mine,) = [c for c in compare_registered(sequences=3) if c.name == "sgdw"]
    assert not mine.ok, mine


@pytest.mark.parametrize("where", ["now", "next"])
def test_the_ledger_checks_every_step_at_the_trainers_iterates(plugins, tmp_path, where):
    """``update-equals-derived-rule`` holds of the plugin and is falsified by the mutant."""
    from descentcheck.properties.claims import BY_ID
    from descentcheck.properties.profiles import get_profile
    from descentcheck.properties.runner import run_claim

    def factory(lr, momentum=0.5, wd=0.1):
        return make_sgdw(lr, momentum, wd, where=where)

    plugins(FakeEntryPoint("sgdw", replace(SGDW, factory=factory)))
    profile = replace(get_profile("fast"), database=str(tmp_path / "db"), jobs=1)
    entry = run_claim(BY_ID["update-equals-derived-rule"], profile)
    assert entry["outcome"] == ("held" if where == "now" else "falsified"), entry["message"]
    assert entry["measured"]["runs_sgdw"] > 0, entry["measured"]


def test_derive_shows_w_k(plugins):
    plugins(FakeEntryPoint("sgdw", SGDW))
    run = CliRunner().invoke
    text = run(main, ["derive", "sgdw", "--format", "sympy"]).output
    assert "buf_k = buf_(k-1)*momentum + g + w_k*wd" in text, text
    assert "w_k: the entry's value, the iterate dw_k is applied to" in text, text
    latex = run(main, ["derive", "sgdw", "--format", "latex"]).output
    assert "w_{k}" in latex, latex
    payload = json.loads(run(main, ["derive", "sgdw", "--format", "json"]).output)
    assert payload["parameter"] == "w" and "w" in payload["symbols"], payload
    names = {n: sp.Symbol(n) for n in payload["symbols"]}
    state = sp.sympify(payload["state"]["buf"], locals=names)
    assert state == sp.sympify("buf*momentum + g + w*wd", locals=names), state


def test_a_named_region_is_not_taken_by_a_rule_reading_w(plugins):
    """gd's region was proved for ``-lr g``: a decayed step ``-lr (g + wd w)`` is refused."""
    lr, wd, g, w = sp.symbols("lr wd g w", real=True)

    def rule():
        return UpdateRule(-lr * (g + wd * w), g, {"lr": lr, "wd": wd}, parameter=w)

    entry = replace(
        SGDW, name="gdw", hyperparameters=(LR, WD), derivation=rule, region="gd", no_region=None
    )
    (problem,) = coverage_problems(entry)
    assert "reads the parameter's value w_k" in problem, problem


def test_a_rule_must_declare_w_and_the_unrolled_rule_needs_the_iterates():
    from descentcheck.theory.update_rules import unroll

    lr, g, w, buf = sp.symbols("lr g w buf", real=True)
    undeclared = replace(
        SGDW, derivation=lambda: UpdateRule(-lr * buf, g, {"lr": lr}, state={buf: g + w})
    )
    problems = coverage_problems(undeclared)
    assert any("uses undeclared symbols ['w']" in p for p in problems), problems
    with pytest.raises(ValueError, match="reads the parameter w_k: give the iterates"):
        unroll(sgdw_rule(), {"lr": 0.1, "momentum": 0.5, "wd": 0.1}, [[1.0]])


def test_theory_names_an_undeclared_w_once(plugins):
    """A rule using ``w`` without ``parameter=w`` is one problem, the undeclared symbol: theory
    no longer adds a failed comparison ("cannot create mpf from ... w") for it (a held-out
    plugin author's nit)."""
    from descentcheck.theory.optimizer_agreement import compare_registered, registry_problems

    lr, wd, g, w = sp.symbols("lr wd g w", real=True)
    entry = replace(
        SGDW,
        name="gdw",
        hyperparameters=(LR, WD),
        factory=lambda lr, wd=0.1: make_sgdw(lr, 0.0, wd),
        derivation=lambda: UpdateRule(-lr * (g + wd * w), g, {"lr": lr, "wd": wd}),
    )
    plugins(FakeEntryPoint("gdw", entry))
    assert registry_problems() == ["optimizer gdw: its derivation uses undeclared symbols ['w']"]
    assert "gdw" not in {c.name for c in compare_registered(sequences=1)}
