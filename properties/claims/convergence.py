"""Weights along a finite run: the path length is bounded and its tail shrinks (expected to hold).

What the source says: the abstract of Agarwal, Klobusicky & Schonfeld (arXiv 1705.07404; its
text was not available here) states that with adaptive momentum on DAGs with skip connections
the error decreases, the gradient goes to zero and, under an extra condition, the *weights*
converge. Everything below is this suite's own derivation and its own finite-horizon reading.

The iterates converge iff their path is Cauchy, which no finite run can show: K steps of any
method have a finite path. What a run of K steps can show is a bound fixed by quantities of
the run itself. With ``c = adaptive_decrease_bound(lr, tau, L, 1) > 0`` (the exact guaranteed
decrease per |g|^2, ``(min(lr, 2/L - lr) - tau)(1 + |1 - lr L| + tau L) / 2``) for
``L = max_k L_k`` (each step inside the exact descent region), ``E_k - E_(k+1) >= c |g_k|^2``
and, for every grouping, ``|dw_k| <= (lr + tau) |g_k|`` (the momentum term has length
``tau |g_G|`` per group), so by Cauchy-Schwarz the path length from step j on obeys::

    P_j = sum_{k=j}^{K-1} |w_(k+1) - w_k| <= (lr + tau) sqrt((K - j) (E_j - E_K) / c)

for every window start j: the path stays bounded by the loss still to be lost, and its tail shrinks
as the loss settles (``E_j - E_K -> 0``). The check uses the step lengths the trainer took (so a
momentum term longer than ``tau |g_G|``, which the per-step loss claims cannot see while the loss
still falls, breaks it: a held-out audit's term twice as long held in fast's 50 cases and was
falsified at ci, three times as long at fast's 37th case, five at its first;
``update-equals-derived-rule`` sees any length) and reports the measured tail share
``P_(K/2) / P_0`` beside the loss share ``(E_(K/2) - E_K) / (E_0 - E_K)``. The bound is
approached, not only met: for gradient descent on a quadratic of curvature kappa <= L, the last
window's ratio is ``sqrt((1 - lr L / 2) / (1 - lr kappa / 2))``, which tends to 1 as lr L -> 0
(0.9998 in a ci run), so a float comparison with slack could decide a verdict; each run is
therefore decided in Arb balls (:func:`certify_path`). It cannot show that the path stays finite
after step K (a flat valley of minima lets the weights drift at a vanishing rate; the paper's
extra condition is what rules that out), nor a rate.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from flint import arb
from hypothesis import strategies as st

from descentcheck.impl.optim import GROUPINGS
from descentcheck.impl.trainer import train
from descentcheck.theory.descent import adaptive_decrease_bound, adaptive_guaranteed, max_tau

from ..certify import PREC, Enclosures, _balls, _precision
from ..claim import Claim, Context, Verdict
from ..counterexample import make_counterexample
from ..curvature import SAFETY
from ..profiles import Profile, horizon
from ..steps import local_Ls, resolution
from ..strategies import cases, unit_interval
from .descent import DRAWN_NETS, LOCAL_L, SCALED_BY_L_0, initial_L

SOURCE = (
    "Agarwal, Klobusicky & Schonfeld, J. Comput. Math. 39(1) 2021 (arXiv 1705.07404): its "
    "abstract (weights converge for adaptive momentum on DAGs); the finite-horizon path bound "
    "is this suite's derivation, with the region from descentcheck.theory.descent"
)
CONDITIONS = (
    DRAWN_NETS,
    horizon("convergence_steps"),
    SCALED_BY_L_0,
    LOCAL_L,
    "adaptive momentum (tau = 0 is gradient descent): lr = a / (1.5 L_0), a in [0.02, 1]; "
    "tau = b * max_tau(lr, 1.5 L_0), b in [0, 0.9]",
    "a run is tested when the exact guaranteed decrease c = (min(lr, 2/L - lr) - tau)"
    "(1 + |1 - lr L| + tau L) / 2 > 0 for L = max_k L_k over the whole run (else counted as "
    "outside the conditions)",
)


def _strategy(profile: Profile) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {  # the fractions before the case: after it, they piled up at the range's low end
            "lr_frac": unit_interval(0.02, 1.0),
            "tau_frac": unit_interval(0.0, 0.9),
            "group": st.sampled_from(GROUPINGS),
            "case": cases(profile.limits),
        }
    )


def _run(drawn: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """Train, then the constant c over the whole run (None when outside the region)."""
    case = drawn["case"]
    Lhat = SAFETY * initial_L(case)
    lr = drawn["lr_frac"] / Lhat
    tau = drawn["tau_frac"] * max(max_tau(lr, Lhat), 0.0)
    hp = {"optimizer": "adaptive_momentum", "lr": lr, "tau": tau, "group": drawn["group"]}
    K = ctx.profile.convergence_steps
    traj = train(case.net, case.params, case.x, case.yt, steps=K, keep_params=True, **hp)
    Ls = local_Ls(case, traj.params_history) if traj.status == "completed" else [math.nan]
    L = max(Ls) if all(math.isfinite(v) for v in Ls) else math.nan
    inside = math.isfinite(L) and adaptive_guaranteed(lr, tau, L)
    c = adaptive_decrease_bound(lr, tau, L, 1.0) if inside else None
    return {"case": case, "hp": hp, "traj": traj, "L": L, "c": c, "K": K}


def _tails(values: np.ndarray) -> np.ndarray:
    """``t[j] = sum_{k >= j} values[k]``."""
    return np.cumsum(values[::-1])[::-1]


def _arb_c(lr: float, tau: float, L: float) -> arb:
    """The exact guaranteed decrease per |g|^2, ``(min(lr, 2/L - lr) - tau)(1 + |1 - lr L| +
    tau L) / 2``, as a ball from the float64 lr, tau and L (each exact)."""
    a, t, ell = arb(lr), arb(tau), arb(L)
    return (a.min(2 / ell - a) - t) * (1 + abs(1 - a * ell) + t * ell) / 2


def _arb_steps(history: list[dict[str, np.ndarray]]) -> list[arb]:
    """``|w_(k+1) - w_k|`` for every step, as balls from the exact float64 iterates."""
    out = []
    for w0, w1 in itertools.pairwise(history):
        sq = arb(0)
        for name in w0:
            d = _balls(w1[name]).ravel() - _balls(w0[name]).ravel()
            sq += sum((d * d).tolist(), arb(0))
        out.append(sq.sqrt())
    return out


#: the sides of every window, ``(j, lhs, rhs)`` for ``lhs <= rhs``, from the run's loss balls and
#: c's ball (a generator: it runs inside the certifier's precision)
Sides = Callable[[Enclosures, arb], Iterator[tuple[int, arb, arb]]]


def decide_windows(run: dict[str, Any], sides: Sides) -> tuple[str, int, str]:
    """Decide ``lhs <= rhs`` for every window ``sides`` yields, on the real numbers at the run's
    float64 iterates (128-bit Arb balls: E_j from the spec's formulas, c from the float64 lr,
    tau and L): ``("certified", -1, "")`` when every window is proved, ``("violated", j, "")``
    when window j is proved false, ``("uncertified", j, why)`` otherwise (j the first undecided
    window)."""
    case, traj = run["case"], run["traj"]
    balls = Enclosures(case.net, traj.params_history, case.x, case.yt)
    if balls.skip is not None:
        return "uncertified", 0, balls.skip
    with _precision(PREC):
        c = _arb_c(run["hp"]["lr"], run["hp"]["tau"], run["L"])
        first_open = -1
        for j, lhs, rhs in sides(balls, c):
            if bool(lhs > rhs):
                return "violated", j, ""
            if not bool(lhs <= rhs):
                first_open = j
    if first_open >= 0:
        return "uncertified", first_open, "a window's two sides are within the balls' width"
    return "certified", -1, ""


def certify_path(run: dict[str, Any]) -> tuple[str, int, str]:
    """:func:`decide_windows` for ``P_j^2 c <= (lr + tau)^2 (K - j)(E_j - E_K)``, the step
    lengths as balls from the iterates."""
    traj, K = run["traj"], run["K"]

    def sides(balls: Enclosures, c: arb) -> Iterator[tuple[int, arb, arb]]:
        scale = (arb(run["hp"]["lr"]) + arb(run["hp"]["tau"])) ** 2
        steps, P = _arb_steps(traj.params_history), arb(0)
        for j in range(K - 1, -1, -1):
            P += steps[j]
            yield j, P * P * c, scale * (K - j) * (balls[j] - balls[K])

    return decide_windows(run, sides)


def decided_verdict(
    run: dict[str, Any],
    decision: tuple[str, int, str],
    float_ok: bool,
    worst: tuple[float, int],
    measured: dict[str, float],
    theory: dict[str, float],
    what: str,
) -> Verdict:
    """A whole-run claim's verdict: ``decision`` (:func:`decide_windows`) where Arb decided,
    else the float check ``float_ok``; ``worst`` the largest float ratio and its window."""
    verdict, j, why = decision
    measured = {
        "runs_tested": 1,
        "runs_outside": 0,
        "runs_vacuous": 0,
        "runs_certified": int(verdict == "certified"),
        "runs_uncertified": int(verdict == "uncertified"),
        **measured,
    }
    if why:
        measured[f"uncertified: {why}"] = 1
    ratio, worst_j = worst
    if verdict == "violated":  # proved on the real numbers: the float ratio only reports it
        worst_j = j
    elif verdict == "certified" or float_ok:  # proved (floats cannot overrule it), or floats
        return Verdict(True, measured, theory)
    case = run["case"]
    ce = make_counterexample(
        case.spec,
        case.x,
        case.y,
        case.params,
        {**run["hp"], "steps": run["K"]},
        worst_j,
        run["traj"].losses,
        window_start=worst_j,
        bound_ratio=ratio,
        certified_violation=verdict == "violated",
    )
    if verdict != "violated":
        ce["uncertified_reason"] = why or "the float check failed, Arb did not"
    message = f"{what} exceeds its bound from step {worst_j} on (ratio {ratio:.6g})"
    return Verdict(False, measured, theory, counterexample=ce, message=message)


def untested(reason: str) -> Verdict:
    """A run the whole-run claims do not test: ``"outside"`` the conditions (c <= 0 for the
    run's L) or ``"vacuous"`` (nothing moved)."""
    return Verdict(True, {f"runs_{k}": int(k == reason) for k in ("tested", "outside", "vacuous")})


#: how the run counts every whole-run claim measures fold over its cases
RUN_COUNTS: dict[str, Any] = {
    f"runs_{k}": "sum" for k in ("tested", "outside", "vacuous", "certified", "uncertified")
}


def _path_check(drawn: dict[str, Any], ctx: Context) -> Verdict:
    run = _run(drawn, ctx)
    if run["c"] is None:
        return untested("outside")
    traj, K, c = run["traj"], run["K"], run["c"]
    lr, tau = run["hp"]["lr"], run["hp"]["tau"]
    E = traj.losses
    steps = traj.step_norms[:K]
    P = _tails(steps)
    if not P[0] > 0:  # no step moved the weights (E constant, g = 0): nothing to bound
        return untested("vacuous")
    worst, worst_j = 0.0, 0
    for j in range(K):
        drop = max(float(E[j] - E[K]), 0.0) + resolution(float(E[j]), float(E[K]))
        bound = (lr + tau) * math.sqrt((K - j) * drop / c) * (1 + 1e-9)
        ratio = float(P[j]) / bound if bound > 0 else (math.inf if P[j] > 0 else 0.0)
        if ratio > worst:
            worst, worst_j = ratio, j
    h = K // 2
    lost = float(E[0] - E[K])
    measured = {
        "path_over_bound": worst,
        "path_length": float(P[0]),
        "tail_share_of_path": float(P[h] / P[0]) if P[0] > 0 else 0.0,
        "tail_share_of_loss_drop": float(E[h] - E[K]) / lost if lost > 0 else 0.0,
    }
    theory = {"path_over_bound": 1.0}
    decision = certify_path(run)
    return decided_verdict(
        run, decision, worst <= 1.0, (worst, worst_j), measured, theory, "path length"
    )


_SUMMARY: dict[str, Any] = {
    **RUN_COUNTS,
    "path_over_bound": "max",
    "path_length": "max",
    "tail_share_of_path": "mean",
    "tail_share_of_loss_drop": "mean",
}

PATH_LENGTH = Claim(
    id="weight-path-bounded",
    statement=(
        "Under the descent conditions, the weights' path from every step j on is bounded by the "
        "loss still to be lost: sum_{k>=j} |w_(k+1) - w_k| <= (lr + tau) sqrt((K - j) "
        "(E_j - E_K) / c), c the exact guaranteed decrease per |g|^2, L = max_k L_k; so its "
        "tail shrinks as the loss settles (a finite-horizon reading of weight convergence)"
    ),
    source=SOURCE,
    conditions=(
        *CONDITIONS,
        "a finite run cannot show convergence: the bound covers steps 0..K only (module "
        "docstring says what it can and cannot show)",
        "each tested run's verdict is decided on the real numbers at its float64 iterates: "
        "P_j^2 c <= (lr + tau)^2 (K - j)(E_j - E_K) for every j, E_j and the step lengths in "
        "128-bit Arb balls and c from the float64 lr, tau, L, proved or proved false (a run "
        "Arb cannot decide is counted uncertified and judged in floats with slack 1e-9 and the "
        "loss resolution); a run whose weights never move is vacuous, not tested",
    ),
    expect="holds",
    strategy=_strategy,
    check=_path_check,
    summary=_SUMMARY,
    cost=6.0,  # 68-73 s CPU of a ci run (Arb certification included): second
)

CLAIMS = (PATH_LENGTH,)
