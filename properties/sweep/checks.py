"""The per-case checks, each a function of the training run (and L_0) returning plain JSON.

* ``decrease_every_step``: ``{"holds", "first_rise", "worst_relative_rise"}``: no step k with
  ``E(w_{k+1}) - E(w_k) > 4 eps (|E_k| + |E_{k+1}|)`` (a rise within float64 rounding of the two
  losses is not counted); a run that diverged does not hold.
* ``inside_region``: are the hyperparameters inside the optimizer's guaranteed-decrease region
  (its registry entry's ``region``, a ``theory.descent.Region``) for L = L_0, the largest
  |Hessian eigenvalue| at w_0 (``theory.smoothness.estimate_L``)? ``{"inside": true | false |
  null, "region", "lr_L", "tau_L", "tau_max_L", "beta", "note"}``. The verdict is the region's
  ``guaranteed`` called by keyword: ``L`` = L_0, each float hyperparameter under its name or its
  factory keyword (momentum's ``beta``), and ``ratio`` (theory's per-step rho_k: heavy ball's
  |dw_{k-1}| / |g_k|, Nesterov's lr |b_{k-1}| / |g_k|; unbounded) at its worst case, inf: so
  heavy ball and Nesterov are inside only with beta = 0 (then gd's region). A region that needs
  another per-step quantity (rmsprop's ``grad``, ``scale``), an optimizer with ``no_region``,
  or a non-finite L_0 gives ``null``. gd: ``0 < lr L < 2``; adaptive_momentum:
  ``tau < min(lr, 2/L - lr)``. L_0 is a local estimate, so "inside" is theory's premise read
  with the curvature at the start, not a certificate for the whole run. A net with a non-smooth
  op or loss (relu, a plugin's ``smooth=False``) gets ``null`` too: E is not L-smooth there.
* ``final_loss``: ``{"initial", "final", "final_grad_norm"}`` (E(w_0), E(w_K), |grad E(w_K)|).
* ``diverged``: ``{"diverged", "message"}`` (a non-finite loss or gradient stopped the run).

Non-finite floats are written as the strings ``"nan"``, ``"inf"``, ``"-inf"``.
"""

from __future__ import annotations

import functools
import inspect
import math
from typing import Any

from descentcheck.impl.trajectory import Trajectory, decreased_every_step, json_float


def decrease_every_step(traj: Trajectory) -> dict[str, Any]:
    """The run's per-step decrease (:func:`descentcheck.impl.trajectory.decreased_every_step`,
    the one the convergence report uses), as JSON; a rise below 0 reads as 0."""
    holds, first, worst = decreased_every_step(traj.losses)
    return {"holds": holds, "first_rise": first, "worst_relative_rise": json_float(max(worst, 0.0))}


#: the worst case of a region's per-step ratio rho_k (a previous step's length over |g_k|),
#: which nothing known at w_0 bounds (it is infinite when g_k = 0): an a-priori verdict must
#: hold for it
WORST_CASE = {"ratio": math.inf}


def rough_ops(spec: Any) -> list[str]:
    """The ops and loss of a validated spec that are not smooth (relu, a plugin declared
    ``smooth=False``), sorted: with any, E is not L-smooth and no region's premise holds."""
    from descentcheck.registry import ops as registry

    used = {node["op"] for node in spec.nodes.values()} | {spec.loss}
    return sorted(used - set(registry.smooth_names()))


