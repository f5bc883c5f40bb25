"""Per-step descent on a trajectory: local L, the guaranteed decrease, and the observed one.

For each update k of a full-batch run, with ``L_k = segment_L(w_k, w_{k+1})`` (see
:mod:`.curvature`), theory (``descentcheck.theory.descent``) says whether the step lies in the
guaranteed-decrease region for L_k and how much it must then decrease::

    E(w_k) - E(w_{k+1}) >= c_k |g_k|^2        (the ``*_decrease_bound`` functions)

A step is *tested* when it lies in the region and its guaranteed decrease exceeds the float64
resolution ``tol_k = 2^-36 (|E_k| + |E_{k+1}|) + 1e-14`` of the loss (below that a float
comparison says nothing: the step is counted as *unresolved*, never as a pass). A tested step
*violates* the claim when ``E_k - E_{k+1} < c_k |g_k|^2 - tol_k``. Certified steps are proved in
interval arithmetic (:mod:`.certify`) on top of that, for small cases.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .certify import certify_decrease
from .claim import Context
from .curvature import segment_L
from .strategies import Case

REL_RESOLUTION = 2.0**-36
ABS_RESOLUTION = 1e-14


def resolution(e0: float, e1: float) -> float:
    """The smallest loss change a float64 comparison resolves here (see the module docstring)."""
    return REL_RESOLUTION * (abs(e0) + abs(e1)) + ABS_RESOLUTION


def local_Ls(case: Case, history: Sequence[dict[str, np.ndarray]]) -> list[float]:
    """``L_k`` for every step of a trajectory's ``params_history``."""
    return [
        segment_L(case.net, history[k], history[k + 1], case.x, case.yt)
        for k in range(len(history) - 1)
    ]


@dataclass
class StepTally:
    """Counts and extremes over the steps of one trajectory."""

    steps: int = 0
    in_region: int = 0
    tested: int = 0
    unresolved: int = 0
    certified: int = 0
    uncertified: int = 0
    min_ratio: float = math.inf  # observed decrease / guaranteed decrease, over tested steps
    violation: int | None = None  # the first violating step
    details: dict[str, float] = field(default_factory=dict)

    def measured(self) -> dict[str, float]:
        return {
            "steps": self.steps,
            "steps_in_region": self.in_region,
            "steps_tested": self.tested,
            "steps_unresolved": self.unresolved,
            "steps_certified": self.certified,
            "steps_uncertified": self.uncertified,
            "min_decrease_over_guarantee": self.min_ratio,
        }


def check_steps(
    case: Case,
    losses: np.ndarray,
    grad_norms: np.ndarray,
    history: Sequence[dict[str, np.ndarray]],
    guaranteed: Callable[[int, float], float],
    in_region: Callable[[int, float], bool],
    ctx: Context,
) -> StepTally:
    """Check every step k < K: ``in_region(k, L_k)`` is theory's verdict that the step is
    guaranteed to decrease, ``guaranteed(k, L_k)`` the decrease c_k |g_k|^2 it guarantees (they
    must agree: a guaranteed step has a positive bound). A step with a non-finite L_k (the run
    diverged) lies outside every region."""
    tally = StepTally()
    K = len(history) - 1
    Ls = local_Ls(case, history)
    certify = ctx.take_certification(case.net.n_params)
    budget = ctx.profile.certify_steps if certify else 0
    for k in range(K):
        tally.steps += 1
        L, e0, e1 = Ls[k], float(losses[k]), float(losses[k + 1])
        if not (np.isfinite(L) and np.isfinite(e1)) or not in_region(k, L):
            continue
        bound = guaranteed(k, L)
        if not bound >= 0.0:
            raise AssertionError(
                f"theory guarantees a decrease at step {k} but bounds it by {bound} (L_k = {L})"
            )
        tally.in_region += 1
        tol = resolution(e0, e1)
        if budget > 0:
            budget -= 1
            cert = certify_decrease(case.net, history[k], history[k + 1], case.x, case.yt)
            tally.certified += cert.certified
            tally.uncertified += not cert.certified
        if bound <= tol:
            tally.unresolved += 1
            continue
        tally.tested += 1
        observed = e0 - e1
        tally.min_ratio = min(tally.min_ratio, observed / bound)
        if observed < bound - tol and tally.violation is None:
            tally.violation = k
            tally.details = {
                "L_k": L,
                "guaranteed_decrease": bound,
                "observed_decrease": observed,
                "resolution": tol,
            }
    return tally
