"""The trainer's backprop gradients equal an independent oracle's (expected to hold).

Oracle: the complex step (Squire & Trapp 1998). For each parameter coordinate i,
``dE/dw_i = Im E(w + i h e_i) / h`` with h = 1e-20: no subtraction, so it is exact to rounding,
and it only runs the *forward* pass (the network's forward rules are analytic; relu, not smooth,
is left out of these DAGs: :mod:`.relu_gradients` draws it). Backprop's reverse sweep, the
summing of gradients over a node's several consumers (skip connections) and the per-op backward
rules are all checked against it.

Cases. The DAGs are knotty (:data:`~descentcheck.properties.strategies.KNOTTY`): three-input adds,
a value read by several nodes (an add's among them), ``concat(a, a)`` and ``add(a, a)``, and a
concat of one input, each in a good share of the cases (counted in the ledger), since summing a
node's gradient over its consumers is where backprop goes wrong; and half the cross-entropy cases
have general (n, m) target rows, whose gradient ``(softmax * sum_m y_m - y) / n`` differs from the
one-hot form. Parameters are not all as init leaves them: a drawn subset of the radii is negated
(init's radii are positive, and a backward rule that took ``|r|`` passed every case before), and a
quarter of the cases train on data pulled close to one row, whose radii of 1e3..1e5 reach the
backward's ``r^2`` at scales grid data never give (a clamped ``r^2`` passed before).

Tolerance. Some generated points are ill-conditioned: a gaussian unit initialised on nearly equal
hidden values gets a radius near 1e5, and dE/dc = r^2 (x - c) ... then turns a one-ulp change of
x into a change of 1e-7 in the derivative. No float64 method can do better there, so the
comparison allows, besides ``1e-8 |g|_inf + 1e-13``, ten times the derivative's own *noise floor*:
how far the oracle moves when every parameter moves by 4 ulps (``w (1 + 4 eps s)`` for
``s = +1`` and for alternating signs). A case whose floor exceeds ``1000 eps |g|_inf`` is counted
as ill-conditioned; the worst relative error is reported over the other cases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
from hypothesis import strategies as st

from ..claim import Claim, Context, Verdict
from ..strategies import KNOT_KEYS, KNOTTY, Case, cases, knots, sometimes_a_lone_concat

H = 1e-20
RTOL = 1e-8
ATOL = 1e-13
EPS = float(np.finfo(np.float64).eps)
LARGE_RADIUS = 1e3  # beyond what init gives on the grid data (counted in the ledger)
ILL_ULPS = 1000.0  # a point is ill-conditioned when its noise floor exceeds 1000 eps |g|_inf


Loss = Callable[[dict[str, np.ndarray]], Any]


def complex_step_gradient(case: Case, loss: Loss | None = None) -> dict[str, np.ndarray]:
    """dE/dw for every parameter, one forward pass per coordinate; ``loss(params)`` replaces
    ``case.net.loss(params, case.x, case.yt)`` (the relu claim fixes relu's branches)."""
    loss = loss or (lambda p: case.net.loss(p, case.x, case.yt))
    base = {k: v.astype(np.complex128) for k, v in case.params.items()}
    out: dict[str, np.ndarray] = {}
    for name, v in case.params.items():
        g = np.empty(v.size)
        flat = base[name].reshape(-1)
        for i in range(v.size):
            flat[i] += 1j * H
            g[i] = np.imag(loss(base)) / H
            flat[i] -= 1j * H
        out[name] = g.reshape(v.shape)
    return out


Oracle = Callable[[Case], dict[str, np.ndarray]]


def noise_floor(
    case: Case, oracle: dict[str, np.ndarray], oracle_of: Oracle = complex_step_gradient
) -> float:
    """max |oracle(w (1 + 4 eps s)) - oracle(w)|_inf over s = +1 and s = alternating signs."""
    floor = 0.0
    for alternate in (False, True):
        moved = {}
        for k, v in case.params.items():
            s = np.ones(v.size)
            if alternate:
                s[1::2] = -1.0
            moved[k] = v * (1.0 + 4.0 * EPS * s.reshape(v.shape))
        other = oracle_of(replace(case, params=moved))
        floor = max(floor, max(float(np.max(np.abs(other[k] - oracle[k]))) for k in oracle))
    return floor


def _worst_difference(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b|, inf where either is NaN (Python's max drops a NaN after the first item)."""
    d = np.abs(a - b)
    return float("inf") if np.isnan(d).any() else float(np.max(d, initial=0.0))


def _radius_counts(case: Case) -> dict[str, float]:
    """Whether the case has a negative radius, and a radius over ``LARGE_RADIUS`` in size."""
    radii = [v for k, v in case.params.items() if k.endswith(".radii")]
    return {
        "cases_with_a_negative_radius": float(any(bool((r < 0).any()) for r in radii)),
        "cases_with_a_large_radius": float(any(bool((abs(r) > LARGE_RADIUS).any()) for r in radii)),
    }


def _check(
    drawn: dict[str, Any], ctx: Context, oracle_of: Oracle = complex_step_gradient
) -> Verdict:
    case: Case = drawn["case"]
    _, grads = case.net.loss_and_grad(case.params, case.x, case.yt)
    oracle = oracle_of(case)
    scale = max(float(np.max(np.abs(g))) for g in oracle.values())
    errors = {k: _worst_difference(grads[k], oracle[k]) for k in oracle}
    err = max(errors.values(), default=0.0)
    worst = max(errors, key=errors.__getitem__)
    base = RTOL * scale + ATOL
    fine = ILL_ULPS * EPS * scale  # an error this small needs no explanation
    floor = noise_floor(case, oracle, oracle_of) if err > fine else 0.0
    allowed = base + 10.0 * floor
    ill = floor > fine
    measured = {
        # relative error in units of eps, over the well-conditioned cases
        "worst_rel_error_in_eps": float("nan") if ill or scale == 0 else err / (scale * EPS),
        "worst_error_over_allowed": err / allowed,
        "ill_conditioned_cases": float(ill),
        "parameters_checked": float(sum(v.size for v in case.params.values())),
        **knots(case.spec, case.y),
        **_radius_counts(case),
    }
    theory = {"worst_error_over_allowed": 1.0}
    ok = err <= allowed
    return Verdict(
        ok,
        measured,
        theory,
        message="" if ok else f"backprop differs from the oracle at {worst}: {err:.3e}",
    )


def _tight(case: Case, spread: float) -> Case:
    """The case on data pulled toward its first row, ``x_0 + spread (x - x_0)``, initialised
    again from its seed: the distance layers' radii grow as ``1/spread``."""
    x = case.x[:1] + spread * (case.x - case.x[:1])
    return replace(case, x=x, params=case.net.init(seed=case.param_seed, x=x))


def _flipped(draw: st.DrawFn, case: Case) -> Case:
    """The case with a drawn subset of its radii negated: the forward rule reads ``r^2`` only,
    so ``-r`` is as legal a state as ``r`` (an RMSProp step can carry a radius through 0), and
    ``dE/dr`` must change sign with it."""
    params = dict(case.params)
    for k in (k for k in params if k.endswith(".radii")):
        n = params[k].size
        signs = draw(st.lists(st.booleans(), min_size=n, max_size=n), label=f"negated {k}")
        params[k] = np.where(np.reshape(signs, params[k].shape), -params[k], params[k])
    return replace(case, params=params)


@st.composite
def _stressed(draw: st.DrawFn, profile: Any, shape: dict[str, Any], tight: bool) -> Case:
    case = draw(cases(profile.limits, soft_targets=True, shape_options=shape), label="case")
    case = sometimes_a_lone_concat(draw, case)
    if tight and draw(st.integers(0, 3), label="tight data") == 0:  # a quarter of the cases
        case = _tight(case, 2.0 ** -draw(st.integers(10, 14), label="spread exponent"))
    return _flipped(draw, case)


def oracle_cases(
    profile: Any, shape: dict[str, Any], tight: bool = True
) -> st.SearchStrategy[dict[str, Any]]:
    """``{"case": ...}``: a DAG of ``shape`` with its data (soft cross-entropy rows in half the
    cases) and initial parameters, as the oracle claims draw them; a drawn subset of the radii
    negated, and with ``tight`` a quarter of the cases on data within ``2^-10..2^-14`` of one
    row (radii near ``1e3..1e5``: the backward's ``r^2`` at scales init never reaches)."""
    return st.fixed_dictionaries({"case": _stressed(profile, shape, tight)})


GRADIENT_ORACLE = Claim(
    id="gradient-equals-oracle",
    statement=(
        "The trainer's backprop gradient equals the complex-step derivative of the loss, "
        "|g_backprop - g_oracle|_inf <= 1e-8 |g_oracle|_inf + 1e-13 (plus 10x the derivative's "
        "4-ulp noise floor at ill-conditioned points), on random DAGs with skips"
    ),
    source=(
        "the tutorial's backprop (two kinds of derivatives, summed over consumers); oracle: "
        "complex step, Squire & Trapp, SIAM Review 40(1), 1998"
    ),
    conditions=(
        "random knotty DAGs (three-input adds, fan-out, concat(a, a) and add(a, a), a concat of "
        "one input), dense and distance layers, smooth activations, both losses; parameters "
        "from net.init(seed, x) with a drawn seed, a drawn subset of the radii negated (the "
        "forward reads r^2)",
        "a quarter of the cases on data pulled within 2^-10..2^-14 of one row, so that radii "
        "pass 1e3 (both counted in the ledger)",
        "cross-entropy targets: integer labels, or (half the cases) (n, m) rows on the 1/4 grid "
        "of [0, 2] (rows need not sum to 1)",
        "tolerance 1e-8 |g|_inf + 1e-13, plus 10x the derivative's noise floor under 4-ulp "
        "parameter moves where the point is ill-conditioned (counted in the ledger)",
        "oracle: Im E(w + 1e-20 i e_j) / 1e-20 for every coordinate j",
    ),
    expect="holds",
    strategy=lambda profile: oracle_cases(profile, KNOTTY),
    check=_check,
    summary={
        "worst_rel_error_in_eps": "max",
        "worst_error_over_allowed": "max",
        "ill_conditioned_cases": "sum",
        "parameters_checked": "sum",
        "cases_with_a_negative_radius": "sum",
        "cases_with_a_large_radius": "sum",
        **dict.fromkeys(KNOT_KEYS, "sum"),
    },
)

CLAIMS = (GRADIENT_ORACLE,)
