"""The convergence theorem's assumptions, computed: activation bounds and the Gaussian unit's.

The theorem (Wu et al. 2008; Agarwal, Klobusicky & Schonfeld 2021, arXiv 1705.07404) needs a
smooth activation with bounded derivatives. For each activation phi SymPy computes
``sup |phi|``, ``sup |phi'|``, ``sup |phi''|`` over the real line by :func:`sup_abs`: the
supremum of |f| of a continuous f is the largest |value| among f's critical points
(``solveset(f' = 0)`` over the reals, which must come back as a finite set) and its limits at
``+-oo``. relu is reported outside the theorem: not differentiable at 0, phi'' a Dirac delta.
Where ``solveset`` finds no finite set (swish, ``x / (1 + exp(-x))``: ``x + exp(x) + 1 = 0`` has
no closed form), that supremum is the plugin's ``expected_bounds`` entry, marked *stated*: checked
against a fine grid (:func:`numeric_sup_check`), not proved. Without one the op is reported
outside the theorem, and theory's assumptions check fails for it, naming what SymPy could not
solve; the other ops are still checked.

Gaussian unit ``y = exp(-1/2 sum_i r_i^2 u_i^2)``, ``u_i = x_i - c_i`` (Kurbiel & Khaleghian,
arXiv:1708.01911). Each derivative is a one-variable factor times ``prod_{j != i}
exp(-r_j^2 u_j^2 / 2) <= 1`` (equality at ``u_j = 0``), so its supremum over all inputs is the
one-variable supremum, computed here with the radius as a positive symbol (``|r_i|``):

* ``sup |dy/dx_i| = sup |dy/dc_i| = |r_i| e^(-1/2)``
* ``sup |d2y/dx_i^2| = r_i^2``,  ``sup |d2y/dx_i dx_j| = |r_i r_j| / e``  (i != j)
* ``sup |dy/dr_i| = 2 / (e |r_i|)`` -- unbounded as r_i -> 0 when the inputs are unbounded
  (over inputs with ``|u_i| <= B`` it is at most ``|r_i| B^2``).

The logits ``z = -1/2 sum_i r_i^2 u_i^2`` have ``dz/dx_i = -r_i^2 u_i`` (unbounded in x, bounded
by ``r_i^2 B`` on ``|u_i| <= B``) and ``d2z/dx_i^2 = -r_i^2``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from descentcheck.messages import one_line
from descentcheck.registry import ops as registry
from descentcheck.registry.op_plugins import numpy_lambdify

x = sp.Symbol("x", real=True)
u = sp.Symbol("u", real=True)
r, r2 = sp.symbols("r r_j", positive=True)

#: the built-in smooth activations in a real x (a plugin's: its ``sympy`` rule at x)
ACTIVATION_FUNCTIONS: dict[str, sp.Expr] = {
    "tanh": sp.tanh(x),
    "sigmoid": 1 / (1 + sp.exp(-x)),
    "softplus": sp.log(1 + sp.exp(x)),
    "identity": x,
}
#: sup|phi|, sup|phi'|, sup|phi''| known beforehand (a plugin's: its ``expected_bounds``)
EXPECTED: dict[str, tuple[sp.Expr, sp.Expr, sp.Expr]] = {
    "tanh": (sp.S.One, sp.S.One, 4 * sp.sqrt(3) / 9),
    "sigmoid": (sp.S.One, sp.Rational(1, 4), sp.sqrt(3) / 18),
    "softplus": (sp.oo, sp.S.One, sp.Rational(1, 4)),
    "identity": (sp.oo, sp.S.One, sp.S.Zero),
}


_PHI = ("phi", "phi'", "phi''")


class SupremumError(ValueError):
    """SymPy could not list the critical points (``solveset`` gave no finite set)."""


def sup_abs(f: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """``sup_{var in R} |f|`` for continuous ``f`` (see the module docstring)."""
    crit = sp.solveset(sp.diff(f, var), var, sp.S.Reals)
    if crit is sp.S.Reals:  # f is constant
        return sp.Abs(f.subs(var, 0))
    if crit is sp.S.EmptySet:
        points: list[sp.Expr] = []
    elif isinstance(crit, sp.FiniteSet):
        points = list(crit)
    else:
        raise SupremumError(f"critical points of {f} are {crit}")
    candidates = [sp.limit(f, var, sp.oo), sp.limit(f, var, -sp.oo)]
    candidates += [f.subs(var, c) for c in points]
    values = [sp.simplify(sp.Abs(v)) for v in candidates]
    return sp.Max(*values) if len(values) > 1 else values[0]


@dataclass(frozen=True)
class ActivationBounds:
    op: str
    #: sup|phi|, sup|phi'|, sup|phi''|; an entry SymPy could not find is the stated one, or None
    sups: tuple[sp.Expr | None, sp.Expr | None, sp.Expr | None] | None
    derivatives_bounded: bool
    in_theorem: bool
    note: str
    stated: tuple[bool, bool, bool] = (False, False, False)  # taken from expected_bounds
    unsolved: str = ""  # what SymPy could not solve, for messages

    @property
    def matches_expected(self) -> bool:
        """The suprema SymPy found equal the expected ones (where any are stated); no suprema
        only for an op the op registry declares not smooth; none missing for a smooth op.
        Stated entries are checked by :func:`numeric_sup_check` instead."""
        if self.sups is None:
            info = registry.get(self.op)
            return info is not None and not info.smooth
        if any(s is None for s in self.sups):
            return False
        expected = expected_bounds(self.op)
        if expected is None:
            return True
        return all(
            given or (sp.simplify(a - b) == 0 if b != sp.oo else a == sp.oo)
            for a, b, given in zip(self.sups, expected, self.stated)
        )


#: functions that are not twice differentiable everywhere on the reals: a rule using one is
#: not the C^2 activation the theorem assumes
NOT_SMOOTH = (
    sp.Abs,
    sp.sign,
    sp.Heaviside,
    sp.DiracDelta,
    sp.Piecewise,
    sp.Max,
    sp.Min,
    sp.floor,
    sp.ceiling,
)


def _kink_points(phi: sp.Expr) -> list[Any] | None:
    """The real x where a function of ``NOT_SMOOTH`` in ``phi`` may break (where the argument
    of ``Abs``, ``sign``, ``Heaviside``, ``DiracDelta`` vanishes, the two of a ``Max`` or
    ``Min`` meet, a ``Piecewise`` condition's two sides meet); None when they cannot be listed
    (``floor``, a set SymPy cannot enumerate)."""
    edges: list[Any] = []
    for f in phi.atoms(*NOT_SMOOTH):
        if isinstance(f, (sp.floor, sp.ceiling)):
            return None
        if isinstance(f, (sp.Max, sp.Min)):
            edges += [a - b for a in f.args for b in f.args if a != b]
        elif isinstance(f, sp.Piecewise):
            conds = [c for _, c in f.args if c is not sp.true]
            if not all(isinstance(c, sp.core.relational.Relational) for c in conds):
                return None
            edges += [c.lhs - c.rhs for c in conds]
        else:
            edges.append(f.args[0])
    points: list[Any] = []
    for e in edges:
        roots = sp.solveset(e, x, sp.S.Reals)
        if not isinstance(roots, sp.FiniteSet):
            return None
        points += list(roots)
    return sorted(set(points), key=float)


def _jump(phi: sp.Expr) -> str | None:
    """Where phi, phi' or phi'' jumps at one of its kink points (30 digits, 1e-12 either side;
    a jump's DiracDelta counts as 0 off the point), e.g. "phi'' jumps at x = 0" for softsign;
    None when none jumps (a smooth function written with Abs or Max, as a stable softplus);
    a description of the rule when the points cannot be listed."""
    import mpmath

    points = _kink_points(phi)
    if points is None:
        return "its kinks cannot be located"
    for n in range(3):
        f = sp.lambdify(x, _off_kinks(sp.diff(phi, x, n)), "mpmath")
        with mpmath.workdps(30):
            for r in points:
                left, right = (
                    f(mpmath.mpf(r) - mpmath.mpf("1e-12")),
                    f(mpmath.mpf(r) + mpmath.mpf("1e-12")),
                )
                if abs(left - right) > mpmath.mpf("1e-8") * (1 + abs(left) + abs(right)):
                    return f"{_PHI[n]} jumps at x = {r}"
    return None


def _off_kinks(d: sp.Expr) -> sp.Expr:
    """``d`` with each ``DiracDelta`` (of a derivative of ``Max``, ``Abs`` or ``Heaviside``) as
    0, its value off the point it sits at, so that it can be evaluated (lambdify has no Dirac
    delta: a smooth softplus written with ``Max`` failed the grid check with a NameError)."""
    return d.replace(sp.DiracDelta, lambda *a: sp.S.Zero)


def phi_of(op: str) -> sp.Expr:
    """The activation ``op`` as an expression in the real symbol ``x``."""
    info = registry.get(op)
    if info is not None and info.plugin is not None:
        return sp.sympify(info.plugin.phi(x))
    return ACTIVATION_FUNCTIONS[op]


def expected_bounds(op: str) -> tuple[sp.Expr, sp.Expr, sp.Expr] | None:
    info = registry.get(op)
    if info is not None and info.plugin is not None:
        given = info.plugin.expected_bounds
        return None if given is None else _stated(info.plugin, given)
    return EXPECTED.get(op)


def _stated(plugin: Any, given: Any) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """A plugin's ``expected_bounds`` as SymPy numbers; an entry that is not a non-negative
    number or ``oo`` is a one-line PluginError naming the plugin (load checks only the shape:
    it imports no SymPy)."""
    from descentcheck.registry.plugins import PluginError

    out = []
    for i, v in enumerate(given):
        try:
            e = sp.sympify(v)
        except (sp.SympifyError, TypeError, ValueError):
            e = None
        if e is None or not (e == sp.oo or (e.is_number and e.is_real and e >= 0)):
            raise PluginError(
                f"{plugin.who}: expected_bounds[{i}] = {v!r} is not a number >= 0 or 'oo'"
            )
        out.append(e)
    return tuple(out)  # type: ignore[return-value]


def activation_bounds(op: str) -> ActivationBounds:
    """The three suprema for one activation, and whether it meets the theorem's assumptions."""
    if op == "relu":
        return ActivationBounds(
            "relu",
            None,
            False,
            False,
            "outside the theorem: relu is not differentiable at 0 (one-sided derivatives 0, "
            "1); phi' is a step, phi'' a Dirac delta. The trainer uses phi'(0) = 0 (torch).",
        )
    info = registry.get(op)
    if info is not None and not info.smooth:
        return ActivationBounds(op, None, False, False, f"outside the theorem: {op} is not smooth")
    phi, expected = phi_of(op), expected_bounds(op)
    rough = sorted({type(a).__name__ for a in phi.atoms(*NOT_SMOOTH)})
    jump = _jump(phi) if rough else None
    if jump:  # a plugin declaring smooth (the default) a rule with a kink, as softsign's |x|
        return ActivationBounds(
            op,
            None,
            False,
            False,
            f"declared smooth, but {jump} (its rule uses {', '.join(rough)}): not twice "
            "differentiable; declare smooth=False",
        )
    sups: list[sp.Expr | None] = []
    stated: list[bool] = []
    unsolved: list[str] = []
    for n in range(3):
        try:
            sups.append(sup_abs(sp.diff(phi, x, n), x))
            stated.append(False)
        except (SupremumError, NotImplementedError) as e:  # no closed form: not a crash
            unsolved.append(f"sup |{_PHI[n]}|: {one_line(e)}")
            sups.append(None if expected is None else expected[n])
            stated.append(expected is not None)
    why = "; ".join(unsolved)
    if any(s is None for s in sups):
        note = (
            f"not shown: SymPy finds no closed form ({why}); the plugin states no expected_bounds"
        )
        return ActivationBounds(op, tuple(sups), False, False, note, tuple(stated), why)  # type: ignore[arg-type]
    bounded = all(s.is_finite for s in sups[1:])  # type: ignore[union-attr]
    if not bounded:
        note = "outside the theorem: phi' or phi'' is unbounded"
    elif sups[0].is_finite:  # type: ignore[union-attr]
        note = "bounded phi, phi', phi''"
    else:
        note = "phi itself is unbounded (sup |phi| = oo); phi' and phi'' are bounded"
    finite, infinite = stated_suprema(tuple(sups), tuple(stated))
    if finite:
        note += f"; {finite} stated by the plugin (SymPy finds no closed form), checked on a grid"
        note += " (not proved)"
    if infinite:
        note += f"; {infinite} stated as oo, not checked"
    return ActivationBounds(op, tuple(sups), bounded, bounded, note, tuple(stated), why)  # type: ignore[arg-type]


#: values the other outputs and the targets take on the lines :func:`loss_jump` follows
_LINE_VALUES = (sp.S.Zero, sp.Rational(1, 2), sp.Rational(-1, 3))


def loss_jump(op: str) -> str | None:
    """For a plugin loss declared smooth whose rule uses a function of ``NOT_SMOOTH``: where it,
    or its first or second derivative in an output, jumps along a line ``yhat_k = x`` (the
    other outputs and the targets held at a few values, targets one-hot for a labels loss), as
    :func:`_jump` finds for an activation (a Huber loss's second derivative at |r| = 1); else
    None. A loss smooth on every such line may still not be C^2: a necessary check, not a proof.
    """
    info = registry.get(op)
    if info is None or info.plugin is None or info.kind != "loss" or not info.smooth:
        return None
    dim = max(int(info.min_width), 1)
    yhat = sp.symbols(f"yhat0:{dim}", real=True)
    y = sp.symbols(f"y0:{dim}", real=True)
    E = sp.sympify(info.plugin.expression(yhat, y))  # on real symbols: Abs, sign as SymPy's
    if not E.atoms(*NOT_SMOOTH):
        return None
    labels = getattr(info.plugin, "targets", "labels") == "labels"
    for k in range(dim):
        for v in _LINE_VALUES:
            if labels:
                targets = {t: sp.S.One if i == 0 else sp.S.Zero for i, t in enumerate(y)}
            else:
                targets = {t: v for t in y}
            line = {**{a: v for a in yhat if a != yhat[k]}, **targets, yhat[k]: x}
            jump = _jump(E.subs(line))
            if jump:
                where = ", ".join(f"{a} = {line[a]}" for a in (*yhat, *y) if a != yhat[k])
                words = jump.replace("phi''", "E''").replace("phi'", "E'").replace("phi", "E")
                return f"along {yhat[k]} = x with {where}, {words}"
    return None


def all_activation_bounds() -> dict[str, ActivationBounds]:
    """:func:`activation_bounds` of every elementwise op of the op registry."""
    return {op: activation_bounds(op) for op in registry.names("elementwise")}


SUP_NAMES = ("sup |phi|", "sup |phi'|", "sup |phi''|")


def stated_suprema(sups: tuple[sp.Expr | None, ...], stated: tuple[bool, ...]) -> tuple[str, str]:
    """The suprema a plugin stated, named: ``(finite, infinite)``, the ones the grid check tests
    and the stated ``oo``s nothing checks (``"sup |phi|, sup |phi'|"``; "" where none)."""
    return tuple(  # type: ignore[return-value]
        ", ".join(
            f"sup |{_PHI[n]}|"
            for n in range(3)
            if stated[n] and sups[n] is not None and bool(sups[n].is_finite) == finite
        )
        for finite in (True, False)
    )


def numeric_sup_gaps(
    b: ActivationBounds, lo: float = -30.0, hi: float = 30.0
) -> list[tuple[str, float, float, float]]:
    """For each finite supremum: (its name, its value, the max over a fine grid, their relative
    gap). A numeric cross-check, not a proof; the grid includes the critical points'
    neighbourhood, and points out to |x| = 1e6 for a supremum approached only at +-oo, like
    x / sqrt(1 + x^2)'s; values a float evaluation cannot give there, inf or nan, are left out."""
    if b.sups is None:
        return []
    phi = phi_of(b.op)
    far = np.logspace(np.log10(hi), 6, 2001)
    grid = np.concatenate([-far[::-1], np.linspace(lo, hi, 600_001), far])
    out = []
    for n, s in enumerate(b.sups):
        if s is None or not s.is_finite:
            continue
        f = numpy_lambdify(x, _off_kinks(sp.diff(phi, x, n)))  # a plugin's erf too
        with np.errstate(all="ignore"):
            vals = np.abs(np.broadcast_to(f(grid), grid.shape))
        top = float(vals[np.isfinite(vals)].max())
        out.append((SUP_NAMES[n], float(s), top, abs(top - float(s)) / max(float(s), 1e-300)))
    return out


def numeric_sup_check(b: ActivationBounds, lo: float = -30.0, hi: float = 30.0) -> float:
    """The largest relative gap of :func:`numeric_sup_gaps`."""
    return max((g for *_, g in numeric_sup_gaps(b, lo, hi)), default=0.0)


@dataclass(frozen=True)
class GaussianBound:
    what: str
    expression: sp.Expr  # the one-variable factor whose sup over u is taken
    sup: sp.Expr
    expected: sp.Expr

    @property
    def holds(self) -> bool:
        return sp.simplify(self.sup - self.expected) == 0


def gaussian_bounds() -> list[GaussianBound]:
    """Suprema over all inputs of the Gaussian unit's derivatives, as functions of the radii."""
    g = sp.exp(-(r**2) * u**2 / 2)  # the factor of unit i, u = x_i - c_i, r = |r_i|
    g2 = sp.exp(-(r2**2) * u**2 / 2)
    dx = sp.diff(g, u)  # d y / d x_i (d y / d c_i = -d y / d x_i)
    dxx = sp.diff(g, u, 2)
    dr = sp.diff(g, r)
    # the mixed derivative factors into two one-variable suprema
    mixed = sup_abs(sp.diff(g, u), u) * sup_abs(sp.diff(g2, u), u)
    return [
        GaussianBound("sup |dy/dx_i| = sup |dy/dc_i|", dx, sup_abs(dx, u), r * sp.exp(-sp.S.Half)),
        GaussianBound("sup |d2y/dx_i^2|", dxx, sup_abs(dxx, u), r**2),
        GaussianBound(
            "sup |d2y/dx_i dx_j| (i != j)",
            sp.diff(g, u) * sp.diff(g2, u),
            mixed,
            r * r2 * sp.exp(-1),
        ),
        GaussianBound("sup |dy/dr_i|", dr, sup_abs(dr, u), 2 / (sp.E * r)),
    ]
