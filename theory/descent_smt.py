"""The exact descent regions, proved over the reals by an SMT solver (z3's nonlinear arithmetic).

Each :class:`Obligation` is a universally quantified statement about the formulas that
:mod:`.descent_proofs` derived in SymPy (``WORST``, ``REGION_BOUND``, ``Q_GRAM``,
``RMSPROP_WORST``, ...), translated to z3 by :func:`to_z3`, so SymPy's derivation and the
solver's proof are about the same expressions. z3 is asked for a model of the negation:

* ``unsat``: no counterexample exists over the reals: **proved**, once z3 has also found a
  point where the hypotheses hold (a model of them alone); premises no point satisfies would
  prove anything, and are reported as **vacuous** (a held-out audit added ``beta < 0`` beside
  ``beta >= 0`` and the obligation still read "proved");
* ``sat``: **refuted**, with the model (a point where the statement is false);
* ``unknown`` (or a time-out), for the statement or for its hypotheses: reported as
  **unknown**, never counted as proved.

Vectors enter through Gram entries (``gg = g.g``, ``gm = g.m``, ``mm = m.m``) and the only fact
about them used is Cauchy-Schwarz, ``(g.m)^2 <= (g.g)(m.m)``, an axiom of inner products. The
descent lemma itself (Nesterov 2004, Lemma 1.2.3) quantifies over functions, which no SMT
theory here expresses: it is the one premise, attained by the quadratic in
:func:`.descent_proofs.witness_function` and refereed by PEPit (``tox -e pep``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy as sp

from . import descent_proofs as dp

PROVED, REFUTED, UNKNOWN, VACUOUS = "proved", "refuted", "unknown", "vacuous"
TIMEOUT_MS = 20_000


@dataclass(frozen=True)
class Obligation:
    """A named statement for the solver: ``hypotheses => conclusion`` for all reals."""

    name: str
    statement: str  # in words, for people
    build: Callable[[dict[str, Any]], tuple[list[Any], Any]]  # z3 vars -> (hyps, conclusion)


@dataclass(frozen=True)
class Outcome:
    name: str
    statement: str
    result: str  # proved | refuted | unknown | vacuous
    seconds: float
    detail: str  # the model when refuted, the solver's reason when unknown

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "statement": self.statement,
            "result": self.result,
            "seconds": self.seconds,
            "detail": self.detail,
        }


def to_z3(expr: Any, env: dict[str, Any]) -> Any:
    """A SymPy expression or relation over the reals as a z3 term (``env``: name -> z3 var).

    Handles what the derivation uses: rationals, +, *, integer powers, Abs, Min, Max, sign,
    relations, And, Or, Not. A square root is not translated: an obligation that needs one
    names it as a variable ``nv >= 0`` with ``nv^2`` equal to its argument (RMSProp)."""
    import z3

    e = sp.sympify(expr)
    rec = lambda x: to_z3(x, env)  # noqa: E731
    if isinstance(e, sp.Symbol):
        return env[e.name]
    if isinstance(e, sp.Rational | sp.Integer):
        return z3.RealVal(f"{e.p}/{e.q}")
    if isinstance(e, sp.Add):
        return z3.Sum([rec(a) for a in e.args])
    if isinstance(e, sp.Mul):
        return z3.Product([rec(a) for a in e.args])
    if isinstance(e, sp.Pow) and e.exp.is_Integer:
        base, n = rec(e.base), int(e.exp)
        out = z3.RealVal(1)
        for _ in range(abs(n)):
            out = out * base
        return out if n >= 0 else 1 / out
    if isinstance(e, sp.Abs):
        x = rec(e.args[0])
        return z3.If(x >= 0, x, -x)
    if isinstance(e, sp.sign):
        x = rec(e.args[0])
        return z3.If(x > 0, z3.RealVal(1), z3.If(x < 0, z3.RealVal(-1), z3.RealVal(0)))
    if isinstance(e, sp.Min | sp.Max):
        terms = [rec(a) for a in e.args]
        out = terms[0]
        for t in terms[1:]:
            out = z3.If(t < out, t, out) if isinstance(e, sp.Min) else z3.If(t > out, t, out)
        return out
    relations = {
        sp.StrictLessThan: lambda x, y: x < y,
        sp.LessThan: lambda x, y: x <= y,
        sp.StrictGreaterThan: lambda x, y: x > y,
        sp.GreaterThan: lambda x, y: x >= y,
        sp.Equality: lambda x, y: x == y,
    }
    for kind, make in relations.items():
        if isinstance(e, kind):
            return make(rec(e.lhs), rec(e.rhs))
    if isinstance(e, sp.And | sp.Or):
        return (z3.And if isinstance(e, sp.And) else z3.Or)([rec(a) for a in e.args])
    if isinstance(e, sp.Not):
        return z3.Not(rec(e.args[0]))
    raise ValueError(f"cannot translate {type(e).__name__} to z3: {e}")


def prove(ob: Obligation, timeout_ms: int = TIMEOUT_MS) -> Outcome:
    """Ask z3 for a model of ``hypotheses and not conclusion``; on ``unsat``, for one of the
    hypotheses alone (see the module docstring)."""
    import z3

    env = {n: z3.Real(n) for n in _NAMES}
    hyps, goal = ob.build(env)
    solver = z3.Solver()
    solver.set("timeout", timeout_ms)
    solver.add(*hyps, z3.Not(goal))
    t0 = time.perf_counter()
    answer = solver.check()
    if answer == z3.unsat:
        premises = z3.Solver()
        premises.set("timeout", timeout_ms)
        premises.add(*hyps)
        consistent = premises.check()
        seconds = time.perf_counter() - t0
        if consistent == z3.sat:
            return Outcome(ob.name, ob.statement, PROVED, seconds, "")
        if consistent == z3.unsat:
            why = "no point satisfies the hypotheses: the proof says nothing"
            return Outcome(ob.name, ob.statement, VACUOUS, seconds, why)
        why = f"hypotheses undecided: {premises.reason_unknown()}"
        return Outcome(ob.name, ob.statement, UNKNOWN, seconds, why)
    seconds = time.perf_counter() - t0
    if answer == z3.sat:
        model = solver.model()
        shown = ", ".join(f"{d.name()} = {model[d]}" for d in model.decls())
        return Outcome(ob.name, ob.statement, REFUTED, seconds, shown)
    return Outcome(ob.name, ob.statement, UNKNOWN, seconds, solver.reason_unknown())


_NAMES = ("lr", "L", "s", "G", "gg", "gm", "mm", "tau", "beta", "rho_k", "p", "q", "r", "nv")


def _z(env: dict[str, Any], expr: Any) -> Any:
    return to_z3(expr, env)


def _basics(v: dict[str, Any]) -> list[Any]:
    """lr > 0, L > 0, s >= 0, G > 0 and the Gram entries of g (gg = G^2)."""
    return [v["lr"] > 0, v["L"] > 0, v["s"] >= 0, v["G"] > 0, v["gg"] == v["G"] * v["G"]]


def _admissible_m(v: dict[str, Any]) -> list[Any]:
    """|m| = s G (mm = s^2 gg) and Cauchy-Schwarz (g.m)^2 <= |g|^2 |m|^2."""
    return [v["mm"] == v["s"] * v["s"] * v["gg"], v["gm"] * v["gm"] <= v["gg"] * v["mm"]]


def _witness(v: dict[str, Any]) -> Any:
    """Q at the witness m = sign(1 - lr L) s g (gm = sign * s * gg, mm = s^2 gg)."""
    import z3

    q = _z(v, dp.Q_GRAM)
    return z3.substitute(
        q,
        (v["gm"], _z(v, dp.WITNESS_C) * v["gg"]),
        (v["mm"], v["s"] * v["s"] * v["gg"]),
    )


def _inside(v: dict[str, Any]) -> Any:
    return _z(v, sp.StrictLessThan(dp.s, dp.REGION_BOUND))


def _W(v: dict[str, Any]) -> Any:
    """The worst case of g.d + L|d|^2/2 over admissible momentum vectors."""
    return _z(v, dp.WORST)


def _Q(v: dict[str, Any]) -> Any:
    """g.d + L|d|^2/2 in Gram entries."""
    return _z(v, dp.Q_GRAM)


def _adaptive_obligations() -> list[Obligation]:
    """The exact region of adaptive momentum: bound, witness, region, and the first round's."""
    import z3

    return [
        Obligation(
            "upper-bound",
            "for every admissible m (|m| = s|g|, any direction), g.d + L|d|^2/2 <= W",
            lambda v: ([*_basics(v), *_admissible_m(v)], _Q(v) <= _W(v)),
        ),
        Obligation(
            "attained",
            "the witness m = sign(1 - lr L) s g reaches W exactly",
            lambda v: (_basics(v), _witness(v) == _W(v)),
        ),
        Obligation(
            "region-exact",
            "W < 0 iff s < min(lr, 2/L - lr)",
            lambda v: (_basics(v), (_W(v) < 0) == _inside(v)),
        ),
        Obligation(
            "inside-decreases",
            "inside the region, every admissible step has g.d + L|d|^2/2 < 0",
            lambda v: ([*_basics(v), *_admissible_m(v), _inside(v)], _Q(v) < 0),
        ),
        Obligation(
            "outside-witness-no-decrease",
            "outside the region, the witness step does not decrease the witness E",
            lambda v: ([*_basics(v), z3.Not(_inside(v))], _witness(v) >= 0),
        ),
        Obligation(
            "gd-region",
            "gradient descent (s = 0): W < 0 iff 0 < lr < 2/L",
            lambda v: (
                [*_basics(v), v["s"] == 0],
                (_W(v) < 0) == z3.And(v["lr"] > 0, v["lr"] < 2 / v["L"]),
            ),
        ),
        Obligation(
            "decrease-bound",
            "the guaranteed decrease (min(lr, 2/L - lr) - s)(1 + |1 - lr L| + s L) G^2/2 = -W",
            lambda v: (_basics(v), _z(v, dp.DECREASE) == -_W(v)),
        ),
        Obligation(
            "cauchy-schwarz-inside-exact",
            "the first round's region s + L(lr + s)^2/2 < lr lies inside the exact one",
            lambda v: ([*_basics(v), _z(v, dp.CAUCHY_SCHWARZ_REGION)], _inside(v)),
        ),
    ]


