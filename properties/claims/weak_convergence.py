"""The gradient along a finite run: its squared norms sum to at most the loss lost (weak
convergence, read over a finite horizon; expected to hold).

What the source says: the abstract of Agarwal, Klobusicky & Schonfeld (arXiv 1705.07404; its
text was not available here) states that with adaptive momentum on DAGs with skip connections the
error decreases and the gradient goes to zero (weak convergence). The finite-horizon reading below
is this suite's own derivation, the one the paper's kind of proof rests on.

With ``c = adaptive_decrease_bound(lr, tau, L, 1) > 0`` (the exact guaranteed decrease per
``|g|^2``, :mod:`descentcheck.theory.descent`) for ``L = max_k L_k`` over the run (as
``weight-path-bounded`` reads it: c falls as L grows, so the largest L_k gives a c every step
meets), every step has ``E_k - E_(k+1) >= c |g_k|^2``. Telescoping from any window start j::

    G_j = sum_{k=j}^{K-1} |g_k|^2 <= (E_j - E_K) / c
    min_{k<K} |g_k| <= sqrt(E_0 / (c K))            (E >= 0 for mse and cross-entropy)

so the gradient's squared norms have a finite sum and the smallest gradient of K steps falls as
``1/sqrt(K)``: what "the gradient goes to zero" can mean for a run of K steps. ``|g_k|`` is the
norm the trajectory records (``grad_norms``), so a trainer that records a gradient other than the
one it stepped with, or steps shorter than its ``lr`` says, breaks the bound (a step half as long
falls by about ``lr/2 |g|^2``, under ``c |g|^2`` wherever ``lr L < 4/3``; ``tests/
test_properties_weak_convergence.py`` plants both). It cannot show that the gradient keeps
falling after step K, nor a rate better than the bound's. The bound is approached, not only met:
for gradient descent on a quadratic of curvature kappa <= L a step falls by exactly
``lr (1 - lr kappa / 2) |g|^2`` and ``c = lr (1 - lr L / 2)`` (lr <= 1/L), so every window's
ratio is ``(1 - lr L / 2) / (1 - lr kappa / 2)``, which tends to 1 as lr L -> 0; so each run is
decided in Arb balls (:func:`certify_gradient_sum`), not by a float comparison with slack.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from flint import arb

from ..certify import Enclosures
from ..claim import Claim, Context, Verdict
from ..steps import resolution
from .convergence import (
    CONDITIONS,
    RUN_COUNTS,
    SOURCE,
    _run,
    _strategy,
    _tails,
    decide_windows,
    decided_verdict,
    untested,
)


def _window_check(run: dict[str, Any], terms: np.ndarray) -> tuple[bool, float, int]:
    """Check ``sum_{k>=j} terms[k] <= (E_j - E_K) / c`` for every window start j in floats, up
    to the float64 resolution of E_j - E_K (two loss evaluations) and 1e-12 of the sum; return
    (ok, the largest lhs/rhs over windows the resolution resolves, the worst j)."""
    E = run["traj"].losses
    K, c = run["K"], run["c"]
    lhs = _tails(terms)
    worst, worst_j = 0.0, 0
    for j in range(K):
        tol = resolution(float(E[j]), float(E[K])) / c + 1e-12 * lhs[j]
        rhs = float(E[j] - E[K]) / c
        if rhs > tol and lhs[j] / rhs > worst:
            worst, worst_j = lhs[j] / rhs, j
        if not lhs[j] <= rhs + tol:  # a NaN term or loss is a miss
            return False, max(worst, lhs[j] / max(rhs, tol)), j
    return True, worst, worst_j


def certify_gradient_sum(run: dict[str, Any]) -> tuple[str, int, str]:
    """:func:`.convergence.decide_windows` for ``c G_j <= E_j - E_K``, the recorded float64
    ``|g_k|`` exact."""
    g, K = run["traj"].grad_norms, run["K"]

    def sides(balls: Enclosures, c: arb) -> Iterator[tuple[int, arb, arb]]:
        G = arb(0)
        for j in range(K - 1, -1, -1):
            G += arb(float(g[j])) ** 2
            yield j, c * G, balls[j] - balls[K]

    return decide_windows(run, sides)


def _gradient_check(drawn: dict[str, Any], ctx: Context) -> Verdict:
    run = _run(drawn, ctx)
    if run["c"] is None:
        return untested("outside")
    traj, K, c = run["traj"], run["K"], run["c"]
    g = np.asarray(traj.grad_norms[:K], dtype=np.float64)
    if not float(g @ g) > 0:  # a stationary start: nothing to bound
        return untested("vacuous")
    ok_float, worst, worst_j = _window_check(run, g * g)
    E0 = float(traj.losses[0])
    rate = math.sqrt(E0 / (c * K)) if E0 > 0 else 0.0
    measured = {
        "gradient_sum_over_bound": worst,
        "smallest_gradient_over_rate_bound": float(g.min()) / rate if rate > 0 else 0.0,
        "last_gradient_over_first": float(g[-1] / g[0]) if g[0] > 0 else 0.0,
    }
    theory = {"gradient_sum_over_bound": 1.0, "smallest_gradient_over_rate_bound": 1.0}
    decision = certify_gradient_sum(run)
    what = "sum of squared gradients"
    return decided_verdict(run, decision, ok_float, (worst, worst_j), measured, theory, what)


GRADIENT_SUM = Claim(
    id="gradient-sum-bounded",
    statement=(
        "Under the descent conditions, the gradient's squared norms from every step j on sum to "
        "at most the loss still to be lost: sum_{k>=j} |g_k|^2 <= (E_j - E_K) / c, c the exact "
        "guaranteed decrease per |g|^2, L = max_k L_k; so min_{k<K} |g_k| <= sqrt(E_0 / (c K)) "
        "(a finite-horizon reading of weak convergence: the gradient goes to zero)"
    ),
    source=SOURCE.replace("weights converge", "the gradient goes to zero").replace(
        "path bound", "gradient-sum bound"
    ),
    conditions=(
        *CONDITIONS,
        "a finite run cannot show that the gradient goes to zero: the bound covers steps 0..K "
        "only (module docstring says what it can and cannot show)",
        "each tested run's verdict is decided on the real numbers: c G_j <= E_j - E_K for every "
        "j, E_j in 128-bit Arb balls at the float64 iterates, the recorded |g_k| exact, c from "
        "the float64 lr, tau, L, proved or proved false (a run Arb cannot decide is counted "
        "uncertified and judged in floats with the loss resolution plus 1e-12 of the sum "
        "G_j); a run with zero gradient throughout is vacuous, not tested",
    ),
    expect="holds",
    strategy=_strategy,
    check=_gradient_check,
    summary={
        **RUN_COUNTS,
        "gradient_sum_over_bound": "max",
        "smallest_gradient_over_rate_bound": "max",
        "last_gradient_over_first": "mean",
    },
    cost=5.0,  # the same runs as weight-path-bounded's, without its step lengths in Arb
)

CLAIMS = (GRADIENT_SUM,)
