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
from ..strategies import (
    KNOT_KEYS,
    KNOTTY,
    cases,
    grid_floats,
    knots,
    sometimes_a_lone_concat,
)
from .updates import SMALL

H = 1e-20
EPS = float(np.finfo(np.float64).eps)


@st.composite
def _draw(draw: st.DrawFn, profile: Profile) -> dict[str, Any]:
    case = draw(cases(SMALL, soft_targets=True, shape_options=KNOTTY), label="case")
    case = sometimes_a_lone_concat(draw, case)
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


@st.composite
def _logits(draw: st.DrawFn, profile: Profile) -> dict[str, Any]:
    n = draw(st.integers(1, 4), label="rows")
    m = draw(st.integers(2, 4), label="classes")
    z = draw(hnp.arrays(np.float64, (n, m), elements=grid_floats(4.0)), label="logits")
    labels = draw(hnp.arrays(np.int64, n, elements=st.integers(0, m - 1)), label="labels")
    # up to 2^10: past where exp of a doubled shift overflows (about 355) in two of five
    # sign and exponent by a byte each (st.sampled_from favours its first options: +2^10 drew
    # in 0 of 100 ci cases; now |c| = 2^10 in 21 of them, +2^10 in 1, and 2^9 in 4)
    sign = (-1.0, 1.0)[draw(st.integers(0, 255), label="sign") % 2]
    c = sign * 2.0 ** (0, 3, 6, 9, 10)[draw(st.integers(0, 255), label="k") % 5]
    return {"z": z, "y": np.eye(m)[labels], "c": c}


def _check_shift(drawn: dict[str, Any], ctx: Context) -> Verdict:
    from descentcheck.impl.losses import LOSSES

    z, y, c = drawn["z"], drawn["y"], drawn["c"]
    loss = LOSSES["softmax_cross_entropy"]
    with np.errstate(all="ignore"):
        E, g = loss.value_and_grad(z, y)
        E_c, g_c = loss.value_and_grad(z + c, y)
    # z + c rounds by eps (|c| + |z|) per logit, and E and g move by at most a few times that
    tol = 8 * EPS * (abs(c) + float(np.max(np.abs(z)))) + 4 * EPS * abs(float(E))
    worst = max(abs(float(E_c) - float(E)), float(np.max(np.abs(np.asarray(g_c) - g)))) / tol
    worst = worst if np.isfinite(worst) else float("inf")
    ok = worst <= 1.0
    msg = "" if ok else f"shift {c}: E {float(E_c)!r} vs {float(E)!r} ({worst:.3g} x tolerance)"
    measured = {
        "worst_error_over_tolerance": worst,
        "cases_tested": 1.0,
        "largest_shift": abs(c),
        # past 355, exp of a doubled shift overflows: where an unshifted form fails
        "cases_shifted_past_355": float(abs(c) > 355),
    }
    return Verdict(ok, measured, {"worst_error_over_tolerance": 1.0}, message=msg)


SOFTMAX_SHIFT = Claim(
    id="softmax-cross-entropy-shift-invariant",
    statement=(
        "Softmax cross-entropy and its gradient are unchanged, to the rounding of the shifted "
        "logits, when every logit is shifted by the same constant, up to 2^10 either way"
    ),
    source=(
        "DESIGN.md's softmax cross-entropy (log-softmax is invariant to a shift of the logits; "
        "impl/losses.py subtracts each row's max so that large logits do not overflow); added "
        "after the full mutation run found the max added instead of subtracted alive"
    ),
    conditions=(
        "1 to 4 rows of 2 to 4 logits on the 1/16 grid of [-4, 4], one-hot targets; shifts "
        "+-2^k, k in 0, 3, 6, 9, 10; |dE| and every |dg| within 8 eps (|c| + max |z|) + "
        "4 eps |E| (grid logits and power-of-2 shifts are exact: a correct loss gives the "
        "same bits)",
    ),
    expect="holds",
    strategy=_logits,
    check=_check_shift,
    summary={
        "worst_error_over_tolerance": "max",
        "cases_tested": "sum",
        "largest_shift": "max",
        "cases_shifted_past_355": "sum",
    },
    cost=0.2,
    examples_scale=0.25,  # each case is a few array operations; Hypothesis's own cost dominates
)

CLAIMS = (LOSS_VALUE, SOFTMAX_SHIFT)
