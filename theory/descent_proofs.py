"""Exact one-step descent regions, derived in SymPy: a maximisation, not a chain of bounds.

**Setting.** ``g = grad E(w)``, ``G = |g| > 0``, one step ``d = -lr g + m`` with a momentum
vector of length ``|m| = s G``. E ranges over the L-smooth functions (``grad E`` L-Lipschitz;
not necessarily convex: curvature anywhere in ``[-L, L]``) with gradient g at w; m over every
direction. We want ``W = sup (E(w + d) - E(w))``.

1. *Over E.* The descent lemma (Nesterov 2004, Lemma 1.2.3; a premise here, refereed by PEPit
   at test time) gives ``E(w + d) - E(w) <= Q(d) = g.d + L |d|^2 / 2`` for every L-smooth E,
   and the quadratic ``E*(x) = g.(x - w) + L |x - w|^2 / 2`` (L-smooth, gradient g at w)
   attains it. So ``sup over E = Q(d)`` exactly (:func:`witness_function`).
2. *In Gram form.* With ``g.m = c G^2`` (``|c| <= s`` by Cauchy-Schwarz, both ends attained by
   ``m = +-s g``): ``Q = G^2 (-lr + L lr^2 / 2 + (1 - L lr) c + L s^2 / 2)``, linear in c.
3. *Over directions.* The maximum over ``c in [-s, s]`` (SymPy's ``maximum``) is at
   ``c = sign(1 - L lr) s``::

       W = G^2 ((|1 - lr L| + s L)^2 - 1) / (2 L).

4. *Region.* ``W < 0  iff  s < min(lr, 2/L - lr)``; gradient descent (s = 0): ``0 < lr < 2/L``.
   The guaranteed decrease ``-W = (min(lr, 2/L - lr) - s)(1 + |1 - lr L| + s L) G^2 / 2``.

The named optimizers are this theorem with their own s: adaptive momentum ``s = tau`` (per
group the lengths ``tau |g_G|`` add up in squares), heavy ball ``s = beta rho_k``, torch's
Nesterov with effective rate ``lr (1 + beta)`` and ``s = beta^2 rho_k``, and RMSProp's
preconditioned step ``d = -lr D g + m`` (:func:`rmsprop`).

Every fact is a SymPy equality proved by :func:`~.zero.prove_equal` or a SymPy computation (a
maximum, an inequality solved, an integral) compared with the stated closed form. The
expressions exported in capitals are what :mod:`.descent_smt` hands to the SMT solver, so
SymPy's derivation and the solver's proofs are about the same formulas.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.calculus.util import maximum
from sympy.solvers.inequalities import solve_univariate_inequality

from .zero import Identity, prove_equal

Expr = sp.Expr

L, lr, tau, beta, G = sp.symbols("L lr tau beta G", positive=True)
s = sp.Symbol("s", nonnegative=True)  # |m| / |g|: the momentum term's length over the gradient's
ratio = sp.Symbol("rho_k", nonnegative=True)  # |dw_{k-1}| / |g_k| (Nesterov: lr |b_{k-1}|/|g_k|)
c = sp.Symbol("c", real=True)  # g.m / |g|^2
e = sp.Symbol("e", nonnegative=True)  # |1 - lr L|, for the two sides of lr = 1/L
a = sp.Symbol("a", positive=True)  # lr L (dimensionless)
s_paper = sp.Symbol("s_p", positive=True)  # the papers' tau = s lr, 0 < s < 1
p, q, r = sp.symbols("p q r", nonnegative=True)  # RMSProp: g.Dg, |Dg|^2, |m|
gg, gm, mm = sp.symbols("gg gm mm", real=True)  # Gram entries g.g, g.m, m.m

# ---- the derived formulas (what the solver proves things about) -------------------------------
Q_GRAM = -lr * gg + gm + L / 2 * (lr**2 * gg - 2 * lr * gm + mm)  # g.d + L|d|^2/2, Gram form
WORST = G**2 * ((sp.Abs(1 - lr * L) + s * L) ** 2 - 1) / (2 * L)  # sup over E and directions
REGION_BOUND = sp.Min(lr, 2 / L - lr)  # s < this  iff  WORST < 0
DECREASE = (REGION_BOUND - s) * (1 + sp.Abs(1 - lr * L) + s * L) * G**2 / 2  # = -WORST
WITNESS_C = sp.sign(1 - lr * L) * s  # the maximising g.m / G^2 (either sign at lr = 1/L)
CAUCHY_SCHWARZ_REGION = s + L * (lr + s) ** 2 / 2 < lr  # the first round's sufficient region
# RMSProp: d = -lr D g + m, |m| = r; v = g - L lr D g, |v|^2 = G^2 - 2 L lr p + L^2 lr^2 q
V_NORM2 = G**2 - 2 * L * lr * p + L**2 * lr**2 * q
RMSPROP_WORST = -lr * p + L * lr**2 * q / 2 + r * sp.sqrt(V_NORM2) + L * r**2 / 2


@dataclass(frozen=True)
class Fact:
    """A computed statement: what SymPy computed beside what is claimed, and whether equal."""

    name: str
    computed: object
    claimed: object
    holds: bool

    def __str__(self) -> str:
        mark = "proved" if self.holds else "NOT proved"
        return f"{self.name}: computed {self.computed}, claimed {self.claimed} -- {mark}"


def _same(x: object, y: object) -> bool:
    if x == y:
        return True
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(_same(u, v) for u, v in zip(x, y))
    if isinstance(x, sp.Expr) and isinstance(y, sp.Expr):
        return sp.simplify(x - y) == 0
    return False


def _fact(name: str, computed: object, claimed: object) -> Fact:
    """``computed`` (by SymPy) against ``claimed``: equal, or lists of expressions whose
    differences simplify to 0."""
    return Fact(name, computed, claimed, _same(computed, claimed))


def _vec(name: str, n: int = 3) -> sp.Matrix:
    return sp.Matrix(sp.symbols(f"{name}0:{n}", real=True))


def _dot(u: sp.Matrix, v: sp.Matrix) -> Expr:
    return (u.T * v)[0, 0]


def witness_function(w: sp.Matrix, g: sp.Matrix, x: sp.Matrix) -> Expr:
    """``E*(x) = g.(x - w) + L |x - w|^2 / 2``: L-smooth, gradient g at w, and it attains the
    descent lemma's bound for every step."""
    return _dot(g, x - w) + L * _dot(x - w, x - w) / 2