def _momentum_obligations() -> list[Obligation]:
    """The same region read for heavy ball, Nesterov and momentum proportional to the step
    (tau = s lr)."""

    return [
        Obligation(
            "heavy-ball",
            "heavy ball: |beta dw_{k-1}| = beta rho_k |g|, so the region is beta rho_k < "
            "min(lr, 2/L - lr)",
            lambda v: (
                [*_basics(v), v["beta"] >= 0, v["rho_k"] >= 0, v["s"] == v["beta"] * v["rho_k"]],
                (_W(v) < 0) == (v["beta"] * v["rho_k"] < _z(v, dp.REGION_BOUND)),
            ),
        ),
        Obligation(
            "nesterov",
            "Nesterov, d = -lr(1+beta) g - lr beta^2 b: W at lr(1+beta), s = beta^2 rho_k, "
            "is < 0 iff beta^2 rho_k < min(lr(1+beta), 2/L - lr(1+beta))",
            _nesterov,
        ),
        Obligation(
            "papers-parametrisation",
            "tau = s lr with 0 < s < 1: tau < min(lr, 2/L - lr) iff lr < 2/(L(1+s))",
            lambda v: (
                [*_basics(v), v["s"] > 0, v["s"] < 1],
                (v["s"] * v["lr"] < _z(v, dp.REGION_BOUND))
                == (v["lr"] < 2 / (v["L"] * (1 + v["s"]))),
            ),
        ),
    ]


