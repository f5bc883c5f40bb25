"""``update-equals-derived-rule`` for any registered optimizer (a plugin's): draws and rule.

The built-in optimizers have hand-derived float64 error bounds in
:mod:`.claims.updates`. For any other registered optimizer the claim draws each hyperparameter
from its declared ``draw`` range (log-uniform when declared so, else evenly spread), checks each
of :func:`~descentcheck.registry.optimizers.option_settings`, and compares every applied step
with the optimizer's :class:`~descentcheck.registry.optimizers.UpdateRule` unrolled in mpmath
from the run's gradients (and its iterates, for a rule reading ``w_k``:
``theory.update_rules``). Its tolerance per step k, entry by entry, is generic rather than
derived::

    half an ulp of w_(k+1)  +  4 |F_k - R_k|  +  (k + 1) n u max_i |R_k,i|

with ``R_k`` the rule in mpmath, ``F_k`` the same rule evaluated in float64 from the same
gradients (the rounding a straightforward implementation of it makes), ``n`` the number of
operations in the rule (state updates and step) and ``u = 2^-53``: normwise over the step,
because a generic rule gives no termwise magnitudes. A mistaken formula (a missing bias
correction, a swapped decay) moves a step by a relative O(1), far outside it.
"""

from __future__ import annotations

from typing import Any

import mpmath
import numpy as np
import sympy as sp
from hypothesis import strategies as st

from descentcheck.impl.errors import one_line
from descentcheck.registry.optimizers import example_value, get, option_settings, registry

from .strategies import log_uniform, unit_interval

U = 2.0**-53


def hyperparameter_draws(
    name: str, step_sizes: tuple[float, float] | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """``{"optimizer": name, ...}`` with each float drawn from its declared ``draw`` range and
    each choice sampled (a float without a range keeps its default; a required one without a
    range takes :func:`~descentcheck.registry.optimizers.example_value`). With ``step_sizes``, a
    float in the units of a step size (``step_size``: lr, tau) is a fraction drawn
    log-uniformly from that range instead, for the caller to divide by an L."""
    fields: dict[str, st.SearchStrategy[Any]] = {"optimizer": st.just(name)}
    for h in get(name).hyperparameters:
        if h.kind == "choice":
            fields[h.name] = st.sampled_from(h.choices)
        elif step_sizes is not None and h.step_size:
            fields[h.name] = log_uniform(*step_sizes)
        elif h.draw is not None:
            lo, hi, log = h.draw
            fields[h.name] = log_uniform(lo, hi) if log else unit_interval(lo, hi)
        elif h.required:  # no default to keep: the value theory's agreement check takes too
            fields[h.name] = st.just(example_value(h))
    return st.fixed_dictionaries(fields)


def plugin_draws(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Each installed plugin optimizer's hyperparameters (:func:`hyperparameter_draws`), in
    registry order. A claim draws these last, so that without plugins its draws, and the
    examples saved in a database, are unchanged."""
    return [
        draw(hyperparameter_draws(name), label=name)
        for name, entry in registry().items()
        if entry.origin != "builtin"
    ]


def plugin_settings(hps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each drawn plugin optimizer (:func:`plugin_draws`) under each of its option settings."""
    return [s for hp in hps for s in variants(hp)]


def variants(hp: dict[str, Any]) -> list[dict[str, Any]]:
    """``hp`` under each of the optimizer's option settings (a fixed value replaces the drawn
    one; None keeps the draw)."""
    out = []
    for setting in option_settings(get(hp["optimizer"])):
        out.append({**hp, **{k: v for k, v in setting.items() if v is not None}})
    return out


def reference_steps(
    hp: dict[str, Any], W: list[np.ndarray], G: list[np.ndarray]
) -> list[tuple[list[Any], np.ndarray]]:
    """For each step k: (the rule's values in mpmath, tolerances without the final half ulp),
    as :func:`.claims.updates.reference_steps` gives them."""
    from descentcheck.theory.update_rules import unroll

    entry = get(hp["optimizer"])
    rule = entry.build_derivation(**hp)  # the rule of hp's choices, when it depends on them
    values = {k: v for k, v in hp.items() if k != "optimizer"}
    grads, iterates = G[: len(W) - 1], W[: len(W) - 1]  # w_k: what step k was applied to
    try:
        exact = unroll(rule, values, grads, iterates)
        with mpmath.workdps(15):  # the same recurrence at float64's precision
            rounded = unroll(rule, values, grads, iterates)
    except (TypeError, ValueError) as e:  # a plugin's derivation (a symbol it did not declare)
        if entry.origin == "builtin":
            raise
        raise ValueError(
            f"{entry.origin}: its derivation cannot be evaluated: {one_line(e)}"
        ) from None
    n_ops = int(sp.count_ops(rule.step)) + sum(int(sp.count_ops(e)) for e in rule.state.values())
    out = []
    for k, (ref, fl) in enumerate(zip(exact, rounded)):
        r = np.array([float(v) for v in ref])
        f = np.array([float(v) for v in fl])
        scale = float(np.max(np.abs(r), initial=0.0))
        out.append((ref, 4 * np.abs(f - r) + (k + 1) * max(n_ops, 1) * U * scale))
    return out
