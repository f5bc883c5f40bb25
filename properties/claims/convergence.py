"""Weak convergence and vanishing steps (expected to hold).

Agarwal, Klobusicky & Schonfeld (2021, arXiv 1705.07404), Theorem 1 (ii)-(iii): the gradient
goes to zero and so do the steps. On a finite run the checkable content is the summed descent
inequality. If every step k < K satisfies ``E(w_k) - E(w_{k+1}) >= c |g_k|^2`` with
``c = lr - tau - L (lr + tau)^2 / 2 > 0`` and ``L = max_k L_k`` (each L_k as in the descent
claims; c(L) falls as L grows, so the largest L_k gives a c valid for every step), then for every
window start j::

    sum_{k=j}^{K-1} |g_k|^2 <= (E_j - E_K) / c                      (telescoping)
    min_{k<K} |g_k| <= sqrt(E_0 / (c K)) = C / sqrt(K)              (E >= 0 for both losses)
    sum_{k=j}^{K-1} |w_{k+1} - w_k|^2 <= (lr + tau)^2 (E_j - E_K) / c   (|dw_k| <= (lr+tau)|g_k|)

so the squared steps have a finite sum and |w_{k+1} - w_k| -> 0. tau = 0 is gradient descent.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import strategies as st

from descentcheck.impl.optim import GROUPINGS
from descentcheck.impl.trainer import train
from descentcheck.theory.descent import adaptive_decrease_bound, adaptive_guaranteed, max_tau

from ..claim import Claim, Context, Verdict
from ..counterexample import make_counterexample
from ..curvature import SAFETY
from ..profiles import Profile
from ..steps import local_Ls, resolution
from ..strategies import cases, fractions
from .descent import COMMON, initial_L

SOURCE = (
    "Agarwal, Klobusicky & Schonfeld, J. Comput. Math. 39(1) 2021 (arXiv 1705.07404), "
    "Theorem 1 (ii)-(iii); summed descent inequality, region from descentcheck.theory.descent"
)
CONDITIONS = (
    *COMMON,
    "adaptive momentum (tau = 0 is gradient descent): lr = a / (1.5 L_0), a in [0.02, 1]; "
    "tau = b * max_tau(lr, 1.5 L_0), b in [0, 0.9]",
    "a run is tested when c = lr - tau - L (lr + tau)^2 / 2 > 0 for L = max_k L_k over the whole "
    "run (else counted as outside the conditions)",
)


def _strategy(profile: Profile) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "case": cases(profile.limits),
            "lr_frac": fractions(0.02, 1.0),
            "tau_frac": st.one_of(st.just(0.0), fractions(0.0, 0.9)),
            "group": st.sampled_from(GROUPINGS),
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


def _window_check(run: dict[str, Any], terms: np.ndarray, scale: float) -> tuple[bool, float, int]:
    """Check ``sum_{k>=j} terms[k] <= scale (E_j - E_K) / c`` for every window start j, up to the
    float64 resolution of E_j - E_K (two loss evaluations) and 1e-12 of the sum; return
    (ok, the largest lhs/rhs over windows the resolution resolves, the worst j)."""
    E = run["traj"].losses
    K, c = run["K"], run["c"]
    lhs = _tails(terms)
    worst, worst_j = 0.0, 0
    for j in range(K):
        tol = scale * resolution(float(E[j]), float(E[K])) / c + 1e-12 * lhs[j]
        rhs = scale * float(E[j] - E[K]) / c
        if rhs > tol and lhs[j] / rhs > worst:
            worst, worst_j = lhs[j] / rhs, j
        if lhs[j] > rhs + tol:
            return False, max(worst, lhs[j] / max(rhs, tol)), j
    return True, worst, worst_j


def _verdict(
    run: dict[str, Any],
    ok: bool,
    worst: float,
    j: int,
    measured: dict[str, float],
    theory: dict[str, float],
    what: str,
) -> Verdict:
    if ok:
        return Verdict(True, measured, theory)
    case, traj = run["case"], run["traj"]
    ce = make_counterexample(
        case.spec,
        case.x,
        case.y,
        case.params,
        {**run["hp"], "steps": run["K"]},
        j,
        traj.losses,
        window_start=j,
        bound_ratio=worst,
    )
    return Verdict(
        False,
        measured,
        theory,
        counterexample=ce,
        message=f"{what} exceeds its bound from step {j} on (ratio {worst:.6g})",
    )


def _weak_check(drawn: dict[str, Any], ctx: Context) -> Verdict:
    run = _run(drawn, ctx)
    if run["c"] is None:
        return Verdict(True, {"runs_tested": 0, "runs_outside": 1})
    traj, K, c = run["traj"], run["K"], run["c"]
    g2 = traj.grad_norms[:K] ** 2
    ok, worst, j = _window_check(run, g2, 1.0)
    E0 = float(traj.losses[0])
    C = math.sqrt(E0 / c) if E0 > 0 else 0.0
    gmin = float(traj.grad_norms[:K].min())
    min_ok = gmin**2 <= (E0 + resolution(E0, 0.0)) / (c * K) * (1 + 1e-9)
    measured = {
        "runs_tested": 1,
        "runs_outside": 0,
        "sum_grad_sq_over_bound": worst,
        "min_grad_times_sqrtK_over_C": gmin * math.sqrt(K) / C if C > 0 else 0.0,
        "final_over_initial_grad": float(traj.grad_norms[K] / traj.grad_norms[0])
        if traj.grad_norms[0] > 0
        else 0.0,
    }
    theory = {"sum_grad_sq_over_bound": 1.0, "min_grad_times_sqrtK_over_C": 1.0}
    if ok and not min_ok:
        return _verdict(run, False, worst, 0, measured, theory, "min_k |g_k| > C / sqrt(K):")
    return _verdict(run, ok, worst, j, measured, theory, "sum of |g_k|^2")


def _steps_check(drawn: dict[str, Any], ctx: Context) -> Verdict:
    run = _run(drawn, ctx)
    if run["c"] is None:
        return Verdict(True, {"runs_tested": 0, "runs_outside": 1})
    traj, K = run["traj"], run["K"]
    lr, tau = run["hp"]["lr"], run["hp"]["tau"]
    d2 = traj.step_norms[:K] ** 2
    ok, worst, j = _window_check(run, d2, (lr + tau) ** 2)
    first, last = float(traj.step_norms[0]), float(traj.step_norms[K - 1])
    measured = {
        "runs_tested": 1,
        "runs_outside": 0,
        "sum_step_sq_over_bound": worst,
        "last_over_first_step": last / first if first > 0 else 0.0,
    }
    return _verdict(
        run, ok, worst, j, measured, {"sum_step_sq_over_bound": 1.0}, "sum of squared steps"
    )


_SUMMARY: dict[str, Any] = {
    "runs_tested": "sum",
    "runs_outside": "sum",
    "sum_grad_sq_over_bound": "max",
    "min_grad_times_sqrtK_over_C": "max",
    "final_over_initial_grad": "mean",
    "sum_step_sq_over_bound": "max",
    "last_over_first_step": "mean",
}

WEAK_CONVERGENCE = Claim(
    id="weak-convergence",
    statement=(
        "Under the descent conditions, the squared gradients have a bounded sum: for every j, "
        "sum_{k>=j} |g_k|^2 <= (E_j - E_K) / c, hence min_{k<K} |g_k| <= C / sqrt(K) with "
        "C = sqrt(E_0 / c), c = lr - tau - L (lr + tau)^2 / 2, L = max_k L_k"
    ),
    source=SOURCE,
    conditions=CONDITIONS,
    expect="holds",
    strategy=_strategy,
    check=_weak_check,
    summary=_SUMMARY,
    cost=2.5,
)

VANISHING_STEPS = Claim(
    id="vanishing-steps",
    statement=(
        "Under the descent conditions, the squared steps have a bounded sum, so "
        "|w_{k+1} - w_k| -> 0: for every j, sum_{k>=j} |w_{k+1} - w_k|^2 <= "
        "(lr + tau)^2 (E_j - E_K) / c"
    ),
    source=SOURCE,
    conditions=CONDITIONS,
    expect="holds",
    strategy=_strategy,
    check=_steps_check,
    summary=_SUMMARY,
    cost=2.5,
)

CLAIMS = (WEAK_CONVERGENCE, VANISHING_STEPS)
