"""An optimizer's SymPy update derivation as text: what ``descentcheck derive OPTIMIZER`` prints.

The rule is the optimizer registry's :class:`~descentcheck.registry.optimizers.UpdateRule` for
one entry of the parameters (the convention of ``theory.update_rules``)::

    s_(-1) = initial[s]            (0 when not given)
    s_k    = state[s](s_(k-1), g_k, k)        (and w_k, for a rule reading it: weight decay)
    dw_k   = step(s_k, g_k, k)                (w_(k+1) = w_k + dw_k)

followed by its exact one-step descent region (``theory.descent``) or the stated reason it has
none. A plugin's region is shown only when ``theory.named_regions`` finds nothing wrong with it
(a named region: the plugin's update is the one it was proved for); otherwise ``region`` is
null and ``region_refused`` says why. A built-in whose step also reads per-run observables (the
previous step, group norms) lists them. A plugin whose derivation or region raises is a
one-line ``OptimizerPluginError``. The JSON form is::

    {"optimizer": NAME, "symbols": [SYMBOL], "hyperparameters": {NAME: SYMBOL}, "gradient": SYMBOL,
     "step_index": SYMBOL | null, "parameter": SYMBOL | null,
     "state": {SYMBOL: EXPR}, "initial": {SYMBOL: EXPR},
     "observables": {SYMBOL: TEXT}, "step": EXPR,
     "region": {"name", "condition", "applies_when", "words"} | null, "no_region": TEXT | null,
     "region_refused": TEXT | null}

with every EXPR ``str`` of a SymPy expression, given back by ``sympy.sympify(EXPR,
locals={n: sympy.Symbol(n) for n in symbols})`` (without ``locals``, sympify reads ``beta``
as SymPy's beta function). The MathML form writes ``lr`` and ``eps`` as the regions and the
LaTeX form do (eta, epsilon).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import sympy as sp

from .mathml import math_block, presentation
from .render import align_block
from .update_rules import reads_parameter


def _parts(entry: Any, setting: dict[str, str] | None = None) -> dict[str, Any]:
    from descentcheck.registry.optimizers import checked_derivation, region_of

    asked = dict(setting or {})
    setting = {c: asked.get(c, entry.choice_default(c)) for c in entry.derivation_choices()}
    # a plugin's derivation with undeclared symbols is refused, not printed
    if entry.origin == "builtin":
        rule = entry.build_derivation(**setting)
    else:
        rule = checked_derivation(entry, **setting)
    region = region_of(entry)
    refused = None
    if region is not None and entry.origin != "builtin":
        from .named_regions import region_problems

        # a plugin's region is shown only when theory's check of it passes
        problems = region_problems(entry)
        if problems:
            region, refused = None, "; ".join(problems)
    return {
        "rule": rule,
        "state": {s: sp.sympify(v) for s, v in rule.state.items()},
        "initial": {s: sp.sympify(rule.initial.get(s, 0)) for s in rule.state},
        "step": sp.sympify(rule.step),
        "region": region,
        "refused": refused,
        # the choices the rule depends on: as asked, else at their defaults
        "setting": setting,
        "asked": set(asked),
    }


def _shown(p: dict[str, Any]) -> dict[str, Any]:
    """The parts with each state symbol written with its index for people: ``s_(k-1)`` inside
    the state updates, ``s_k`` inside the step (the rule's convention, made visible)."""
    rule = p["rule"]
    k = _k(rule)
    before = {s: sp.Symbol(f"{s}_({k}-1)") for s in p["state"]}
    now = {s: sp.Symbol(f"{s}_{k}") for s in p["state"]}
    if rule.parameter is not None:  # the iterate w_k, in the state updates and the step alike
        before[rule.parameter] = now[rule.parameter] = sp.Symbol(f"{rule.parameter}_{k}")
    return {
        **p,
        "state": {now[s]: v.xreplace(before) for s, v in p["state"].items()},
        "initial": {sp.Symbol(f"{s}_(-1)"): v for s, v in p["initial"].items()},
        "step": p["step"].xreplace(now),
    }


def _k(rule: Any) -> str:
    return str(rule.step_index) if rule.step_index is not None else "k"


def to_json(entry: Any, setting: dict[str, str] | None = None) -> str:
    p = _parts(entry, setting)
    rule, region = p["rule"], p["region"]
    exprs = [*p["state"], *p["state"].values(), *p["initial"].values(), p["step"]]
    if region is not None:
        exprs.append(region.condition)
    payload = {
        "optimizer": entry.name,
        # sympify reads some names as functions (beta, gamma): locals={n: Symbol(n) for n in these}
        "symbols": sorted({s.name for e in exprs for s in sp.sympify(e).free_symbols}),
        "hyperparameters": {n: str(s) for n, s in rule.hyperparameters.items()},
        "gradient": str(rule.gradient),
        "step_index": None if rule.step_index is None else str(rule.step_index),
        "parameter": None if rule.parameter is None else str(rule.parameter),
        "state": {str(s): str(v) for s, v in p["state"].items()},
        "initial": {str(s): str(v) for s, v in p["initial"].items()},
        "observables": {str(s): str(v) for s, v in rule.observables.items()},
        "step": str(p["step"]),
        "region": None
        if region is None
        else {
            "name": region.name,
            "condition": str(region.condition),
            "applies_when": region.applies_when or None,
            "words": region.words,
        },
        "no_region": entry.no_region,
        "region_refused": p["refused"],
        "setting": p["setting"],
    }
    return json.dumps(payload, indent=2)


def _notes(entry: Any, p: dict[str, Any]) -> list[str]:
    rule = p["rule"]
    k = _k(rule)
    out = [
        f"{entry.name}: {entry.summary}",
        f"one entry's update dw_{k} (w_({k}+1) = w_{k} + dw_{k}; {k} = 0 at the first update), "
        f"gradient {rule.gradient}",
    ]
    out += [f"observable {s}: {text}" for s, text in rule.observables.items()]
    if reads_parameter(rule):
        out.append(f"{rule.parameter}_{k}: the entry's value, the iterate dw_{k} is applied to")
    for c, v in p["setting"].items():
        h = entry.hyperparameter(c)
        how = "as asked" if c in p["asked"] else f"its default (--setting {c}=...)"
        out.append(
            f"the rule shown is for {c} = {v!r}, {how}; it depends on {c} "
            f"({', '.join(h.choices)}): each has its own rule"
        )
    return out


def _closing(entry: Any, p: dict[str, Any]) -> str:
    region = p["region"]
    if p["refused"] is not None:
        return f"the declared descent region is not shown, theory refuses it: {p['refused']}"
    if region is None:
        return f"no exact descent region: {entry.no_region}"
    if callable(entry.region):  # the plugin's own: theory checks its form, the runs test it
        return (
            f"one-step descent region '{region.name}', the plugin's claim (not proved here; "
            f"the ledger and the sweep test it on runs): {region.words}"
        )
    return f"exact one-step descent region '{region.name}': {region.words}"


def _scope(region: Any) -> str:
    """`` (momentum = 0)`` for a region stated under a restriction, else ""."""
    when = getattr(region, "applies_when", "")  # a plugin's Region may predate the field
    return f" ({when})" if when else ""


def to_sympy(entry: Any, setting: dict[str, str] | None = None) -> str:
    p = _shown(_parts(entry, setting))
    k = _k(p["rule"])
    lines = [f"# {n}" for n in _notes(entry, p)]
    lines += [f"{s} = {v}" for s, v in p["initial"].items()]
    lines += [f"{s} = {v}" for s, v in p["state"].items()]
    lines.append(f"dw_{k} = {p['step']}")
    if p["region"] is not None:
        lines.append(f"region{_scope(p['region'])}: {p['region'].condition}")
    lines.append(f"# {_closing(entry, p)}")
    return "\n".join(lines) + "\n"


def _word_names(p: dict[str, Any], k: str) -> dict[sp.Symbol, str]:
    """LaTeX for the rule's symbols named in words or as :data:`_GREEK` (:func:`_base_latex`),
    a state's index (``k``, ``(k-1)``, ``(-1)``: ``sum_sq_k``) as a subscript."""
    exprs = [*p["initial"], *p["initial"].values(), *p["state"], *p["state"].values(), p["step"]]
    names: dict[sp.Symbol, str] = {}
    for s in set().union(*(sp.sympify(e).free_symbols for e in exprs)):
        base, sub = s.name, ""
        for index in (f"({k}-1)", "(-1)", k):
            if base.endswith("_" + index):
                base, sub = base[: -len(index) - 1], index
                break
        if (tex := _base_latex(base)) is not None:
            names[s] = tex + (f"_{{{sub}}}" if sub else "")
    return names


#: hyperparameters SymPy would print as products of letters (l r, e p s), in the regions' letters
_GREEK = {"lr": r"\eta", "eps": r"\epsilon"}


def _base_latex(name: str) -> str | None:
    """``lr`` and ``eps`` as the regions write them (eta, epsilon); a name in words upright,
    joined by ``\\_`` (SymPy would print ``initial_{accumulator value}`` or ``d e c a y``);
    None where SymPy's own printing is right (a letter, a Greek name)."""
    if name in _GREEK:
        return _GREEK[name]
    if _in_words(name):
        words = name.replace("_", r"\_")
        return rf"\mathrm{{{words}}}"
    return None


def latex_names(symbols: Any) -> dict[sp.Symbol, str]:
    """LaTeX for the ``symbols`` of a condition, as the update rules write them
    (:func:`_base_latex`); others as SymPy prints them."""
    return {s: tex for s in symbols if (tex := _base_latex(s.name)) is not None}


def _in_words(name: str) -> bool:
    """Whether SymPy would print ``name`` as a product of italic letters or a word subscript
    (``decay``, ``buf``, ``initial_accumulator_value``), not as a letter (``g``, ``v``,
    ``G0``) or a Greek one (``beta``, ``beta1``, ``rho_k``)."""
    from sympy.printing.latex import greek_letters_set

    first, *rest = name.split("_")
    letters = first.rstrip("0123456789")
    if len(letters) > 1 and letters.lower() not in greek_letters_set | {"lamda"}:
        return True
    return any(len(w) > 2 for w in rest)


def to_latex(entry: Any, setting: dict[str, str] | None = None) -> str:
    p = _shown(_parts(entry, setting))
    k = _k(p["rule"])
    names = _word_names(p, k)

    def tex(e: Any) -> str:
        return sp.latex(e, symbol_names=names)

    rows = [rf"{tex(s)} &= {tex(v)}" for s, v in p["initial"].items()]
    rows += [rf"{tex(s)} &= {tex(v)}" for s, v in p["state"].items()]
    rows.append(rf"\Delta w_{{{k}}} &= {tex(p['step'])}")
    if p["region"] is not None:
        scope = re.sub(r"\blr\b", r"$\\eta$", _scope(p["region"]))  # as the condition writes it
        rows.append(rf"\text{{region{scope}: }} & {p['region'].latex}")
    head = [f"% {n}" for n in _notes(entry, p)] + [f"% {_closing(entry, p)}"]
    return align_block(head, rows)


def greek_mathml(e: Any) -> Any:
    """``e`` with ``lr`` and ``eps`` as the Greek letters the regions write (:data:`_GREEK`'s,
    by their SymPy names: ``eta``, ``epsilon``)."""
    e = sp.sympify(e)
    greek = {n: sp.Symbol(tex.lstrip("\\")) for n, tex in _GREEK.items()}
    return e.xreplace({s: greek[s.name] for s in e.free_symbols if s.name in greek})


def to_mathml(entry: Any, setting: dict[str, str] | None = None) -> str:
    p = _shown(_parts(entry, setting))
    k = _k(p["rule"])
    p["initial"] = {s: greek_mathml(v) for s, v in p["initial"].items()}
    p["state"] = {s: greek_mathml(v) for s, v in p["state"].items()}
    p["step"] = greek_mathml(p["step"])
    out = [f"<!-- {n.replace('--', '-')} -->" for n in _notes(entry, p)]
    for s, v in (*p["initial"].items(), *p["state"].items()):
        out.append(math_block(f"{presentation(s)}<mo>=</mo>{presentation(v)}"))
    dw = f"<msub><mi>&#x394;w</mi><mrow><mi>{k}</mi></mrow></msub>"
    out.append(math_block(f"{dw}<mo>=</mo>{presentation(p['step'])}"))
    if p["region"] is not None:
        if p["region"].applies_when:
            out.append(f"<!-- region{_scope(p['region'])}: -->")
        out.append(p["region"].mathml)
    out.append(f"<!-- {_closing(entry, p).replace('--', '-')} -->")
    return "\n".join(out) + "\n"


def _guarded(render: Callable[..., str]) -> Callable[..., str]:
    """``render`` for a plugin's entry: its derivation or region raising (a bug of the plugin)
    is a one-line ``OptimizerPluginError`` naming it, never a traceback."""

    def guarded(entry: Any, setting: dict[str, str] | None = None) -> str:
        if entry.origin == "builtin":
            return render(entry, setting)  # ours: a bug, with its traceback
        from descentcheck.messages import one_line
        from descentcheck.registry.optimizers import OptimizerPluginError

        try:
            return render(entry, setting)
        except OptimizerPluginError:
            raise
        except Exception as e:
            raise OptimizerPluginError(
                f"{entry.origin}: cannot derive {entry.name}: {one_line(e)}"
            ) from None

    return guarded


RENDERERS = {
    fmt: _guarded(fn)
    for fmt, fn in {
        "latex": to_latex,
        "sympy": to_sympy,
        "json": to_json,
        "mathml": to_mathml,
    }.items()
}
