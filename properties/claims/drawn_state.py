"""Adaptive momentum's update from a drawn state equals its rule, group by group (holds).

``update-equals-derived-rule`` checks the steps of a run from rest, where the previous step is
dw_(k-1) = -lr g_(k-1) and g_k is close to g_(k-1): every group's coefficient
alpha_G = tau |g_k|_G / |dw_(k-1)|_G is then nearly tau / lr, whatever the grouping. So a
grouping that puts every array in one group, or a node's arrays under the wrong node, changed
almost nothing and passed every claim (the mutation run found such mutants of
``impl/optim/adaptive_momentum.py`` alive).

Here the state is drawn: a gradient g and a previous step D with independent entries on a grid,
so the groups' coefficients differ. For every grouping (array, unit, node, global), both the
optimizer's dict-form ``update`` and its flat form (the trainer's) must give

    dw_i = -lr g_i + alpha_G D_i,   alpha_G = tau |g|_G / |D|_G  (0 when |D|_G = 0)

for every entry i of each group G, the groups built from the spec (as in
:func:`.updates.reference_groups`), to within 64 eps (lr |g_i| + alpha_G |D_i|) plus the
smallest subnormal; a wrong grouping misses by a factor, not by rounding. g and D are scaled
by 2^a and 2^b ((a, b) drawn from :data:`SCALES`), so that groups' sums of squares also under-
and overflow, where the trainer recomputes the coefficient from scaled norms, and alpha itself
too, where it divides the step by its norm first; the reference takes the scales out exactly.
Every case is checked at every regime of :data:`SCALES` (array arithmetic, cheap): drawn one per
case, the fast profile's 50 cases reached 7 of the 12, and a rescue threshold lowered to the
subnormals (2^-1074) held there (held-out coverage audit).
Drawing them found a gradient of 2^-1000 under a previous step of 2^500 losing its momentum
term (alpha = 2^-1500 rounded to 0; ``_factors`` now takes that path too). Each case also
steps a lone 0-d parameter array and an empty one after it (no op has either, but the dict form
takes any arrays): every grouping makes the 0-d one a group of its own, the empty one adding
nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from descentcheck.impl.optim import get_optimizer
from descentcheck.impl.optim.base import Layout

from ..claim import Claim, Context, Verdict
from ..profiles import Profile
from ..strategies import cases, fractions, grid_floats, typed
from .updates import SMALL, reference_groups

GROUPINGS = ("array", "unit", "node", "global")
#: (a, b): the gradient and the previous step scaled by 2^a and 2^b, each case checked at every
#: one: unscaled; a group's sum of squares under
#: 2^-960 or over 2^960 for g or for D, where the trainer rescales (at 2^-535 the squares are
#: subnormal and round: the grid's squares at 2^-520 would be exact, at 2^-600 they are 0);
#: alpha = tau |g| / |D| itself under- or overflowing (2^-1500, 2^1500, while the term alpha D
#: stays normal); both tiny; both huge. Grid entries lie in [1/16, 1] in size, so no step
#: under- or overflows at these.
SCALES = (
    (0, 0),
    (-1000, 500),
    (-600, 0),
    (0, -535),
    (500, -1000),
    (0, 600),
    (-535, 0),
    (600, 0),
    (0, -600),
    (-1000, -1000),
    (960, 960),
)
EPS = float(np.finfo(np.float64).eps)
ROUND_TAUS = (0.1, 0.5, 1.0)


@st.composite
def _draw(draw: st.DrawFn, profile: Profile) -> dict[str, Any]:
    case = draw(cases(SMALL), label="case")
    n = case.net.size
    g = draw(hnp.arrays(np.float64, n, elements=grid_floats(1.0)), label="gradient")
    d = draw(hnp.arrays(np.float64, n, elements=grid_floats(1.0)), label="previous step")
    lr = draw(fractions(1e-3, 0.5), label="lr")
    tau = draw(typed(0.01, 1.0, *ROUND_TAUS), label="tau")
    # a 0-d parameter array (no op has one; the dict API takes any arrays): one group of its own,
    # its values taken from the drawn ones (further draws shifted Hypothesis's generation: the
    # share of cases with a skip fell from over 0.1 to 0.02, tests/test_properties_ledger.py)
    scalar = (float(g[0]), float(d[-1])) if n else (0.5, -0.25)
    return {"case": case, "g": g, "d": d, "lr": lr, "tau": tau, "scalar": scalar}


def _scalar_miss(drawn: dict[str, Any], group: str) -> str:
    """The dict-form and flat-form steps of a lone 0-d parameter ``s`` (beside an empty one)
    against the rule, ``""`` if within."""
    (gs, ds), lr, tau = drawn["scalar"], drawn["lr"], drawn["tau"]
    opt = get_optimizer("adaptive_momentum", lr, tau=tau, group=group)
    # NODE.PARAM, as a network names its arrays; an empty array last, whose sums are 0 (it
    # shares s's group under node and global, and adds nothing)
    e = np.zeros(0)
    w = {"lone.s": np.array(0.0), "lone.e": e}
    dw, _, _ = opt.update(
        {"lone.s": np.array(gs), "lone.e": e}, {"lone.s": np.array(ds), "lone.e": e}, w
    )
    if np.shape(dw["lone.e"]) != (0,):
        return f"{group}, an empty parameter: step of shape {np.shape(dw['lone.e'])}"
    ref, tol = reference_scalar(gs, ds, lr, tau)
    got = float(dw["lone.s"]) if np.shape(dw["lone.s"]) == () else np.nan
    if not abs(got - ref) <= tol:
        return f"{group}, a 0-d parameter: {got!r} vs rule {ref!r}"
    # the flat form over the same layout (one entry, then an empty array)
    try:
        flat = opt.flat(Layout.of(w))
        step = np.array(flat.update(np.array([gs]), np.array([ds]), np.zeros(1))[0])
    except Exception as e:  # an index past the vector's end is a miss, not a crash
        return f"{group}, a 0-d parameter (flat form): {type(e).__name__}: {e}"
    got = float(step[0]) if step.shape == (1,) else np.nan
    ok = abs(got - ref) <= tol
    return "" if ok else f"{group}, a 0-d parameter (flat form): {step!r} vs rule {ref!r}"


def reference_scalar(gs: float, ds: float, lr: float, tau: float) -> tuple[float, float]:
    alpha = tau * abs(gs) / abs(ds) if ds != 0 else 0.0
    tol = 64 * EPS * (lr * abs(gs) + alpha * abs(ds)) + np.finfo(np.float64).smallest_subnormal
    return -lr * gs + alpha * ds, tol


def reference(
    net: Any,
    group: str,
    g: np.ndarray,
    d: np.ndarray,
    lr: float,
    tau: float,
    a: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The rule's step for the gradient ``2^a g`` and a previous step ``2^b d`` (any b: it
    cancels in alpha's ratio) and its tolerance, entry by entry:
    ``2^a (-lr g_i + (tau |g|_G / |d|_G) d_i)``, the scales taken out exactly so that no sum of
    squares here under- or overflows."""
    ref, tol = np.empty_like(g), np.empty_like(g)
    for idx in reference_groups(net, group):
        dn = float(np.sqrt(np.sum(d[idx] ** 2)))
        alpha = tau * float(np.sqrt(np.sum(g[idx] ** 2))) / dn if dn > 0 else 0.0
        ref[idx] = np.ldexp(-lr * g[idx] + alpha * d[idx], a)
        tol[idx] = np.ldexp(64 * EPS * (lr * np.abs(g[idx]) + alpha * np.abs(d[idx])), a)
    return ref, tol + np.finfo(np.float64).smallest_subnormal