def _sides(expr: Expr) -> tuple[Expr, Expr]:
    """``expr`` with ``lr = (1 - e)/L`` (lr <= 1/L) and ``lr = (1 + e)/L`` (lr >= 1/L)."""
    return expr.subs(lr, (1 - e) / L), expr.subs(lr, (1 + e) / L)


def over_functions() -> list[Identity | Fact]:
    """Step 1 and 2: the quadratic attains the descent lemma; the Gram form of Q."""
    w, g, d, x, y = (_vec(n) for n in ("w", "g", "d", "x", "y"))
    grad = sp.Matrix([sp.diff(witness_function(w, g, x), xi) for xi in x])
    grad_y = grad.subs(dict(zip(x, y)))
    m = _vec("m")
    step = -lr * g + m
    gram = {gg: _dot(g, g), gm: _dot(g, m), mm: _dot(m, m)}
    return [
        prove_equal(
            "E*(w + d) - E*(w) = g.d + L |d|^2 / 2 (the descent lemma's bound, attained)",
            witness_function(w, g, w + d) - witness_function(w, g, w),
            _dot(g, d) + L * _dot(d, d) / 2,
        ),
        prove_equal("grad E*(w) = g", grad.subs(dict(zip(x, w))), g),
        prove_equal(
            "grad E*(x) - grad E*(y) = L (x - y): E* is L-smooth with constant exactly L",
            grad - grad_y,
            L * (x - y),
        ),
        prove_equal(
            "Q(-lr g + m) in Gram form",
            _dot(g, step) + L * _dot(step, step) / 2,
            Q_GRAM.xreplace(gram),
        ),
    ]


def over_directions() -> list[Identity | Fact]:
    """Step 3: the maximum over the direction of m, and that the witness attains it."""
    q_c = sp.expand(Q_GRAM.subs({gm: c * G**2, mm: s**2 * G**2, gg: G**2}))
    out: list[Identity | Fact] = [
        prove_equal(
            "Q / G^2 = -lr + L lr^2/2 + (1 - L lr) c + L s^2/2, c = g.m/G^2 in [-s, s]",
            q_c / G**2,
            -lr + L * lr**2 / 2 + (1 - L * lr) * c + L * s**2 / 2,
        )
    ]
    for side, (lo, hi) in zip(("lr <= 1/L", "lr >= 1/L"), zip(_sides(q_c), _sides(WORST))):
        top = sp.simplify(maximum(lo, c, sp.Interval(-s, s)))
        out.append(_fact(f"max over c in [-s, s] of Q equals W ({side})", top, hi))
    for side, q_side in zip(("lr < 1/L", "lr > 1/L"), _sides(q_c.subs(c, WITNESS_C))):
        out.append(
            prove_equal(
                f"the witness m = sign(1 - lr L) s g attains W ({side})",
                q_side.subs(e, sp.Symbol("e", positive=True)),
                _sides(WORST)[side.endswith(">")].subs(e, sp.Symbol("e", positive=True)),
            )
        )
    out.append(
        prove_equal(
            "W = G^2 ((|1 - lr L| + s L)^2 - 1) / (2L) = -DECREASE (factored)",
            sp.Add(*_sides(WORST + DECREASE)),
            0,
            condition="both sides of lr = 1/L",
        )
    )
    return out


