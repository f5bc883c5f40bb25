"""A registry :class:`~descentcheck.registry.optimizers.UpdateRule` evaluated in mpmath.

An elementwise rule (no observables: its ``step`` uses only the gradient, the hyperparameters,
its state, the step index and, for weight decay, the entry's value ``w_k``) determines every
update from the gradients (and the iterates, for a rule that reads ``w_k``)::

    s_(-1) = initial[s] (0 when not given)
    s_k    = state[s](s_(k-1), g_k, w_k, k, hyperparameters)     all states at once, from s_(k-1)
    dw_k   = step(s_k, g_k, w_k, k, hyperparameters)             (w_(k+1) = w_k + dw_k)

:func:`unroll` runs that recurrence for one entry in mpmath at the working precision, so a
trainer's float64 steps can be compared with it (theory's optimizer check, the ledger's
``update-equals-derived-rule`` for a plugin's optimizer). The iterates ``w_k`` it is given are
the trainer's own (float64, read exactly): the rule is judged step by step at the points the
trainer reached, not along a trajectory of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import mpmath
import sympy as sp


def elementwise(rule: Any) -> bool:
    """True when ``rule`` needs nothing but the gradients (no observables)."""
    return not rule.observables


def reads_parameter(rule: Any) -> bool:
    """True when ``rule``'s step or state reads the entry's value ``w_k`` (its ``parameter``)."""
    exprs = (rule.step, *rule.state.values())
    return rule.parameter is not None and any(
        rule.parameter in sp.sympify(e).free_symbols for e in exprs
    )


class Unrolled:
    """The rule's state recurrence and step, lambdified to mpmath for fixed hyperparameters."""

    def __init__(self, rule: Any, hyperparameters: Mapping[str, float]) -> None:
        if not elementwise(rule):
            raise ValueError("the rule uses observables; only elementwise rules unroll")
        k = rule.step_index if rule.step_index is not None else sp.Dummy("k")
        w = rule.parameter if rule.parameter is not None else sp.Dummy("w")
        self.states = tuple(rule.state)
        values = {
            sym: sp.Float(float(hyperparameters[name]), 30)
            for name, sym in rule.hyperparameters.items()
            if name in hyperparameters
        }
        args = (rule.gradient, w, k, *self.states)
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

        self.reads_parameter = reads_parameter(rule)

    def steps(
        self, grads: Sequence[float], params: Sequence[float] | None = None
    ) -> list[mpmath.mpf]:
        """``dw_0 .. dw_K`` of one entry whose gradients are ``grads`` (g_0 .. g_K) at the
        values ``params`` (w_0 .. w_K; needed only by a rule that reads ``w_k``)."""
        if params is None:
            if self.reads_parameter:
                raise ValueError("the rule reads the parameter w_k: give the iterates")
            params = [0.0] * len(grads)
        s = list(self.initial)
        out = []
        for k, (g, w) in enumerate(zip(grads, params, strict=True)):
            gm, wm = mpmath.mpf(float(g)), mpmath.mpf(float(w))
            s = [f(gm, wm, k, *s) for f in self._state]
            out.append(mpmath.mpf(self._step(gm, wm, k, *s)))
        return out


def unroll(
    rule: Any, hyperparameters: Mapping[str, float], grads: Any, params: Any = None
) -> list[list[Any]]:
    """``dw_k`` of every entry for ``grads[k]`` (one flat sequence per step) at the iterates
    ``params[k]`` (flat too; only for a rule that reads ``w_k``), in mpmath."""
    u = Unrolled(rule, hyperparameters)
    n = len(grads[0]) if grads else 0
    per_entry = [
        u.steps([g[i] for g in grads], None if params is None else [w[i] for w in params])
        for i in range(n)
    ]
    return [[e[k] for e in per_entry] for k in range(len(grads))]
