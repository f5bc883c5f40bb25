"""The loss that backprop returns is the loss, at real and at complex points (holds).

``Network.loss_and_grad`` returns E(w) beside the gradient, and takes complex parameters so a
complex step through backprop gives Hessian-vector products (``properties/curvature.py``). The
claims read only its gradient, so what it returned as E ran under no claim: the mutation run
found a mutant that dropped the imaginary part of a complex E alive.

Here, on generated networks (the knotty ones of the forward and gradient claims, with their
general cross-entropy target rows), at w (real) and at w + i h u (u a drawn unit direction,
h = 1e-20), ``loss_and_grad``'s value must equal ``Network.loss`` at the same point, real and
imaginary parts, to 4 eps of their size (both run the same forward arithmetic) plus the
smallest subnormal. At w it is also given the targets as drawn (integer labels, 1-D mse
targets) instead of the trainer's form of them, and an mse net with two or more outputs its
rows' argmax as integer labels instead of their one-hot rows: the same bits (the full mutation
run found the labels-to-rows branch alive, inverted, and mse labels read as values).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..claim import Claim, Context, Verdict
from ..profiles import Profile
from ..strategies import KNOT_KEYS, KNOTTY, cases, grid_floats, knots
from .updates import SMALL

H = 1e-20
EPS = float(np.finfo(np.float64).eps)


@st.composite
def _draw(draw: st.DrawFn, profile: Profile) -> dict[str, Any]:
    case = draw(cases(SMALL, soft_targets=True, shape_options=KNOTTY), label="case")
    u = draw(hnp.arrays(np.float64, case.net.size, elements=grid_floats(1.0)), label="u")
    return {"case": case, "u": u}


def _miss(a: complex, b: complex) -> float:
    """|a - b| over its allowance, real and imaginary parts apart (inf for a NaN)."""
    worst = 0.0
    for x, y in ((a.real, b.real), (a.imag, b.imag)):
        allowed = 4 * EPS * max(abs(x), abs(y)) + np.finfo(np.float64).smallest_subnormal
        r = abs(x - y) / allowed
        worst = max(worst, r if np.isfinite(r) else float("inf"))
    return worst


def _raw_target_miss(case: Any, params: dict[str, np.ndarray]) -> str:
    """``loss_and_grad`` given the targets as drawn (integer labels, 1-D mse targets, rows)
    must give the bits it gives for the trainer's form of them (``Network.check_targets``);
    an mse net with two or more outputs, given integer labels (each row's argmax), the bits of
    their one-hot rows (DESIGN.md: labels are one-hot encoded when out > 1)."""
    forms = [(case.y, case.yt)]
    m = case.net.spec.out_width
    if case.net.spec.loss == "mse" and m > 1:
        labels = np.argmax(case.yt, axis=1).astype(np.int64)
        forms.append((labels, np.eye(m)[labels]))
    for y, rows in forms:
        with np.errstate(all="ignore"):
            E_t, g_t = case.net.loss_and_grad(params, case.x, rows)
            try:
                E, g = case.net.loss_and_grad(params, case.x, y)
            except Exception as e:  # refusing targets it documents is a miss, not a crash
                return f"targets ({y.dtype}, {y.shape}): {type(e).__name__}: {e}"
        same = E == E_t or (E != E and E_t != E_t)
        if not (same and all(np.array_equal(g[k], g_t[k], equal_nan=True) for k in g_t)):
            return f"targets ({y.dtype}, {y.shape}): E {E!r}, as rows {E_t!r}"
    return ""


def _check(drawn: dict[str, Any], ctx: Context) -> Verdict:
    case, u = drawn["case"], drawn["u"]
    net, w = case.net, case.net.flatten(case.params)
    norm = float(np.linalg.norm(u))
    points = {"real": w}
    if norm > 0:
        points["complex"] = w + 1j * H * (u / norm)
    worst, where = 0.0, ""
    for kind, z in points.items():
        params = net.unflatten(z)
        with np.errstate(all="ignore"):
            E_bp, _ = net.loss_and_grad(params, case.x, case.yt)
            E = net.loss(params, case.x, case.yt)
        r = _miss(complex(E_bp), complex(E))
        if r > worst:
            worst, where = r, f"{kind} point: loss_and_grad gave {E_bp!r}, loss {E!r}"
    raw = _raw_target_miss(case, net.unflatten(w))
    ok = worst <= 1.0 and not raw
    where = where if worst > 1.0 else raw
    measured = {
        "worst_error_over_tolerance": worst,
        "cases_tested": 1.0,
        "raw_target_misses": float(bool(raw)),
        "mse_label_cases": float(net.spec.loss == "mse" and net.spec.out_width > 1),
        **knots(case.spec, case.y),
    }
    return Verdict(ok, measured, {"worst_error_over_tolerance": 1.0}, message="" if ok else where)


LOSS_VALUE = Claim(
    id="backprop-returns-the-loss",
    statement=(
        "The loss Network.loss_and_grad returns equals Network.loss at the same parameters, "
        "real and complex (w + i h u), real and imaginary parts"
    ),
    source=(
        "Network.loss_and_grad's contract (E(w) and dE/dw; complex parameters allowed for the "
        "complex step); added after the mutation run (issue 12 item 7) found its value unread"
    ),
    conditions=(
        "small random knotty DAGs (three-input adds, fan-out, concat(a, a) and add(a, a)), "
        "cross-entropy targets as labels or general (n, m) rows",
        "u drawn on the 1/16 grid of [-1, 1], h = 1e-20",
        "4 eps of the larger part's size per part",
    ),
    expect="holds",
    strategy=_draw,
    check=_check,
    summary={
        "worst_error_over_tolerance": "max",
        "cases_tested": "sum",
        "raw_target_misses": "sum",
        "mse_label_cases": "sum",
        **dict.fromkeys(KNOT_KEYS, "sum"),
    },
    cost=0.5,
)

CLAIMS = (LOSS_VALUE,)