def region() -> list[Identity | Fact]:
    """Step 4: where W < 0, gradient descent, the peak, the area against Cauchy-Schwarz."""
    sigma = sp.Symbol("sigma", nonnegative=True)  # s L
    w_norm = sp.expand(WORST * 2 * L / G**2).subs(s, sigma / L)
    out: list[Identity | Fact] = []
    for side, (bound, w_side) in zip(
        ("lr <= 1/L", "lr >= 1/L"), zip(_sides(REGION_BOUND * L), _sides(w_norm))
    ):
        out.append(
            prove_equal(
                f"2 L W / G^2 = (s L - (1 - e)) (s L + 1 + e), e = |1 - lr L| ({side})",
                w_side,
                (sigma - (1 - e)) * (sigma + 1 + e),
            )
        )
        out.append(
            _fact(
                f"so W < 0 iff s L < 1 - e = min(lr L, 2 - lr L) ({side})",
                [sp.simplify(bound), bool((sigma + 1 + e).is_positive)],
                [1 - e, True],
            )
        )
    gd = solve_univariate_inequality((WORST * L).subs({s: 0, lr: a / L}) < 0, a, relational=False)
    out.append(_fact("gradient descent (s = 0): W < 0 iff lr L in", gd, sp.Interval.open(0, 2)))
    # min(a, 2 - a) is a on [0, 1] and 2 - a on [1, 2] (the sides above)
    peak = sp.Max(maximum(a, a, sp.Interval(0, 1)), maximum(2 - a, a, sp.Interval(1, 2)))
    out.append(_fact("the largest admissible s L over lr (at lr = 1/L)", peak, sp.Integer(1)))
    exact_area = sp.integrate(a, (a, 0, 1)) + sp.integrate(2 - a, (a, 1, 2))
    cs_top = sp.sqrt(1 + 4 * a) - 1 - a  # the first round's tau_max L
    cs_area = sp.integrate(cs_top, (a, 0, 2))
    out.append(_fact("area of the exact region in (lr L, s L)", exact_area, sp.Integer(1)))
    out.append(_fact("area of the Cauchy-Schwarz region", cs_area, sp.Rational(1, 3)))
    out.append(
        _fact(
            "Cauchy-Schwarz region inside the exact one: the a in (0, 2) where its tau_max L "
            "exceeds a, and where it exceeds 2 - a (both empty)",
            [
                solve_univariate_inequality(cs_top > a, a, False, sp.Interval.open(0, 2)),
                solve_univariate_inequality(cs_top > 2 - a, a, False, sp.Interval.open(0, 2)),
            ],
            [sp.S.EmptySet, sp.S.EmptySet],
        )
    )
    return out


def optimizers() -> list[Identity | Fact]:
    """Each optimizer's s: adaptive groups, heavy ball, Nesterov; the papers' tau = s lr."""
    g1, g2, p1, p2 = (_vec(n, 2) for n in ("g", "h", "p", "u"))
    alpha = [tau * sp.sqrt(_dot(gi, gi)) / sp.sqrt(_dot(pi, pi)) for gi, pi in ((g1, p1), (g2, p2))]
    m_len2 = sum(al**2 * _dot(pi, pi) for al, pi in zip(alpha, (p1, p2)))
    g, b = _vec("g"), _vec("b")
    buf = beta * b + g  # torch: b_k = beta b_{k-1} + g_k
    nesterov_step = -lr * (g + beta * buf)
    # with tau = s lr, s < 1: tau < lr always, so only tau < 2/L - lr binds; in a = lr L:
    # 2 - a - s a is decreasing in a (slope -(1 + s) < 0): positive below its one root
    paper = [sp.solve(2 - a - s_paper * a, a), bool((-(1 + s_paper)).is_negative)]
    return [
        prove_equal(
            "adaptive momentum, per group alpha_G = tau |g_G|/|dw_G|: |m|^2 = tau^2 |g|^2",
            m_len2,
            tau**2 * (_dot(g1, g1) + _dot(g2, g2)),
            condition="two groups shown; each group's term adds tau^2 |g_G|^2",
        ),
        prove_equal(
            "torch Nesterov: d = -lr (1 + beta) g_k - lr beta^2 b_{k-1}",
            nesterov_step,
            -lr * (1 + beta) * g - lr * beta**2 * b,
        ),
        _fact(
            "papers' tau = s lr, 0 < s < 1: tau < lr holds; tau < 2/L - lr iff lr L < root",
            paper,
            [[2 / (1 + s_paper)], True],
        ),
        prove_equal(
            "papers' tau = s lr: exact bound 2/(L(1+s)) over Cauchy-Schwarz 2(1-s)/(L(1+s)^2)",
            (2 / (L * (1 + s_paper))) / (2 * (1 - s_paper) / (L * (1 + s_paper) ** 2)),
            (1 + s_paper) / (1 - s_paper),
        ),
    ]


