"""The per-case checks, each a function of the training run (and L_0) returning plain JSON.

* ``decrease_every_step``: ``{"holds", "first_rise", "worst_relative_rise"}``: no step k with
  ``E(w_{k+1}) - E(w_k) > 4 eps (|E_k| + |E_{k+1}|)`` (a rise within float64 rounding of the two
  losses is not counted); a run that diverged does not hold.
* ``inside_region``: is (lr, tau or beta) inside theory's guaranteed-decrease region
  (``theory.descent``) for L = L_0, the largest |Hessian eigenvalue| at w_0
  (``theory.smoothness.estimate_L``)? ``{"inside": true | false | null, "region", "lr_L",
  "tau_L", "tau_max_L", "beta", "note"}``. gd: ``0 < lr L < 2``; adaptive_momentum: the exact
  region ``tau < min(lr, 2/L - lr)``; momentum and nesterov: only beta = 0 (then gd's region), since
  a constant beta > 0 has no region (|dw_{k-1}| / |g_k| is unbounded); rmsprop: ``null`` (no
  region). L_0 is a local estimate, so "inside" is theory's premise read with the curvature at the
  start, not a certificate for the whole run.
* ``final_loss``: ``{"initial", "final", "final_grad_norm"}`` (E(w_0), E(w_K), |grad E(w_K)|).
* ``diverged``: ``{"diverged", "message"}`` (a non-finite loss or gradient stopped the run).

Non-finite floats are written as the strings ``"nan"``, ``"inf"``, ``"-inf"``.
"""

from __future__ import annotations

import math
from typing import Any

from descentcheck.impl.trajectory import Trajectory, decreased_every_step, json_float


def decrease_every_step(traj: Trajectory) -> dict[str, Any]:
    """The run's per-step decrease (:func:`descentcheck.impl.trajectory.decreased_every_step`,
    the one the convergence report uses), as JSON; a rise below 0 reads as 0."""
    holds, first, worst = decreased_every_step(traj.losses)
    return {"holds": holds, "first_rise": first, "worst_relative_rise": json_float(max(worst, 0.0))}


def inside_region(optimizer: str, hp: dict[str, Any], L: float) -> dict[str, Any]:
    from descentcheck.theory.descent import adaptive_guaranteed, gd_guaranteed, max_tau

    lr = float(hp["lr"])
    out: dict[str, Any] = {
        "inside": None,
        "region": None,
        "lr_L": json_float(lr * L),
        "tau_L": None,
        "tau_max_L": None,
        "beta": None,
        "note": "",
    }
    if not math.isfinite(L):
        out["note"] = f"L_0 is {json_float(L)}: no region"
        return out
    if optimizer == "gd":
        out.update(region="gd", inside=gd_guaranteed(lr, L))
    elif optimizer == "adaptive_momentum":
        tau = float(hp["tau"])
        out.update(
            region="adaptive_momentum",
            inside=adaptive_guaranteed(lr, tau, L),
            tau_L=json_float(tau * L),
            tau_max_L=json_float(max_tau(lr, L) * L),
        )
    elif optimizer in ("momentum", "nesterov"):
        beta = float(hp["momentum"])
        out.update(region="constant_momentum", beta=beta)
        if beta == 0:
            out.update(inside=gd_guaranteed(lr, L), note="beta = 0 is gradient descent")
        else:
            out.update(
                inside=False,
                note="constant beta > 0: no guaranteed region (|dw_{k-1}|/|g_k| is unbounded)",
            )
    else:
        out["note"] = f"{optimizer}: no guaranteed-decrease region in theory.descent"
    return out


def final_loss(traj: Trajectory) -> dict[str, Any]:
    full = traj.batch_size is None and len(traj.grad_norms) == len(traj.losses)
    return {
        "initial": json_float(traj.losses[0]),
        "final": json_float(traj.final_loss),
        "final_grad_norm": json_float(traj.grad_norms[-1]) if full else None,
    }


def diverged(traj: Trajectory) -> dict[str, Any]:
    return {"diverged": traj.diverged, "message": traj.message if traj.diverged else ""}
