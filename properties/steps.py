"""Per-step descent on a trajectory: local L, the guaranteed decrease, and the observed one.

For each update k of a full-batch run, with ``L_k = segment_L(w_k, w_{k+1})`` (see
:mod:`.curvature`), theory (``descentcheck.theory.descent``) says whether the step lies in the
guaranteed-decrease region for L_k and how much it must then decrease::

    E(w_k) - E(w_{k+1}) >= c_k |g_k|^2        (the ``*_decrease_bound`` functions)

A step is *tested* when it lies in the region and its guaranteed decrease exceeds the float64
resolution ``tol_k = 2^-36 (|E_k| + |E_{k+1}|) + 1e-14`` of the loss (below that a float
comparison says nothing: the step is counted as *unresolved*, never as a pass). A tested step
*violates* the claim when ``E_k - E_{k+1} < c_k |g_k|^2 - tol_k``. Every tested step is then
certified in ball arithmetic (:mod:`.certify`): the claim's own inequality
``E_k - E_{k+1} > c_k |g_k|^2`` is proved on the real network at the float64 iterates, or the
step is reported uncertified with the reason.

:func:`judge_decreases` does the same for the a-priori claims, whose inequality is plain
``E_{k+1} < E_k`` at every step: a step is tested when its float change exceeds ``tol_k``; a
violation is an increase beyond ``tol_k``, certified as an increase.

Either way, a step the floats pass but ball arithmetic proves false on the real network (a real
decrease proved below ``c_k |g_k|^2 - tol_k``, the float test's own threshold, or a float fall
where ``E_{k+1} >= E_k`` is proved) is a certified violation (``certified_violation``), never an
uncertified pass; one proved short of ``c_k |g_k|^2`` by less than ``tol_k`` stays an
uncertified pass, with that reason (the bound is computed from float quantities).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .certify import PROVED_FALSE, Certificate, Enclosures
from .claim import Context
from .curvature import segment_L
from .strategies import Case

#: how a claim's ``summary`` folds :meth:`StepTally.measured` over its cases
TALLY_SUMMARY: dict[str, Any] = {
    "steps": "sum",
    "steps_in_region": "sum",
    "steps_tested": "sum",
    "steps_unresolved": "sum",
    "steps_certified": "sum",
    "steps_uncertified": "sum",
    "steps_tested_lr_L_over_1": "sum",
}
LONG_STEPS = "steps_tested_lr_L_over_1"
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
    long_steps: int = 0  # tested steps with lr L_k >= 1 (the region's 2/L_k - lr side)
    violation: int | None = None  # the first violating step
    details: dict[str, Any] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)  # why steps were not certified
    lemma: bool = True  # a descent-lemma tally (region, guarantee); False: plain decreases

    def record(self, cert: Certificate) -> None:
        """Count one tested step's certificate (and the reason when it is not certified)."""
        if cert.certified:
            self.certified += 1
            return
        self.uncertified += 1
        self.reasons[cert.reason] = self.reasons.get(cert.reason, 0) + 1

    def measured(self) -> dict[str, float]:
        if not self.lemma:
            lemma_only = ("steps_in_region", "min_decrease_over_guarantee", LONG_STEPS)
            return {k: v for k, v in self._measured().items() if k not in lemma_only}
        return self._measured()

    def _measured(self) -> dict[str, float]:
        return {
            **{f"uncertified: {r}": n for r, n in self.reasons.items()},
            "steps": self.steps,
            "steps_in_region": self.in_region,
            "steps_tested": self.tested,
            "steps_unresolved": self.unresolved,
            "steps_certified": self.certified,
            "steps_uncertified": self.uncertified,
            LONG_STEPS: self.long_steps,
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
    lr: float | None = None,
) -> StepTally:
    """Check every step k < K: ``in_region(k, L_k)`` is theory's verdict that the step is
    guaranteed to decrease, ``guaranteed(k, L_k)`` the decrease c_k |g_k|^2 it guarantees (they
    must agree: a guaranteed step has a positive bound). A step with a non-finite L_k (the run
    diverged) lies outside every region. With ``lr``, the tested steps with lr L_k >= 1 are
    counted (``steps_tested_lr_L_over_1``): where the region's 2/L_k - lr side binds."""
    tally = StepTally()
    K = len(history) - 1
    Ls = local_Ls(case, history)
    balls = Enclosures(case.net, history, case.x, case.yt)
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
        if bound <= tol:
            tally.unresolved += 1
            continue
        tally.tested += 1
        tally.long_steps += lr is not None and lr * L >= 1.0
        observed = e0 - e1
        tally.min_ratio = min(tally.min_ratio, observed / bound)
        passed = observed >= bound - tol
        # proved, its failure proved, or neither; against one ulp above the float bound, which
        # is theory's exact c_k |g_k|^2 rounded to nearest (a held-out review: a real decrease
        # between the two was certified as exceeding the exact bound)
        cert = balls.decrease(k, by=math.nextafter(bound, math.inf))
        if passed:
            tally.record(cert)
        # a float pass is a violation when the balls prove the real decrease short of the
        # float test's own threshold, bound - tol_k; short of the bound alone is not: the bound
        # comes from the float |g_k| and the float iterates, whose rounding a correct step may
        # lose to (a held-out review saw correct GD steps 6e-5 short at lr L ~ 1e-8)
        proved_false = cert.reason == PROVED_FALSE and (
            not passed or balls.decrease(k, by=bound - tol).reason == PROVED_FALSE
        )
        if (not passed or proved_false) and tally.violation is None:
            tally.violation = k
            tally.details = {
                "L_k": L,
                "guaranteed_decrease": bound,
                "observed_decrease": observed,
                "resolution": tol,
                "certified_violation": proved_false,
            }
    return tally


