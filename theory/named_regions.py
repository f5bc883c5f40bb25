"""A region an optimizer declares, checked against the update it was proved for.

Each region of ``theory.descent.REGIONS`` is proved (``descent_proofs``, ``descent_smt``) for
one update: the built-in optimizer ``theory.descent.PROVED_FOR`` names, whose SymPy
derivation (its registry entry's :class:`~descentcheck.registry.optimizers.UpdateRule`) is
itself proved equal to the observable step the proofs use (``theory.momentum``). So a region
holds for another optimizer only when that optimizer's update *is* that update:

* an optimizer that **names** a region (``region="gd"``, or a callable returning a ``Region``
  of that name) must have a derivation equal to the built-in's, under the hyperparameter names
  the region is stated in (``lr``, ``momentum``, ``rho``, ``eps``, ``tau``; ``s`` with
  ``tau = s lr`` for ``adaptive_momentum_tau_proportional``). A hyperparameter of the built-in
  that the optimizer does not declare is taken at the built-in's default (RMSProp's
  ``momentum = 0``); one without a default must be declared. Both rules are unrolled from
  their initial state (the convention of ``theory.update_rules``) over the first
  :data:`STEPS` updates, ``dw_0 .. dw_(STEPS-1)``, as SymPy expressions in symbolic gradients
  ``g_0, g_1, ...`` and the hyperparameters; each pair is first evaluated at one rational
  point (a difference there is a counterexample, reported with the point) and then proved
  equal with ``theory.zero.is_zero``. Equality of the first updates is what is checked, not an
  induction over every k. A rule with observables (adaptive momentum's group norms) is
  compared as its one-step expression, observables matched by name.
* an optimizer with its **own** region (a callable returning a ``Region`` under a new name)
  makes a claim of its own: what is checked here is its form (a ``Region``; its condition a
  SymPy strict inequality in symbols named as ``theory.descent_proofs``' or as the optimizer's
  hyperparameters; ``guaranteed`` callable; its words not empty) and that its two statements
  agree (:func:`agreement_problems`: ``guaranteed``, which the sweep and the ledger call, takes
  the condition's quantities and gives its verdict at seeded points). That the region is right
  is not proved by theory; the ledger's (``registered-regions-give-descent``) and the sweep's
  runs test it (a step inside it whose loss rises falsifies it).
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from .update_rules import reads_parameter
from .zero import is_zero

#: the updates compared: dw_0 .. dw_(STEPS - 1)
STEPS = 3
#: the gradients of the numeric comparison, g_0, g_1, ...: nonzero, distinct, of both signs
GRADIENTS = (sp.Rational(7, 10), sp.Rational(-13, 10), sp.Rational(2, 5), sp.Rational(-1, 3))


def region_problems(entry: Any) -> list[str]:
    """What is wrong with ``entry``'s declared region, one line each (empty: nothing found;
    also empty with ``no_region``). ``registry.optimizers.coverage_problems`` calls it once the
    region itself resolves."""
    from descentcheck.registry.optimizers import region_of
    from descentcheck.theory.descent import PROVED_FOR

    region = region_of(entry)
    if region is None:
        return []
    named = entry.region if isinstance(entry.region, str) else getattr(region, "name", None)
    if named in PROVED_FOR:
        return _named_problems(entry, named)
    return _own_region_problems(entry, region)


def _own_region_problems(entry: Any, region: Any) -> list[str]:
    from . import descent_proofs as dp
    from .descent import Region

    where = f"optimizer {entry.name}: its own region"
    if not isinstance(region, Region):
        return [f"{where} is a {type(region).__name__}, not a theory.descent.Region"]
    out = []
    strict = (sp.StrictLessThan, sp.StrictGreaterThan)
    known = {str(s) for s in (dp.lr, dp.tau, dp.beta, dp.L, dp.ratio, dp.s_paper, dp.p, dp.q)}
    known |= {h.name for h in entry.hyperparameters}
    if not isinstance(region.condition, strict):
        out.append(f"{where} {region.name!r}: its condition is not a SymPy strict inequality")
    else:
        stray = sorted(str(s) for s in region.condition.free_symbols if str(s) not in known)
        if stray:
            out.append(
                f"{where} {region.name!r}: its condition uses {stray}, neither symbols of "
                f"theory.descent_proofs nor hyperparameters of {entry.name}"
            )
        # a run passes guaranteed each hyperparameter under its name and factory keyword: a
        # step size or momentum under another name would get no value, and no verdict ever
        passed = {n for h in entry.hyperparameters for n in (h.name, h.keyword)}
        used = {str(s) for s in region.condition.free_symbols}
        unpassed = sorted(used & {"lr", "tau", "beta"} - passed)
        if unpassed:
            out.append(
                f"{where} {region.name!r}: its condition uses {unpassed[0]!r}, which no "
                f"hyperparameter of {entry.name} is named or passed as (name the symbol as "
                f"the hyperparameter, or declare argument={unpassed[0]!r})"
            )
    if not callable(region.guaranteed):
        out.append(f"{where} {region.name!r}: guaranteed is not callable")
    if not str(region.words).strip():
        out.append(f"{where} {region.name!r}: its words are empty")
    if not out:
        out += [f"{where} {region.name!r}: {p}" for p in agreement_problems(entry, region)]
    return out


#: a condition's symbol (by name) -> the keyword ``guaranteed`` takes it under
KEYWORDS = {"rho_k": "ratio", "s_p": "s"}
#: points where ``guaranteed`` and the condition are compared
AGREEMENT_POINTS = 200


def _draw(name: str, L: float, entry: Any, rng: Any) -> float:
    """A value of the keyword ``name`` for the agreement check: step sizes up to 4/L, the
    ratio up to 5/L, a plugin's hyperparameter from its declared draw range or interval."""
    if name in ("lr", "tau"):
        return float(rng.uniform(0.0, 4.0 / L))
    if name == "ratio":
        return float(rng.uniform(0.0, 5.0 / L))
    h = next((h for h in entry.hyperparameters if name in (h.name, h.keyword)), None)
    if h is not None and h.kind == "float":
        low, high = (h.draw[0], h.draw[1]) if h.draw else (h.low or 0.0, h.high)
        return float(rng.uniform(low, high if high is not None else low + 10.0))
    return float(rng.uniform(0.0, 1.0))


