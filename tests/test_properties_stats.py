"""``verify --stats``: vacuous draws and draws at a bound of their range, counted per claim."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
from hypothesis import strategies as st

from descentcheck.impl.network import Network
from descentcheck.properties.claim import Claim, Verdict
from descentcheck.properties.ledger import build_ledger
from descentcheck.properties.profiles import get_profile
from descentcheck.properties.runner import run_claim
from descentcheck.properties.stats import at_bound, float_ranges, format_stats, is_vacuous
from descentcheck.properties.strategies import fractions, unit_interval

LINEAR = {
    "inputs": 1,
    "output": "out",
    "loss": "mse",
    "nodes": [{"name": "out", "op": "dense", "units": 1, "inputs": ["input"]}],
}


def _case(target: float) -> SimpleNamespace:
    net = Network.from_spec(LINEAR)
    x, yt = net.check_data(np.array([[1.0], [2.0]]), np.array([[target], [target]]))
    params = {"out.W": np.zeros((1, 1)), "out.b": np.zeros(1)}
    return SimpleNamespace(net=net, x=x, yt=yt, params=params)


def test_vacuous_cases_are_those_that_test_nothing():
    assert is_vacuous({"steps_tested": 0})
    assert is_vacuous({"runs_tested": 0, "runs_outside": 1})
    assert not is_vacuous({"nontrivial": 0.0})  # an identity reorder still renames
    assert not is_vacuous({"steps_tested": 3})
    assert not is_vacuous({"steps_tested": 3}, {"case": _case(0.5)})
    assert is_vacuous({"steps_tested": 3}, {"case": _case(0.0)})  # E(w_0) = 0


def test_float_ranges_read_the_strategy_and_skip_grid_draws():
    s = st.fixed_dictionaries(
        {"a": fractions(0.1, 0.9), "b": unit_interval(0.0, 1.0), "c": fractions(1.0, 3.0)}
    )
    assert float_ranges(s) == {"a": (0.1, 0.9), "c": (1.0, 3.0)}
    assert float_ranges(st.integers()) == {}
    assert at_bound({"a": 0.1, "c": 2.0}, float_ranges(s)) == ["a"]
    assert at_bound({"a": 0.5, "c": 3.0}, float_ranges(s)) == ["c"]
    assert at_bound({"a": 0.5, "c": 2.0}, float_ranges(s)) == []


def _toy_claim() -> tuple[Claim, list[float]]:
    """A claim whose check tests nothing when a < 0.5: the tallies must match its draws."""
    seen: list[float] = []

    def check(drawn, ctx):
        seen.append(drawn["a"])
        return Verdict(True, {"steps_tested": 0 if drawn["a"] < 0.5 else 1})

    claim = Claim(
        id="toy",
        statement="",
        source="",
        conditions=(),
        expect="holds",
        strategy=lambda profile: st.fixed_dictionaries({"a": fractions(0.0, 1.0)}),
        check=check,
    )
    return claim, seen


def test_the_ledger_counts_vacuous_and_at_bound_draws(tmp_path):
    claim, seen = _toy_claim()
    profile = replace(get_profile("fast"), database=str(tmp_path / "db"), jobs=1)
    entry = run_claim(claim, profile)
    draws = entry["draws"]
    assert draws["draws"] == len(seen) == entry["examples"]
    assert draws["vacuous"] == sum(a < 0.5 for a in seen)
    assert draws["at_bound"] == sum(a in (0.0, 1.0) for a in seen) > 0  # Hypothesis's ends
    assert draws["at_bound_by_key"] == {"a": draws["at_bound"]}
    ledger = build_ledger(profile, [entry], 1.0)
    text = format_stats(ledger["stats"])
    assert "vacuous" in text and "at bound" in text
    assert f"at a bound, toy: a {draws['at_bound']}/{draws['draws']}" in text
    assert ledger["stats"]["all"]["vacuous"] == draws["vacuous"]


def test_a_holds_claim_that_tested_no_case_is_an_error_not_held(tmp_path):
    """A ledger audit planted an empty descent region: every descent claim then "held" with 0
    of 12 cases tested. Held of no case is no evidence; the outcome is error, saying why. One
    tested case among vacuous ones keeps the verdict."""
    profile = replace(get_profile("fast"), database=str(tmp_path / "db"), jobs=1)

    def toy(tested_when):
        return Claim(
            id="toy-vacuous",
            statement="x",
            source="here",
            conditions=("any",),
            expect="holds",
            strategy=lambda p: st.fixed_dictionaries({"a": unit_interval(0.0, 1.0)}),
            check=lambda d, ctx: Verdict(True, {"steps_tested": float(tested_when(d["a"]))}),
        )

    entry = run_claim(toy(lambda a: False), profile)
    assert entry["outcome"] == "error" and not entry["meets_expectation"], entry
    assert entry["message"].startswith(f"vacuous: none of its {entry['examples']} cases tested")
    entry = run_claim(toy(lambda a: a == 0.0), replace(profile, database=str(tmp_path / "d2")))
    assert entry["draws"]["vacuous"] < entry["examples"]  # Hypothesis draws the end 0.0
    assert entry["outcome"] == "held", entry["message"]