def rmsprop() -> list[Identity | Fact]:
    """``d = -lr D g + m``, D diagonal known at the step: the worst case and the region."""
    g, m, dd = _vec("g"), _vec("m"), _vec("D")
    u = sp.Matrix([di * gi for di, gi in zip(dd, g)])  # D g
    d = -lr * u + m
    v = g - L * lr * u
    q_vec = _dot(g, d) + L * _dot(d, d) / 2
    no_momentum = RMSPROP_WORST.subs(r, 0)
    return [
        prove_equal(
            "Q(-lr Dg + m) = -lr g.Dg + L lr^2 |Dg|^2/2 + v.m + L|m|^2/2, v = g - L lr Dg",
            q_vec,
            -lr * _dot(g, u) + L * lr**2 * _dot(u, u) / 2 + _dot(v, m) + L * _dot(m, m) / 2,
        ),
        prove_equal(
            "|v|^2 = |g|^2 - 2 L lr g.Dg + L^2 lr^2 |Dg|^2",
            _dot(v, v),
            V_NORM2.subs({G**2: _dot(g, g), p: _dot(g, u), q: _dot(u, u)}),
        ),
        _fact(
            "RMSProp without momentum: W < 0 iff lr in",
            solve_univariate_inequality(
                no_momentum.subs(
                    {p: sp.Symbol("P", positive=True), q: sp.Symbol("Qs", positive=True)}
                )
                < 0,
                lr,
                relational=False,
            ),
            sp.Interval.open(
                0, 2 * sp.Symbol("P", positive=True) / (L * sp.Symbol("Qs", positive=True))
            ),
        ),
    ]


def heavy_ball_worst_case() -> list[Identity | Fact]:
    """f = L x^2 / 2, lr = 1/L, any beta > 0: x_1 = 0, g_1 = 0, and the second step raises f by
    exactly beta^2 (f(x_0) - f*). At step 1 the ratio rho_1 = |dw_0| / |g_1| is infinite, so the
    step lies outside the constant-momentum region, whose bound is finite."""
    x0 = sp.Symbol("x0", real=True, nonzero=True)

    def f(x: Expr) -> Expr:
        return L * x**2 / 2

    def grad(x: Expr) -> Expr:
        return L * x

    step = 1 / L
    dw0 = -step * grad(x0)
    x1 = x0 + dw0
    g1 = grad(x1)
    dw1 = -step * g1 + beta * dw0
    x2 = x1 + dw1
    x1_lr = x0 - lr * grad(x0)
    rho1 = sp.Abs(lr * grad(x0)) / sp.Abs(grad(x1_lr))
    return [
        prove_equal("worst case: x_1 = 0", x1, 0),
        prove_equal("worst case: g_1 = 0", g1, 0),
        prove_equal("worst case: dw_1 = -beta x_0", dw1, -beta * x0),
        prove_equal(
            "worst case: f(x_2) - f(x_1) = beta^2 (f(x_0) - f*)", f(x2) - f(x1), beta**2 * f(x0)
        ),
        prove_equal("worst case: rho_1 = lr / |1 - lr L|", rho1, lr / sp.Abs(1 - lr * L)),
        _fact(
            "worst case: beta rho_1 -> oo as lr -> 1/L, past the region's bound 1/L",
            sp.limit(
                (beta * lr / (1 - lr * L)).subs(lr, (1 - sp.Symbol("h", positive=True)) / L),
                sp.Symbol("h", positive=True),
                0,
                "+",
            ),
            sp.oo,
        ),
    ]


def prove_all() -> dict[str, list[Identity | Fact]]:
    return {
        "the worst E: the descent lemma is attained": over_functions(),
        "the worst momentum direction: W = G^2((|1 - lr L| + sL)^2 - 1)/(2L)": over_directions(),
        "the exact region: s < min(lr, 2/L - lr)": region(),
        "each optimizer's momentum length s": optimizers(),
        "RMSProp: lr < 2 g.Dg / (L |Dg|^2)": rmsprop(),
        "heavy-ball worst case (f = L x^2/2, lr = 1/L)": heavy_ball_worst_case(),
    }