def inside_region(
    optimizer: str, hp: dict[str, Any], L: float, rough: list[str] | None = None
) -> dict[str, Any]:
    """The ``inside_region`` check (module docstring) of the registered ``optimizer``; a net
    with ``rough`` (non-smooth) ops gets no verdict: the regions assume an L-smooth E (a
    held-out sweep called a region falsified on a leaky relu net)."""
    from descentcheck.registry.optimizers import get, region_of
    from descentcheck.theory.descent import max_tau

    entry = get(optimizer)
    given = dict(WORST_CASE, L=L)
    for h in entry.hyperparameters:
        if h.kind == "float" and (h.name in hp or not h.required):
            given[h.name] = given[h.keyword] = float(hp.get(h.name, h.default))
    given.update(_named_region_keywords(entry, given))
    lr, tau, beta = given["lr"], given.get("tau"), given.get("beta")
    out: dict[str, Any] = {
        "inside": None,
        "region": None,
        "lr_L": json_float(lr * L),
        "tau_L": None,
        "tau_max_L": None,
        "beta": None,
        "note": "",
    }
    refused = region_refusal(entry) if entry.origin != "builtin" else ""
    if refused:  # a plugin's region theory does not accept is not used to judge runs
        out["note"] = f"{optimizer}: theory refuses its region {_region_name(entry)} ({refused})"
        return out
    region = region_of(entry)
    if region is None:
        out["note"] = f"{optimizer}: no guaranteed-decrease region ({entry.no_region})"
        return out
    out["region"] = region.name
    if rough:
        out["note"] = f"outside the theorem: not smooth ({', '.join(rough)}), E is not L-smooth"
        return out
    if not math.isfinite(L):
        out["note"] = f"L_0 is {json_float(L)}: no region"
        return out
    params = inspect.signature(region.guaranteed).parameters
    missing = [p for p, a in params.items() if p not in given and a.default is a.empty]
    if missing:
        out["note"] = f"the {region.name} region needs per-step {', '.join(missing)}: no verdict"
        return out
    out["inside"] = _verdict(entry, region, {p: given[p] for p in params if p in given})
    if "tau" in params and tau is not None:
        out.update(tau_L=json_float(tau * L), tau_max_L=json_float(max_tau(lr, L) * L))
    if "beta" in params and beta is not None:
        out["beta"] = beta
    if "ratio" in params:
        out["note"] = "at the worst case of the unbounded per-step ratio rho_k"
        if beta == 0:
            out["note"] = "beta = 0 is gradient descent"
    return out


def _named_region_keywords(entry: Any, given: dict[str, float]) -> dict[str, float]:
    """A plugin naming a built-in's region carries that built-in's hyperparameter names
    (``momentum``), while the region's test takes the built-in's factory keywords (``beta``):
    the values under those keywords (a plugin's own keywords may differ)."""
    from descentcheck.registry.optimizers import get
    from descentcheck.theory.descent import PROVED_FOR

    if entry.origin == "builtin" or not isinstance(entry.region, str):
        return {}
    reference = get(PROVED_FOR[entry.region][0])
    return {h.keyword: given[h.name] for h in reference.hyperparameters if h.name in given}


def _verdict(entry: Any, region: Any, args: dict[str, float]) -> bool:
    """``region.guaranteed(**args)``; a plugin's failing test is its one-line error, naming it."""
    try:
        return bool(region.guaranteed(**args))
    except Exception as e:
        if entry.origin == "builtin":
            raise  # ours: a bug, with its traceback
        from descentcheck.impl.errors import one_line
        from descentcheck.registry.optimizers import OptimizerPluginError

        raise OptimizerPluginError(
            f"{entry.origin}: its region's guaranteed failed on {args}: {one_line(e)}"
        ) from None


@functools.cache
def region_refusal(entry: Any) -> str:
    """Why theory refuses a plugin optimizer's declared region (``theory.named_regions``: a
    named region proved for another update, a callable's malformed Region or its failure), or
    ""; once per entry in a worker (the comparison takes SymPy a fraction of a second)."""
    from descentcheck.impl.errors import one_line
    from descentcheck.registry.optimizers import region_of
    from descentcheck.theory.named_regions import region_problems

    try:
        region_of(entry)
        return "; ".join(region_problems(entry))
    except Exception as e:  # the plugin's region callable or derivation raising
        return f"its region cannot be built ({one_line(e)})"


def _region_name(entry: Any) -> str:
    """A plugin's region as a message names it: the name it gives, else what it declared."""
    if isinstance(entry.region, str):
        return repr(entry.region)
    try:
        return repr(entry.region().name)
    except Exception:
        return "(its callable)"


def final_loss(traj: Trajectory) -> dict[str, Any]:
    full = traj.batch_size is None and len(traj.grad_norms) == len(traj.losses)
    return {
        "initial": json_float(traj.losses[0]),
        "final": json_float(traj.final_loss),
        "final_grad_norm": json_float(traj.grad_norms[-1]) if full else None,
    }


def diverged(traj: Trajectory) -> dict[str, Any]:
    return {"diverged": traj.diverged, "message": traj.message if traj.diverged else ""}
