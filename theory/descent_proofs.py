"""Conditions for a guaranteed decrease of E in one step, derived in SymPy from L-smoothness.

If grad E is L-Lipschitz (E is *L-smooth*), then for every step d (descent lemma)::

    E(w + d) <= E(w) + g . d + (L/2) |d|^2,          g = grad E(w), G = |g|.

Every step below has ``g . d <= -A G^2`` and ``|d| <= B G`` for numbers A, B, so

    E(w + d) - E(w) <= c G^2,      c = -A + L B^2 / 2,

and the step is *guaranteed* to decrease E (for g != 0) when ``c < 0``. The inequality is
strict, and so are all regions here: on the boundary ``c = 0`` a decrease is not guaranteed.
The conditions are sufficient, not necessary (they hold for every L-smooth E, the worst case).

* Gradient descent ``d = -lr g``: A = lr, B = lr, ``c = -lr (1 - L lr / 2)``, so
  ``0 < lr < 2/L``, with decrease at least ``lr (1 - L lr/2) G^2`` (largest, ``G^2/(2L)``,
  at ``lr = 1/L``).
* Adaptive momentum (Wu et al. 2008; Agarwal, Klobusicky & Schonfeld 2021, arXiv 1705.07404)
  ``d = -lr g + alpha dw_{k-1}`` with ``alpha = tau |g| / |dw_{k-1}|``: the momentum term has
  length exactly ``tau G``, so by Cauchy-Schwarz and the triangle inequality A = lr - tau,
  B = lr + tau and ``c = tau - lr + L (lr + tau)^2 / 2``. Region: ``tau + L (lr + tau)^2/2 < lr``;
  in ``a = lr L``, ``t = tau L``: ``t + (a + t)^2 / 2 < a``. The same holds per parameter group
  (each group's term has length ``tau |g_G|``; cross terms add up by Cauchy-Schwarz per group
  and the squared lengths add), which is the papers' and the trainer's grouping.
* Constant momentum ``d = -lr g + beta dw_{k-1}``: with ``rho_k = |dw_{k-1}| / |g_k|`` the
  momentum term has length ``beta rho_k G``: the adaptive case with ``tau = beta rho_k``:
  ``-lr + beta rho_k + L (lr + beta rho_k)^2 / 2 < 0``. rho_k is not bounded by anything the
  optimizer controls (it is infinite when g_k = 0 and dw_{k-1} != 0), so no beta > 0 is
  guaranteed safe at every step.

Each fact below is a SymPy equality proved by :func:`~.zero.prove_equal` or a SymPy computation
(an inequality solved, a limit) compared with the stated closed form.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.solvers.inequalities import solve_univariate_inequality

from .zero import Identity, prove_equal

Expr = sp.Expr

L, lr, tau, beta, G = sp.symbols("L lr tau beta G", positive=True)
ratio = sp.Symbol("rho_k", nonnegative=True)  # |dw_{k-1}| / |g_k|
a, t = sp.symbols("a t", positive=True)  # a = lr L, t = tau L (dimensionless)
t_real = sp.Symbol("t", real=True)
s = sp.Symbol("s", positive=True)  # the papers' tau = s * lr


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


def smoothness_coefficient(A: Expr, B: Expr) -> Expr:
    """c in ``E(w + d) - E(w) <= c G^2`` for ``g.d <= -A G^2``, ``|d| <= B G``."""
    return -A + L * B**2 / 2


# the three coefficients, in the user's variables
C_GD = smoothness_coefficient(lr, lr)
C_ADAPTIVE = smoothness_coefficient(lr - tau, lr + tau)
C_CONSTANT = smoothness_coefficient(lr - beta * ratio, lr + beta * ratio)
# the largest admissible tau, closed form (derived in adaptive_momentum())
TAU_MAX = (sp.sqrt(1 + 4 * L * lr) - 1 - L * lr) / L
TAU_MAX_STABLE = lr * (3 - sp.sqrt(1 + 4 * L * lr)) / (1 + sp.sqrt(1 + 4 * L * lr))


def gradient_descent() -> list[Identity | Fact]:
    """GD: the coefficient, the region ``0 < lr < 2/L``, the decrease, the best lr."""
    out: list[Identity | Fact] = [
        prove_equal("GD: coefficient c = -lr (1 - L lr / 2)", C_GD, -lr * (1 - L * lr / 2)),
    ]
    region = solve_univariate_inequality((C_GD * L).subs(lr, a / L) < 0, a, relational=False)
    out.append(_fact("GD: c < 0 for a = lr L in", region, sp.Interval.open(0, 2)))
    decrease = sp.expand(-C_GD * G**2)
    best = sp.solve(sp.diff(decrease, lr), lr)
    out.append(_fact("GD: lr maximizing the guaranteed decrease", best, [1 / L]))
    out.append(
        _fact("GD: the largest guaranteed decrease", decrease.subs(lr, 1 / L), G**2 / (2 * L))
    )
    return out


def adaptive_momentum() -> list[Identity | Fact]:
    """Adaptive momentum: the region, the closed-form largest tau, its maximum over lr, and the
    papers' parametrisation ``tau = s lr``."""
    D = sp.Symbol("D", positive=True)  # |dw_(k-1)|
    out: list[Identity | Fact] = [
        prove_equal(
            "adaptive: |alpha_k dw_(k-1)| = tau |g_k|",
            (tau * G / D) * D,
            tau * G,
            condition="alpha_k = tau |g_k| / |dw_(k-1)|, D = |dw_(k-1)| > 0",
        ),
        prove_equal(
            "adaptive: coefficient",
            C_ADAPTIVE,
            tau - lr + L * (lr + tau) ** 2 / 2,
        ),
    ]
    c_norm = sp.expand(C_ADAPTIVE * L).subs({lr: a / L, tau: t_real / L})
    out.append(
        prove_equal(
            "adaptive: L c in a = lr L, t = tau L", c_norm, -a + t_real + (a + t_real) ** 2 / 2
        )
    )
    roots = sp.solve(sp.Eq(c_norm, 0), t_real)
    t_plus = sp.sqrt(1 + 4 * a) - 1 - a
    t_minus = -sp.sqrt(1 + 4 * a) - 1 - a
    out.append(_fact("adaptive: roots of c in t", set(roots), {t_plus, t_minus}))
    out.append(
        prove_equal(
            "adaptive: c factors as (t - t+)(t - t-)/2, so c < 0 iff t- < t < t+",
            c_norm,
            (t_real - t_plus) * (t_real - t_minus) / 2,
        )
    )
    out.append(_fact("adaptive: t- < 0 (only t < t+ binds)", bool(t_minus.is_negative), True))
    out.append(prove_equal("adaptive: tau_max = t+(lr L)/L", t_plus.subs(a, L * lr) / L, TAU_MAX))
    out.append(
        prove_equal(
            "adaptive: tau_max = lr (3 - sqrt(1 + 4 L lr)) / (1 + sqrt(1 + 4 L lr))",
            TAU_MAX,
            TAU_MAX_STABLE,
        )
    )
    out.append(
        _fact(
            "adaptive: some tau > 0 is admissible iff a = lr L in",
            solve_univariate_inequality(t_plus > 0, a, relational=False),
            sp.Interval.open(0, 2),
        )
    )
    best = sp.solve(sp.diff(t_plus, a), a)
    out.append(_fact("adaptive: a = lr L maximizing tau_max", best, [sp.Rational(3, 4)]))
    out.append(
        _fact(
            "adaptive: the largest tau_max, times L",
            t_plus.subs(a, sp.Rational(3, 4)),
            sp.Rational(1, 4),
        )
    )
    out.append(
        prove_equal(
            "adaptive: c = (tau - lr) + L (lr + tau)^2/2, so the region forces tau < lr",
            C_ADAPTIVE - L * (lr + tau) ** 2 / 2,
            tau - lr,
        )
    )
    # the papers' parametrisation tau = s lr (Zhang, Wu & Zheng 2006 style; 0 < s < 1)
    c_s = sp.expand(c_norm.subs(t_real, s * a))
    a_star = 2 * (1 - s) / (1 + s) ** 2
    out.append(
        prove_equal(
            "adaptive, tau = s lr: L c = a (1+s)^2/2 (a - 2(1-s)/(1+s)^2)",
            c_s,
            a * (1 + s) ** 2 / 2 * (a - a_star),
        )
    )
    out.append(
        _fact(
            "adaptive, tau = s lr: c < 0 iff lr L < 2 (1 - s)/(1 + s)^2 (needs s < 1)",
            sp.solve(sp.Eq(sp.cancel(c_s / a), 0), a),
            [a_star],
        )
    )
    return out


