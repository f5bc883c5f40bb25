"""SymPy derives the gradient of every op's output with respect to every parameter and input.

``derive(op, dim)`` differentiates the forward rule of :mod:`.units` (``sympy.diff``, nothing
hand-written, then ``sympy.factor_terms``, an exact rewrite that pulls out common factors):
``grad[s] = d output / d s`` for every parameter and input symbol ``s`` (a column
vector for the vector-valued elementwise ops and concat, i.e. a column of the Jacobian). For the
losses ``s`` ranges over the network outputs ``yhat_k`` only; labels ``y_k`` are data.

Backprop does not form Jacobians: a layer's backward receives the upstream gradient
``gy = dE/d(output)`` and returns vector-Jacobian products (the tutorial's two kinds of
derivatives: to the inputs, passed back, and to the parameters, kept).
:meth:`Derivation.vjp` gives them, ``sum_j gy_j d y_j / d s``, with symbols ``gy`` (scalar output)
or ``gy0 .. gy{D-1}`` (vector output); those are what the trainer's rules are compared with.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy as sp

from descentcheck.registry.op_plugins import left_unevaluated

from .errors import DeriveError
from .units import Unit, check_request, softmax, unit
from .zero import Identity, prove_equal

Expr = sp.Expr


@dataclass(frozen=True)
class Derivation:
    """One unit's forward rule with its derived gradients."""

    unit: Unit
    grad: dict[sp.Symbol, Expr | sp.ImmutableMatrix]

    @property
    def op(self) -> str:
        return self.unit.op

    @property
    def dim(self) -> int:
        return self.unit.dim

    @property
    def symbols(self) -> tuple[sp.Symbol, ...]:
        return self.unit.symbols

    @property
    def output(self) -> Expr | sp.ImmutableMatrix:
        return self.unit.output

    @property
    def notes(self) -> tuple[str, ...]:
        return self.unit.notes

    @property
    def is_loss(self) -> bool:
        return bool(self.unit.labels)

    def upstream(self) -> tuple[sp.Symbol, ...]:
        """The symbols of dE/d(output): ``(gy,)``, ``(gy0, ..)``, or ``()`` for a loss."""
        if self.is_loss:
            return ()
        if self.unit.is_vector:
            return tuple(sp.Symbol(f"gy{j}") for j in range(len(self.output)))
        return (sp.Symbol("gy"),)

    def vjp(self) -> dict[sp.Symbol, Expr]:
        """``sum_j gy_j d y_j / d s`` for every parameter and input ``s`` (the gradient itself
        for a loss): what a layer's backward returns, for one sample."""
        gy = self.upstream()
        out: dict[sp.Symbol, Expr] = {}
        for s, d in self.grad.items():
            if not gy:
                out[s] = d
            elif isinstance(d, sp.MatrixBase):
                out[s] = sp.Add(*[g * dj for g, dj in zip(gy, d)])
            else:
                out[s] = gy[0] * d
        return out


def derive(op: str, dim: int = 3) -> Derivation:
    """Differentiate one unit of ``op`` with ``dim`` inputs; raises ``DeriveError`` for an
    unknown op or a bad dim. Cached: treat the result as read-only."""
    return _derive(op, check_request(op, dim))


@cache
def _derive(op: str, dim: int) -> Derivation:
    u = unit(op, dim)
    grad: dict[sp.Symbol, Expr | sp.ImmutableMatrix] = {}
    for s in u.wrt:
        d = u.output.diff(s)
        if (left := left_unevaluated(d)) is not None:  # a plugin's floor(x): nothing to show
            raise DeriveError(
                f"{op}: SymPy cannot differentiate its rule in closed form (it leaves {left})"
            )
        if isinstance(d, sp.MatrixBase):
            grad[s] = sp.ImmutableMatrix(d.applyfunc(sp.factor_terms))
        else:
            grad[s] = sp.factor_terms(d)
    return Derivation(u, grad)


def softmax_ce_simplification(dim: int = 3) -> tuple[Identity, Identity, Identity]:
    """For a general label vector y, with S = y_0 + ... + y_{D-1} and p = softmax(yhat):

    1. the derived gradient equals ``S p_k - y_k`` (no condition);
    2. it differs from ``p_k - y_k`` by exactly ``(S - 1) p_k`` (no condition), so, p_k being
       positive, ``dE/dyhat = p - y`` holds for every yhat exactly when S = 1;
    3. under S = 1 (substituting ``y_{D-1} = 1 - y_0 - ... - y_{D-2}``) it is ``p_k - y_k``.

    Each is proved for k = 0 (the others follow by symmetry of the unit in k)."""
    d = derive("softmax_cross_entropy", dim)
    yhat, y = d.unit.inputs, d.unit.labels
    p0 = softmax(yhat, 0)
    S = sp.Add(*y)
    g0 = d.grad[yhat[0]]
    general = prove_equal(
        "softmax CE gradient, general labels", g0, S * p0 - y[0], source="derived by sympy.diff"
    )
    gap = prove_equal("softmax CE gradient minus (p - y)", g0 - (p0 - y[0]), (S - 1) * p0)
    rest = sp.Add(*y[:-1])
    simple = prove_equal(
        "softmax CE gradient when labels sum to one",
        g0,
        p0 - y[0],
        condition=f"sum_k y_k = 1, i.e. {y[-1]} = 1 - ({rest})",
        substitutions={y[-1]: 1 - rest},
    )
    return general, gap, simple
