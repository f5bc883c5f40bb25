"""Proving that an expression is identically zero, and identities that carry their proof.

``is_zero(e)`` succeeds only when SymPy rewrites ``e`` to the literal ``0``; it never samples
points. Every symbol is taken to be a real number (the quantities here are weights, inputs,
labels, learning rates), which lets SymPy use ``log(exp(a)) = a`` and
``log(a b) = log a + log b`` for positive ``a, b``. A Piecewise is folded and each branch is
proved separately. The strategies are tried from cheap to expensive: ``expand``, ``cancel``,
``simplify``, then ``simplify`` after expanding logarithms or rewriting in ``exp``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sympy as sp

Expr = sp.Expr

_STRATEGIES: tuple[Callable[[Expr], Expr], ...] = (
    sp.expand,
    lambda e: sp.cancel(sp.together(e)),
    sp.simplify,
    lambda e: sp.simplify(sp.expand_log(e, force=False)),
    lambda e: sp.simplify(e.rewrite(sp.exp)),
)


def as_real(e: Expr) -> Expr:
    """``e`` with every free symbol replaced by a real symbol of the same name."""
    return e.xreplace(
        {s: sp.Symbol(s.name, real=True) for s in e.free_symbols if isinstance(s, sp.Symbol)}
    )


def _scalar_zero(e: Expr) -> tuple[bool, Expr]:
    e = sp.piecewise_fold(as_real(sp.sympify(e)))
    if isinstance(e, sp.Piecewise):
        residuals = []
        ok = True
        for branch, _cond in e.args:
            b_ok, b_res = _scalar_zero(branch)
            ok = ok and b_ok
            residuals.append(b_res)
        return ok, sp.Piecewise(*[(r, c) for r, (_b, c) in zip(residuals, e.args)])
    residual = e
    for strategy in _STRATEGIES:
        if residual == 0:
            return True, sp.S.Zero
        residual = strategy(e)
    return residual == 0, residual


def is_zero(e: Expr | sp.MatrixBase) -> tuple[bool, Expr | sp.MatrixBase]:
    """``(True, 0)`` when ``e`` simplifies to exactly 0 (entrywise for a matrix), else
    ``(False, residual)`` with the most simplified form reached."""
    if isinstance(e, sp.MatrixBase):
        results = [_scalar_zero(v) for v in e]
        return all(ok for ok, _ in results), sp.ImmutableMatrix(
            e.rows, e.cols, [r for _, r in results]
        )
    return _scalar_zero(e)


@dataclass(frozen=True)
class Identity:
    """A claimed equality ``lhs == rhs`` and the outcome of proving ``lhs - rhs == 0``."""

    name: str
    lhs: Expr
    rhs: Expr
    holds: bool
    residual: Expr
    condition: str = ""
    source: str = ""

    def __str__(self) -> str:
        mark = "proved" if self.holds else f"NOT proved (residual {self.residual})"
        cond = f"   [{self.condition}]" if self.condition else ""
        return f"{self.name}: {self.lhs} == {self.rhs}{cond}   -- {mark}"

    def latex(self) -> str:
        rel = "=" if self.holds else r"\neq"
        return f"{sp.latex(self.lhs)} {rel} {sp.latex(self.rhs)}"


def prove_equal(
    name: str,
    lhs: Expr,
    rhs: Expr,
    *,
    condition: str = "",
    source: str = "",
    substitutions: Mapping[Expr, Expr] | None = None,
) -> Identity:
    """Prove ``lhs == rhs`` by :func:`is_zero` of the difference (after ``substitutions``, the
    stated ``condition`` made explicit, e.g. ``y2 -> 1 - y0 - y1``)."""
    diff = sp.sympify(lhs) - sp.sympify(rhs)
    if substitutions:
        diff = diff.subs(dict(substitutions), simultaneous=True)
    holds, residual = is_zero(diff)
    return Identity(name, lhs, rhs, holds, residual, condition, source)