def _steps(
    net: Any, opt: Any, g: np.ndarray, d: np.ndarray, w: np.ndarray
) -> dict[str, np.ndarray]:
    """The dict-form step and the flat-form step (copies in: the flat form writes over them)."""
    grads, prev, params = net.unflatten(g.copy()), net.unflatten(d.copy()), net.unflatten(w)
    dw, _, _ = opt.update(grads, prev, params)
    out = {"dict": net.flatten(dw)}
    if opt.flat is not None:
        flat = opt.flat(Layout.of(params))
        out["flat"] = np.array(flat.update(g.copy(), d.copy(), w.copy())[0])
    return out


def _check(drawn: dict[str, Any], ctx: Context) -> Verdict:
    case, g, d = drawn["case"], drawn["g"], drawn["d"]
    net, lr, tau = case.net, drawn["lr"], drawn["tau"]
    w = net.flatten(case.params)
    worst, where = 0.0, ""
    for group in GROUPINGS:
        opt = get_optimizer("adaptive_momentum", lr, tau=tau, group=group)
        for a, b in SCALES:
            ref, tol = reference(net, group, g, d, lr, tau, a)
            for form, step in _steps(net, opt, np.ldexp(g, a), np.ldexp(d, b), w).items():
                ratio = np.abs(step - ref) / tol
                ratio[~np.isfinite(ratio)] = np.inf  # a NaN step is a miss, not a pass
                i = int(np.argmax(ratio)) if len(ratio) else 0
                if len(ratio) and ratio[i] > worst:
                    worst = float(ratio[i])
                    where = (
                        f"{group} ({form} form) at scales 2^{a}, 2^{b}, entry {i}: "
                        f"{step[i]!r} vs rule {ref[i]!r}"
                    )
    scalar = [m for m in (_scalar_miss(drawn, group) for group in GROUPINGS) if m]
    ok = worst <= 1.0 and not scalar
    measured = {
        "worst_error_over_tolerance": worst,
        "cases_tested": 1.0,
        "scalar_misses": float(len(scalar)),
    }
    message = "; ".join([where] * (worst > 1.0) + scalar)
    return Verdict(ok, measured, {"worst_error_over_tolerance": 1.0}, message=message)


ADAPTIVE_FROM_DRAWN_STATE = Claim(
    id="adaptive-update-from-drawn-state-equals-rule",
    statement=(
        "Adaptive momentum's step from a drawn gradient and previous step equals "
        "-lr g + alpha_G dw_(k-1) with alpha_G = tau |g|_G / |dw_(k-1)|_G for each group G of "
        "every grouping (array, unit, node, global), in the dict and the flat form"
    ),
    source=(
        "DESIGN.md's adaptive momentum (the Wu et al. form per group); groups built from the "
        "spec as in update-equals-derived-rule; added after the mutation run (issue 12 item 7) "
        "found grouping mutants alive"
    ),
    conditions=(
        "small random DAGs with skips; gradient and previous step drawn entry by entry on the "
        "1/16 grid of [-1, 1] (so the groups' coefficients differ), scaled by 2^a and 2^b, "
        "each case at every (a, b) of (0, 0), (+-600, 0), (0, +-600), (-535, 0), (0, -535), "
        "(-1000, 500), (500, -1000), (-1000, -1000), (960, 960): sums of squares outside "
        "[2^-960, 2^960], where the trainer rescales, and alpha itself under- or overflowing",
        "lr in [1e-3, 0.5], tau in [0.01, 1]; tolerance 64 eps per entry",
    ),
    expect="holds",
    strategy=_draw,
    check=_check,
    summary={
        "worst_error_over_tolerance": "max",
        "cases_tested": "sum",
        "scalar_misses": "sum",
    },
    cost=0.5,
)

CLAIMS = (ADAPTIVE_FROM_DRAWN_STATE,)