def agreement_problems(entry: Any, region: Any) -> list[str]:
    """Does an own region's ``guaranteed`` (the float test the sweep and the ledger call)
    say what its ``condition`` (the SymPy inequality ``derive`` prints) says? Both take the
    same quantities (a condition's ``rho_k`` is the keyword ``ratio``, ``s_p`` is ``s``) and
    agree at :data:`AGREEMENT_POINTS` seeded points off the boundary (relative margin 1e-9).
    A condition in the per-step ``p``, ``q`` (RMSProp's form) is not sampled."""
    import inspect
    import math

    import numpy as np

    from descentcheck.messages import one_line

    symbols = {str(s): s for s in region.condition.free_symbols}
    if {"p", "q"} & set(symbols):
        return []
    params = inspect.signature(region.guaranteed).parameters
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    required = {n for n, a in params.items() if a.default is a.empty and a.kind in named}
    takes_any = any(a.kind == a.VAR_KEYWORD for a in params.values())
    uses = {KEYWORDS.get(n, n) for n in symbols}
    if required - uses or not (takes_any or uses <= set(params)):
        return [
            f"guaranteed takes {sorted(params)}, its condition {sorted(uses)}: the two cannot "
            "state the same region"
        ]
    cond = region.condition
    gap = sp.lambdify(list(symbols.values()), cond.lhs - cond.rhs, "math")
    size = sp.lambdify(list(symbols.values()), abs(cond.lhs) + abs(cond.rhs), "math")
    less = isinstance(cond, sp.StrictLessThan)
    rng = np.random.default_rng(0)
    for _ in range(AGREEMENT_POINTS):
        L = float(rng.uniform(0.1, 10.0))
        point = {k: (L if k == "L" else _draw(k, L, entry, rng)) for k in sorted(uses)}
        values = [point[KEYWORDS.get(n, n)] for n in symbols]
        try:
            d, scale = float(gap(*values)), float(size(*values))
        except (ArithmeticError, TypeError, ValueError):  # the condition undefined there
            continue
        if not math.isfinite(d) or abs(d) <= 1e-9 * scale:
            continue
        try:
            said = bool(region.guaranteed(**point))
        except Exception as e:
            return [f"guaranteed raised at {point}: {one_line(e)}"]
        if said != (d < 0 if less else d > 0):
            return [f"guaranteed says {said}, its condition {not said}, at {point}"]
    return []


def _named_problems(entry: Any, named: str) -> list[str]:
    from descentcheck.registry.optimizers import BUILTINS
    from descentcheck.theory.descent import PROVED_FOR

    builtin_name, substitutions = PROVED_FOR[named]
    if entry.origin == "builtin" and entry.name == builtin_name:
        return []  # the update the region was proved for
    reference = next(e for e in BUILTINS if e.name == builtin_name)
    where = f"optimizer {entry.name} names region {named!r}"
    declared = {h.name: h for h in entry.hyperparameters}
    names = {sp.Symbol(n, real=True): n for n in declared}
    common = {n: s for s, n in names.items()}
    ref_rule = reference.build_derivation()

    # the built-in's hyperparameters in the plugin's names, a substitution, or its default
    ref_values: dict[Any, Any] = {}
    for name, sym in ref_rule.hyperparameters.items():
        if name in substitutions:
            text = substitutions[name]
            needed = sorted(str(s) for s in sp.sympify(text).free_symbols if str(s) not in common)
            if needed:
                return [f"{where}, stated in {name} = {text}: it declares no {needed[0]!r}"]
            ref_values[sym] = sp.sympify(text, locals=common)
        elif name in common:
            ref_values[sym] = common[name]
        elif not reference.hyperparameter(name).required:
            ref_values[sym] = sp.nsimplify(reference.hyperparameter(name).default)
        else:
            return [f"{where}, stated in hyperparameter {name!r}: it declares no {name!r}"]
    for setting in entry.derivation_settings():  # each choice setting the update depends on
        at = ", ".join(f"{k}={v}" for k, v in setting.items())
        rule = entry.build_derivation(**setting)
        problem = _update_problem(
            entry, where + (f" ({at})" if at else ""), ref_rule, rule, ref_values, common
        )
        if problem:
            return [problem]
    return []


