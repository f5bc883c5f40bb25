"""The SMT proofs of the exact descent regions: every obligation proved, and each would be
refuted (with a model) for a wrong formula; an ``unknown`` is never counted as proved."""

from __future__ import annotations

import pytest
import sympy as sp

from descentcheck.theory import descent_proofs as dp
from descentcheck.theory import descent_smt as smt
from descentcheck.theory.descent_checks import check_descent_smt


def _by_name(outcomes):
    return {o.name: o for o in outcomes}


def test_every_obligation_is_proved():
    outcomes = smt.prove_all()
    assert len(outcomes) >= 14
    assert {o.result for o in outcomes} == {smt.PROVED}, [
        (o.name, o.result, o.detail) for o in outcomes if o.result != smt.PROVED
    ]
    names = {o.name for o in outcomes}
    assert {"upper-bound", "attained", "region-exact", "outside-witness-no-decrease"} <= names


@pytest.mark.parametrize(
    ("attr", "wrong", "refuted"),
    [
        # the first round's Cauchy-Schwarz coefficient is an upper bound, but not attained
        (
            "WORST",
            dp.G**2 * (dp.s - dp.lr + dp.L * (dp.lr + dp.s) ** 2 / 2),
            {"attained", "region-exact", "decrease-bound"},
        ),
        # dropping |.|: the worst direction is wrong past lr = 1/L
        (
            "WORST",
            dp.G**2 * ((1 - dp.lr * dp.L + dp.s * dp.L) ** 2 - 1) / (2 * dp.L),
            {"upper-bound", "attained"},
        ),
        # a region too large on the right of its peak
        ("REGION_BOUND", sp.Min(dp.lr, 3 / dp.L - dp.lr), {"region-exact", "inside-decreases"}),
        # the witness pointing the wrong way
        ("WITNESS_C", -sp.sign(1 - dp.lr * dp.L) * dp.s, {"attained"}),
    ],
)
def test_a_wrong_formula_is_refuted_with_a_model(monkeypatch, attr, wrong, refuted):
    monkeypatch.setattr(dp, attr, wrong)
    got = _by_name(smt.prove_all())
    for name in refuted:
        assert got[name].result == smt.REFUTED, (name, got[name])
        assert "=" in got[name].detail  # the model, for people


def test_unknown_is_reported_and_never_counted_as_proved(monkeypatch):
    import z3

    monkeypatch.setattr(z3.Solver, "check", lambda self, *a: z3.unknown)
    monkeypatch.setattr(z3.Solver, "reason_unknown", lambda self: "timeout")
    out = smt.prove_all()
    assert {o.result for o in out} == {smt.UNKNOWN}
    r = check_descent_smt()
    assert not r.ok and "NOT proved" in r.summary
    assert all(line.startswith("unknown") for line in r.details)


def test_contradictory_hypotheses_are_vacuous_never_proved(monkeypatch):
    """A held-out audit added ``beta < 0`` beside heavy ball's ``beta >= 0``, ``p q < 0`` beside
    RMSProp's ``p, q > 0`` and ``L^2 < 0`` to the shared hypotheses: every obligation still read
    "proved" (from no point, anything follows). Each is now checked to have a point where its
    hypotheses hold."""
    fine = smt.Obligation("fine", "t", lambda v: ([v["L"] > 0], v["L"] * v["L"] > 0))
    assert smt.prove(fine).result == smt.PROVED
    empty = smt.Obligation("empty", "t", lambda v: ([v["L"] > 0, v["L"] < 0], v["L"] > 5))
    out = smt.prove(empty)
    assert out.result == smt.VACUOUS and "no point satisfies" in out.detail
    real = smt._basics
    monkeypatch.setattr(smt, "_basics", lambda v: [*real(v), v["L"] * v["L"] < 0])
    outcomes = _by_name(smt.prove_all())
    assert outcomes["region-exact"].result == smt.VACUOUS
    assert sum(o.result == smt.VACUOUS for o in outcomes.values()) >= 10
    r = check_descent_smt()
    assert not r.ok and "NOT proved" in r.summary and "region-exact" in r.summary


def test_translation_refuses_what_it_cannot_express():
    with pytest.raises(ValueError, match="cannot translate"):
        smt.to_z3(sp.exp(dp.lr), {"lr": None})
