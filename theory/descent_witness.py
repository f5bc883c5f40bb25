"""The worst case is attained: at every grid point, a witness checked in exact rationals.

For ``(lr, s, L)`` and a gradient ``g`` at ``w``, the witness is the L-smooth quadratic
``E*(x) = g.(x - w) + L |x - w|^2 / 2`` and the momentum vector ``m = sign(1 - lr L) s g``
(either sign at ``lr L = 1``). In :class:`fractions.Fraction` arithmetic (no rounding at all):

* ``E*(w + d) - E*(w)`` equals the closed-form worst case ``W`` of :mod:`.descent`;
* it is negative iff ``s < min(lr, 2/L - lr)`` (inside decreases, outside does not);
* ``grad E*`` is L-Lipschitz with constant exactly L (``|grad E*(x) - grad E*(y)|^2 =
  L^2 |x - y|^2`` at sample pairs);
* the first round's Cauchy-Schwarz region lies inside the exact one.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction as F
from itertools import product

Vec = tuple[F, ...]

G_VEC: Vec = (F(3, 5), F(-1, 2), F(2, 7))  # any nonzero rational gradient will do
W_VEC: Vec = (F(1, 3), F(-2, 1), F(5, 4))


def _dot(u: Vec, v: Vec) -> F:
    return sum((a * b for a, b in zip(u, v)), F(0))


def _axpy(alpha: F, x: Vec, y: Vec) -> Vec:
    return tuple(alpha * a + b for a, b in zip(x, y))


def witness_E(g: Vec, w: Vec, L: F, x: Vec) -> F:
    dx = _axpy(F(-1), w, x)
    return _dot(g, dx) + L * _dot(dx, dx) / 2


def witness_grad(g: Vec, w: Vec, L: F, x: Vec) -> Vec:
    return _axpy(L, _axpy(F(-1), w, x), g)


def worst_case(lr: F, s: F, L: F, gg: F) -> F:
    """``W = |g|^2 ((|1 - lr L| + s L)^2 - 1) / (2L)``, exactly."""
    return gg * ((abs(1 - lr * L) + s * L) ** 2 - 1) / (2 * L)


def inside(lr: F, s: F, L: F) -> bool:
    return lr > 0 and s < min(lr, 2 / L - lr)


def cauchy_schwarz_inside(lr: F, s: F, L: F) -> bool:
    return s + L * (lr + s) ** 2 / 2 < lr


@dataclass(frozen=True)
class WitnessReport:
    points: int
    inside: int
    outside: int
    failures: list[str]


def check_point(lr: F, s: F, L: F, g: Vec = G_VEC, w: Vec = W_VEC) -> list[str]:
    """Every statement of the module docstring at one point; the failures, in words."""
    sign = F(1) if lr * L <= 1 else F(-1)
    m = tuple(sign * s * gi for gi in g)
    d = _axpy(-lr, g, m)
    change = witness_E(g, w, L, _axpy(F(1), d, w)) - witness_E(g, w, L, w)
    W = worst_case(lr, s, L, _dot(g, g))
    bad = []
    if change != W:
        bad.append(f"(lr, s, L) = ({lr}, {s}, {L}): witness change {change} != W {W}")
    if (change < 0) != inside(lr, s, L):
        bad.append(f"(lr, s, L) = ({lr}, {s}, {L}): change {change} but inside={inside(lr, s, L)}")
    if cauchy_schwarz_inside(lr, s, L) and not inside(lr, s, L):
        bad.append(f"(lr, s, L) = ({lr}, {s}, {L}): in the Cauchy-Schwarz region only")
    x, y = _axpy(F(1), m, w), _axpy(F(-3), g, w)
    dg = _axpy(F(-1), witness_grad(g, w, L, y), witness_grad(g, w, L, x))
    dx = _axpy(F(-1), y, x)
    if _dot(dg, dg) != L * L * _dot(dx, dx):
        bad.append(f"L = {L}: grad E* is not L-Lipschitz with constant exactly L")
    return bad


def check_grid(steps: int = 24, Ls: tuple[F, ...] = (F(1, 2), F(1), F(3))) -> WitnessReport:
    """``lr L`` in ``{0, 1/8, ..., 3}``, ``s L`` in ``{0, 1/8, ..., 3/2}``, boundary included."""
    failures: list[str] = []
    n_in = n_out = 0
    for L, i, j in product(Ls, range(steps + 1), range(steps // 2 + 1)):
        lr, s = F(i, 8) / L, F(j, 8) / L
        failures += check_point(lr, s, L)
        n_in += inside(lr, s, L)
        n_out += not inside(lr, s, L)
    return WitnessReport(n_in + n_out, n_in, n_out, failures)