def _update_problem(
    entry: Any, where: str, ref_rule: Any, rule: Any, ref_values: dict, common: dict
) -> str | None:
    """Why ``rule`` (one setting's derivation) is not the update ``ref_rule`` the region was
    proved for: a point where their first updates differ, or no proof that they are equal."""
    values = {sym: common[name] for name, sym in rule.hyperparameters.items() if name in common}
    ref_text = _text(ref_rule, ref_values, rule.gradient)
    mine_text = _text(rule, values, rule.gradient)
    said = f"{where}, proved for the update {ref_text}; its derivation gives {mine_text}"
    if bool(ref_rule.observables) != bool(rule.observables):
        return f"{said} (one reads per-run observables, the other does not)"
    if reads_parameter(rule) != reads_parameter(ref_rule):
        return f"{said} (one reads the parameter's value w_k, weight decay, the other does not)"
    steps = 1 if ref_rule.observables else STEPS
    grads = sp.symbols(f"g_0:{steps}", real=True)
    observables = {
        s: sp.Symbol(str(s), real=True) for s in (*ref_rule.observables, *rule.observables)
    }
    ref_steps = _unroll(ref_rule, {**ref_values, **observables}, grads)
    mine = _unroll(rule, {**values, **observables}, grads)
    point = _point(entry, common, grads, set(observables.values()))
    for k, (a, b) in enumerate(zip(ref_steps, mine)):
        gap = _gap(a, b, point)
        if gap is not None and gap > 1e-20:
            at = ", ".join(f"{s} = {v}" for s, v in point.items() if s in (a - b).free_symbols)
            return f"{said} (dw_{k} differs at {at})"
        proved, _residual = is_zero(a - b)
        if not proved:
            return f"{said} (dw_{k} not proved equal)"
    return None


def _unroll(rule: Any, values: dict[Any, Any], grads: tuple[Any, ...]) -> list[Any]:
    """``dw_0 .. dw_(K-1)`` of ``rule`` with its symbols replaced by ``values``, from its
    initial state (0 where not given): each state from the previous ones at once, then the step
    from the new state (``theory.update_rules``' convention)."""
    state = {s: sp.sympify(rule.initial.get(s, 0)).xreplace(values) for s in rule.state}
    out = []
    for k, g in enumerate(grads):
        now = {**values, rule.gradient: g}
        if rule.step_index is not None:
            now[rule.step_index] = sp.Integer(k)
        state = {s: sp.sympify(e).xreplace({**now, **state}) for s, e in rule.state.items()}
        out.append(sp.sympify(rule.step).xreplace({**now, **state}))
    return out


def _point(entry: Any, common: dict[str, Any], grads: tuple[Any, ...], others: set) -> dict:
    """A rational point inside each declared range (a float without a range: its default, or
    3/10 where that is 0) with the gradients of :data:`GRADIENTS`."""
    point: dict[Any, Any] = {}
    for name, sym in common.items():
        h = entry.hyperparameter(name)
        if h.kind != "float":
            continue
        if h.draw is not None:
            lo, hi, _log = h.draw
            point[sym] = sp.nsimplify(lo + 0.37 * (hi - lo), rational=True)
        else:
            default = 0.0 if h.required else float(h.default)
            point[sym] = sp.nsimplify(default, rational=True) or sp.Rational(3, 10)
    point.update(zip(grads, GRADIENTS))
    point.update({s: sp.Rational(1, 2) + i for i, s in enumerate(sorted(others, key=str))})
    return point


def _gap(a: Any, b: Any, point: dict[Any, Any]) -> float | None:
    """``|a - b| / (1 + |a|)`` at ``point`` in 30 digits, or None where it does not evaluate to
    a number (then only the proof decides)."""
    try:
        va, vb = (complex(sp.N(e.xreplace(point), 30)) for e in (a, b))
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    gap = abs(va - vb) / (1 + abs(va))
    return gap if gap == gap else None  # nan: no verdict here


def _text(rule: Any, values: dict[Any, Any], gradient: Any) -> str:
    """The rule's step, with its state updates, in the compared names: ``dw = ...`` text."""
    shown = {**values, rule.gradient: gradient}
    step = sp.sympify(rule.step).xreplace(shown)
    text = str(step)
    for s, e in rule.state.items():
        text += f", {s} <- {sp.sympify(e).xreplace(shown)}"
    return text