def constant_momentum() -> list[Identity | Fact]:
    """Constant beta: the condition in rho_k, and that no beta > 0 is safe for every rho_k."""
    out: list[Identity | Fact] = [
        prove_equal(
            "constant beta: coefficient = adaptive one with tau = beta rho_k",
            C_CONSTANT,
            C_ADAPTIVE.subs(tau, beta * ratio),
        ),
        _fact(
            "constant beta: c -> oo as rho_k -> oo, for every beta > 0",
            sp.limit(C_CONSTANT, ratio, sp.oo),
            sp.oo,
        ),
    ]
    return out


def heavy_ball_worst_case() -> list[Identity | Fact]:
    """f = L x^2 / 2, lr = 1/L, any beta > 0: x_1 = 0, g_1 = 0, and the second step raises f by
    exactly beta^2 (f(x_0) - f*). At step 1 the ratio rho_1 = |dw_0| / |g_1| is infinite, so the
    step lies outside the constant-momentum region; and the descent-lemma bound (not divided by
    G^2: ``g.d + L |d|^2 / 2``) equals the actual rise, so the bound is tight there."""
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
    out: list[Identity | Fact] = [
        prove_equal("worst case: x_1 = 0", x1, 0),
        prove_equal("worst case: g_1 = 0", g1, 0),
        prove_equal("worst case: dw_1 = -beta x_0", dw1, -beta * x0),
        prove_equal(
            "worst case: f(x_2) - f(x_1) = beta^2 (f(x_0) - f*)", f(x2) - f(x1), beta**2 * f(x0)
        ),
        prove_equal(
            "worst case: descent-lemma bound at step 1 equals the rise",
            g1 * dw1 + L * dw1**2 / 2,
            f(x2) - f(x1),
        ),
    ]
    # for lr near 1/L: x_1 = (1 - lr L) x_0, rho_1 = lr / |1 - lr L| -> oo as lr -> 1/L
    x1_lr = x0 - lr * grad(x0)
    rho1 = sp.Abs(lr * grad(x0)) / sp.Abs(grad(x1_lr))
    out.append(prove_equal("worst case: rho_1 = lr / |1 - lr L|", rho1, lr / sp.Abs(1 - lr * L)))
    c1 = C_CONSTANT.subs(ratio, lr / sp.Abs(1 - lr * L))
    out.append(
        _fact(
            "worst case: the step-1 coefficient -> oo as lr -> 1/L (outside the region)",
            sp.limit(
                c1.subs(lr, (1 - sp.Symbol("e", positive=True)) / L),
                sp.Symbol("e", positive=True),
                0,
                "+",
            ),
            sp.oo,
        )
    )
    return out


def prove_all() -> dict[str, list[Identity | Fact]]:
    return {
        "gradient descent: 0 < lr < 2/L": gradient_descent(),
        "adaptive momentum: tau + L (lr + tau)^2 / 2 < lr": adaptive_momentum(),
        "constant momentum: -lr + beta rho_k + L (lr + beta rho_k)^2 / 2 < 0": constant_momentum(),
        "heavy-ball worst case (f = L x^2/2, lr = 1/L)": heavy_ball_worst_case(),
    }