def _rmsprop_obligations() -> list[Obligation]:
    """RMSProp's worst case, attained, and its region without momentum."""
    return [
        Obligation(
            "rmsprop-upper-bound",
            "RMSProp d = -lr Dg + m, |m| = r: g.d + L|d|^2/2 <= -lr g.Dg + L lr^2|Dg|^2/2 + "
            "r|g - L lr Dg| + L r^2/2",
            _rmsprop_bound,
        ),
        Obligation(
            "rmsprop-attained",
            "RMSProp: m = r v/|v| (v = g - L lr Dg) reaches that bound",
            _rmsprop_attained,
        ),
        Obligation(
            "rmsprop-region",
            "RMSProp without momentum: the worst case is < 0 iff lr < 2 g.Dg/(L |Dg|^2)",
            lambda v: (
                [v["lr"] > 0, v["L"] > 0, v["p"] > 0, v["q"] > 0, v["r"] == 0],
                (_rmsprop_worst(v) < 0) == (v["lr"] < 2 * v["p"] / (v["L"] * v["q"])),
            ),
        ),
    ]


def obligations() -> list[Obligation]:
    """Every statement the exact regions rest on, in the order a reader checks them."""
    return [*_adaptive_obligations(), *_momentum_obligations(), *_rmsprop_obligations()]


