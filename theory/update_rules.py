"""A registry :class:`~descentcheck.registry.optimizers.UpdateRule` evaluated in mpmath.

An elementwise rule (no observables: its ``step`` uses only the gradient, the hyperparameters,
its state and the step index) determines every update from the gradients alone::

    s_(-1) = initial[s] (0 when not given)
    s_k    = state[s](s_(k-1), g_k, k, hyperparameters)     all states at once, from s_(k-1)
    dw_k   = step(s_k, g_k, k, hyperparameters)

:func:`unroll` runs that recurrence for one entry in mpmath at the working precision, so a
trainer's float64 steps can be compared with it (theory's optimizer check, the ledger's
``update-equals-derived-rule`` for a plugin's optimizer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import mpmath
import sympy as sp


def elementwise(rule: Any) -> bool:
    """True when ``rule`` needs nothing but the gradients (no observables)."""
    return not rule.observables


class Unrolled:
    """The rule's state recurrence and step, lambdified to mpmath for fixed hyperparameters."""

    def __init__(self, rule: Any, hyperparameters: Mapping[str, float]):
        if not elementwise(rule):
            raise ValueError("the rule uses observables; only elementwise rules unroll")
        k = rule.step_index if rule.step_index is not None else sp.Dummy("k")
        self.states = tuple(rule.state)
        values = {
            sym: sp.Float(float(hyperparameters[name]), 30)
            for name, sym in rule.hyperparameters.items()
            if name in hyperparameters
        }
        args = (rule.gradient, k, *self.states)
        self._state = [
            sp.lambdify(args, sp.sympify(rule.state[s]).subs(values), modules="mpmath")
            for s in self.states
        ]
        self._step = sp.lambdify(args, sp.sympify(rule.step).subs(values), modules="mpmath")
        # an initial state may name hyperparameters (AdaGrad's initial accumulator)
        self.initial = [
            mpmath.mpf(sp.N(sp.sympify(rule.initial.get(s, 0)).subs(values), 30))
            for s in self.states
        ]

    def steps(self, grads: Sequence[float]) -> list[mpmath.mpf]:
        """``dw_0 .. dw_K`` of one entry whose gradients are ``grads`` (g_0 .. g_K)."""
        s = list(self.initial)
        out = []
        for k, g in enumerate(grads):
            gm = mpmath.mpf(float(g))
            s = [f(gm, k, *s) for f in self._state]
            out.append(mpmath.mpf(self._step(gm, k, *s)))
        return out


def unroll(rule: Any, hyperparameters: Mapping[str, float], grads: Any) -> list[list[Any]]:
    """``dw_k`` of every entry for ``grads[k]`` (one flat sequence per step), in mpmath."""
    u = Unrolled(rule, hyperparameters)
    per_entry = [u.steps([g[i] for g in grads]) for i in range(len(grads[0]))] if grads else []
    return [[e[k] for e in per_entry] for k in range(len(grads))]
