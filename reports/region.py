"""The descent region against generated cases: is theory's bound tight or loose?

Theory (``descentcheck.theory.descent``) derives from L-smoothness exactly when one step must
decrease E: adaptive momentum ``alpha_k = tau |g_k| / |dw_{k-1}|`` decreases every L-smooth E,
whatever the direction of dw_{k-1}, iff ``tau < min(lr, 2/L - lr)`` (a triangle in the plane
(lr·L, tau·L), three times the area of the first round's Cauchy-Schwarz region); constant
momentum beta has no region beyond beta = 0 (gradient descent, lr·L < 2), since
|dw_{k-1}| / |g_k| is unbounded.

Here random small DAGs with skip connections (:mod:`.cases`) are trained full batch: each case
estimates L = L_0 at its w_0 (largest |Hessian eigenvalue|), draws a point of the plane, sets
lr and tau (or beta) from it, trains K steps and records whether E decreased at every step. A
rise smaller than float64 rounding, ``4 eps (|E_k| + |E_{k+1}|)``, is not counted. Some points
are drawn inside the region, the rest in a box around it, so both sides are populated.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from descentcheck.impl.trajectory import decreased_every_step

from .cases import CaseLimits, random_data, random_spec, skip_edges
from .profiles import ReportProfile
from .progress import Progress

ADAPTIVE_BOX = (3.0, 1.5)  # lr·L in (0, 3), tau·L in (0, 1.5)
CONSTANT_BOX = (3.0, 1.0)  # lr·L in (0, 3), beta in (0, 1)
INSIDE_SHARE = 0.4


def tau_bound(lr_L: float) -> float:
    """tau_max · L as a function of lr · L (0 outside lr·L < 2)."""
    from descentcheck.theory.descent import max_tau

    return max(0.0, max_tau(lr_L, 1.0))


def ray_factor(lr_L: float, tau_L: float) -> float:
    """How far outside the region a point lies along the ray from the origin: the point is on the
    boundary when this is 1, inside when < 1 (``(lr + tau) L / 2``: t (lr, tau) is inside iff
    t tau < min(t lr, 2/L - t lr)); inf when tau >= lr (no multiple of the point is inside)."""
    if tau_L >= lr_L:
        return math.inf
    return float(np.float64(lr_L) + np.float64(tau_L)) / 2.0


def _draw_point(rng: np.random.Generator, plane: str) -> tuple[float, float]:
    if plane == "adaptive":
        if rng.random() < INSIDE_SHARE:
            while True:  # uniform inside the region, by rejection from its bounding box
                a, b = rng.uniform(0.0, 2.0), rng.uniform(0.0, 1.0)
                if b < tau_bound(a):
                    return float(a), float(b)
        return float(rng.uniform(0.0, ADAPTIVE_BOX[0])), float(rng.uniform(0.0, ADAPTIVE_BOX[1]))
    return float(rng.uniform(0.0, CONSTANT_BOX[0])), float(rng.uniform(0.0, CONSTANT_BOX[1]))


def path_curvature(net: Any, history: list[dict[str, np.ndarray]], x: Any, y: Any) -> float:
    """The largest curvature |u^T H u| met along the steps taken, u each step's direction, at
    t = 0, 1/2, 1 of each segment (exact complex-step Hessian-vector products): the constant the
    descent lemma needs for these steps (nan when none is finite)."""
    from descentcheck.properties.curvature import segment_L

    worst = math.nan
    with np.errstate(all="ignore"):
        for w0, w1 in itertools.pairwise(history):
            k = segment_L(net, w0, w1, x, y, points=(0.0, 0.5, 1.0), safety=1.0)
            if not math.isfinite(k):
                break
            worst = k if math.isnan(worst) else max(worst, k)
    return worst


def run_case(rng: np.random.Generator, plane: str, steps: int) -> dict[str, Any] | None:
    """One generated case of ``plane`` (adaptive | constant), or None if its L is degenerate.

    The point is drawn in units of L_0 (the largest |Hessian eigenvalue| at w_0); it is then
    placed with ``L = max(L_0, the largest curvature along the steps taken)``, a constant for
    which the descent lemma holds on every step of this run, so that "inside the region" means
    what the theorem needs."""
    from descentcheck.impl.network import Network
    from descentcheck.impl.trainer import train
    from descentcheck.theory.descent import adaptive_guaranteed

    from .smoothness import estimate_L

    spec = random_spec(rng, CaseLimits())
    x, y = random_data(rng, spec)
    net = Network.from_spec(spec)
    x, yt = net.check_data(x, y)
    params = net.init(seed=int(rng.integers(2**31)), x=x)
    a, b = _draw_point(rng, plane)
    with np.errstate(all="ignore"):
        L0 = estimate_L(net, params, x, yt)
    if not (math.isfinite(L0) and L0 > 1e-8):
        return None
    lr = a / L0
    if plane == "adaptive":
        kw: dict[str, Any] = {"optimizer": "adaptive_momentum", "tau": b / L0}
    else:
        kw = {"optimizer": "momentum", "momentum": b}
    traj = train(net, params, x, yt, lr=lr, steps=steps, keep_params=True, **kw)
    ok, first, worst = decreased_every_step(traj.losses)
    kappa = path_curvature(net, traj.params_history or [], x, yt)
    L = max(L0, kappa) if math.isfinite(kappa) else L0
    lr_L = lr * L
    if plane == "adaptive":
        tau_L = kw["tau"] * L
        try:
            inside = adaptive_guaranteed(lr_L, tau_L, 1.0)
        except (OverflowError, ValueError):  # a run that blew up: far outside
            inside = False
        coords = {"lr_L": lr_L, "tau_L": tau_L, "ray_factor": ray_factor(lr_L, tau_L)}
    else:
        inside = b == 0.0 and lr_L < 2.0
        coords = {"lr_L": lr_L, "beta": b}
    return {
        **coords,
        "drawn": [a, b],
        "L0": L0,
        "L": L,
        "lr": lr,
        "decreased": ok,
        "first_increase": first,
        "max_relative_rise": worst if math.isfinite(worst) else "inf",
        "diverged": traj.diverged,
        "inside_region": inside,
        "skip_edges": skip_edges(spec),
        "params": net.n_params,
        "loss": spec["loss"],
        "distance_layers": sum(n["op"].startswith("gaussian") for n in spec["nodes"]),
    }


def _inside_at_L0(c: dict[str, Any]) -> bool:
    """The case's drawn point (lr L_0, tau L_0) inside the region for L_0: all one knows
    before training."""
    from descentcheck.theory.descent import adaptive_guaranteed

    a, b = c["drawn"]
    return adaptive_guaranteed(float(a), float(b), 1.0)


def _summary_adaptive(cases: list[dict[str, Any]]) -> dict[str, Any]:
    inside = [c for c in cases if c["inside_region"]]
    at_L0 = [c for c in cases if _inside_at_L0(c)]
    outside = [c for c in cases if not c["inside_region"]]
    failed = [c for c in outside if not c["decreased"]]
    fail_lr = [c["lr_L"] for c in failed]
    beyond_tau = [c["tau_L"] / tau_bound(c["lr_L"]) for c in failed if tau_bound(c["lr_L"]) > 0]
    return {
        "cases": len(cases),
        "inside": len(inside),
        "inside_failed": sum(not c["decreased"] for c in inside),
        # the same cases by L_0 alone, before training (the README and the apriori-* claims:
        # curvature grows along a run, so no region fixed at w_0 keeps every run decreasing)
        "inside_at_L0": len(at_L0),
        "inside_at_L0_failed": sum(not c["decreased"] for c in at_L0),
        "L_over_L0_median": float(np.median([c["L"] / c["L0"] for c in cases])) if cases else 1,
        "outside": len(outside),
        "outside_decreased": sum(c["decreased"] for c in outside),
        "outside_failed": len(failed),
        "min_failing_ray_factor": min((c["ray_factor"] for c in failed), default=None),
        "min_failing_lr_L": min(fail_lr, default=None),
        "min_failing_lr_L_past_2": (edge := min((a for a in fail_lr if a >= 2.0), default=None)),
        # the evidence for that edge: cases past 2 that decreased below it
        "decreased_past_2_below_it": sum(
            c["decreased"] and 2.0 <= c["lr_L"] < (math.inf if edge is None else edge)
            for c in outside
        ),
        "min_failing_tau_over_bound": min(beyond_tau, default=None),
        "share_with_skips": float(np.mean([c["skip_edges"] > 0 for c in cases])) if cases else 0,
        "share_with_distance": float(np.mean([c["distance_layers"] > 0 for c in cases]))
        if cases
        else 0,
    }


def _summary_constant(cases: list[dict[str, Any]]) -> dict[str, Any]:
    pos = [c for c in cases if c["beta"] > 0]
    stable = [c for c in pos if c["lr_L"] < 2]
    failed = [c for c in stable if not c["decreased"]]
    small = [c for c in stable if c["beta"] < 0.1]
    return {
        "cases": len(cases),
        "decreased": sum(c["decreased"] for c in cases),
        "beta_positive_lr_below_2": len(stable),
        "failed_beta_positive_lr_below_2": len(failed),
        "min_failing_beta": min((c["beta"] for c in failed), default=None),
        "small_beta_cases": len(small),
        "small_beta_failed": sum(not c["decreased"] for c in small),
        "lr_above_2_failed": sum(not c["decreased"] for c in cases if c["lr_L"] >= 2),
        "lr_above_2": sum(c["lr_L"] >= 2 for c in cases),
    }


def run(profile: ReportProfile, seed: int, progress: Progress) -> dict[str, Any]:
    """Generate and train the cases of both planes; the numbers of the section."""
    from .smoothness import estimator_name

    rng = np.random.default_rng([seed, 101])
    out: dict[str, Any] = {"steps": profile.region_steps, "L_estimator": estimator_name()}
    for plane in ("adaptive", "constant"):
        progress.stage(f"descent region: {plane}")
        cases: list[dict[str, Any]] = []
        skipped = 0
        while len(cases) < profile.region_cases:
            case = run_case(rng, plane, profile.region_steps)
            if case is None:
                skipped += 1
                continue
            cases.append(case)
            progress.tick()
        out[plane] = {
            "cases": cases,
            "skipped_degenerate_L": skipped,
            "summary": (_summary_adaptive if plane == "adaptive" else _summary_constant)(cases),
        }
    return out


def units(profile: ReportProfile) -> int:
    return 2 * profile.region_cases