def _nesterov(v: dict[str, Any]) -> tuple[list[Any], Any]:
    import z3

    lr_eff = v["lr"] * (1 + v["beta"])
    W = z3.substitute(_z(v, dp.WORST), (v["lr"], lr_eff))
    bound = z3.substitute(_z(v, dp.REGION_BOUND), (v["lr"], lr_eff))
    s = v["beta"] * v["beta"] * v["rho_k"]
    hyps = [*_basics(v), v["beta"] >= 0, v["rho_k"] >= 0, v["s"] == s]
    return hyps, (W < 0) == (s < bound)


def _rmsprop_worst(v: dict[str, Any]) -> Any:
    """RMSPROP_WORST with sqrt(|v|^2) as the variable nv (nv >= 0, nv^2 = |v|^2)."""
    no_root = dp.RMSPROP_WORST.subs(sp.sqrt(dp.V_NORM2), sp.Symbol("nv"))
    return _z(v, no_root)


def _rmsprop_hyps(v: dict[str, Any]) -> list[Any]:
    vv = _z(v, dp.V_NORM2)
    # gm here is v.m (the only direction that matters), mm = |m|^2 = r^2
    return [
        v["lr"] >= 0,
        v["L"] > 0,
        v["G"] > 0,
        v["r"] >= 0,
        v["nv"] >= 0,
        v["nv"] * v["nv"] == vv,
        v["mm"] == v["r"] * v["r"],
        v["gm"] * v["gm"] <= vv * v["mm"],
    ]


def _rmsprop_q(v: dict[str, Any]) -> Any:
    """Q = -lr p + L lr^2 q/2 + v.m + L |m|^2/2 (the identity proved in descent_proofs)."""
    return -v["lr"] * v["p"] + v["L"] * v["lr"] ** 2 * v["q"] / 2 + v["gm"] + v["L"] * v["mm"] / 2


def _rmsprop_bound(v: dict[str, Any]) -> tuple[list[Any], Any]:
    return _rmsprop_hyps(v), _rmsprop_q(v) <= _rmsprop_worst(v)


def _rmsprop_attained(v: dict[str, Any]) -> tuple[list[Any], Any]:
    return [*_rmsprop_hyps(v), v["gm"] == v["r"] * v["nv"]], _rmsprop_q(v) == _rmsprop_worst(v)


def prove_all(timeout_ms: int = TIMEOUT_MS) -> list[Outcome]:
    return [prove(ob, timeout_ms) for ob in obligations()]