def rose_words(details: dict[str, Any], before: float, after: float) -> str:
    """How a :func:`judge_decreases` violation reads: a rise, or a float fall disproved."""
    if details.get("float_decrease_disproved"):
        return (
            f"the float loss fell {before!r} -> {after!r} but the real one did not (E_k+1 >= E_k "
            "proved in ball arithmetic)"
        )
    return f"the loss rose {before!r} -> {after!r}"


def judge_decreases(
    case: Case,
    losses: np.ndarray,
    history: Sequence[dict[str, np.ndarray]],
    certify: bool = True,
    judged: Sequence[bool] | None = None,
) -> StepTally:
    """Every step of a run (with ``judged``, the steps k where ``judged[k]``, counted as
    ``in_region``) against ``E_{k+1} < E_k`` (see the module docstring): the first
    increase beyond ``tol_k`` is the violation (``details["certified_increase"]`` says whether
    ball arithmetic proves it); each decrease beyond ``tol_k`` is certified or reported with its
    reason (``certify=False``, while a counterexample is shrunk: decreases are not certified,
    the increase still is). A step from a finite loss to inf or NaN (divergence) is an increase
    (certified, or not, like any other); a non-finite loss before a step leaves it untested."""
    tally = StepTally(lemma=False)
    balls = Enclosures(case.net, history, case.x, case.yt)
    for k in range(len(history) - 1):
        tally.steps += 1
        e0, e1 = float(losses[k]), float(losses[k + 1])
        if not math.isfinite(e0):
            break
        if judged is not None and not judged[k]:
            continue
        tally.in_region += judged is not None
        # a finite loss followed by inf or NaN (the run diverged) is a tested step that did not
        # decrease: certified on the real network at w_{k+1}, whose entries are still floats
        tol = resolution(e0, e1) if math.isfinite(e1) else 0.0
        if math.isfinite(e1) and abs(e1 - e0) <= tol:
            tally.unresolved += 1
            continue
        tally.tested += 1
        if e1 < e0:
            cert = balls.decrease(k) if certify else None
            if cert is not None:
                tally.record(cert)
            if cert is None or cert.reason != PROVED_FALSE:
                continue
            # the float loss fell by more than tol_k, yet E_{k+1} >= E_k on the real network
            tally.violation = k
            tally.details = {
                "certified_increase": False,
                "certified_violation": True,
                "float_decrease_disproved": True,
                "interval_before": list(cert.before),
                "interval_after": list(cert.after),
            }
            break
        cert = balls.increase(k)
        tally.record(cert)
        tally.violation = k
        tally.details = {
            "certified_increase": cert.certified,
            "interval_before": list(cert.before),
            "interval_after": list(cert.after),
        }
        if not cert.certified:
            tally.details["uncertified_reason"] = cert.reason
        break
    return tally
