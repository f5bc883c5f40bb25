"""A trajectory records the observables of the run it describes (holds).

The other claims read a trajectory's records (the descent claims its losses and gradient
norms, the update claim its iterates), so a record that drifts from what it names would pass
them: the held-out mutation run found a trainer that recorded the norm of its gradient scratch
buffer as the step norm, and adaptive momentum that recorded its first group's coefficient
instead of the largest, alive; and one whose default (in-place, ``keep_params=False``) path
kept evaluating at ``w_0`` was caught only by luck.

Each setting (gd, heavy ball, Nesterov, adaptive momentum with each grouping, RMSProp with and
without momentum) trains K full-batch steps twice, keeping every iterate and not (the default,
in-place path); the two runs must give the same bits (final parameters, losses, norms and
coefficients). Then, from the recorded iterates ``w_0 .. w_K``, recomputed with the network's
own ``loss`` and ``loss_and_grad`` and with u = 2^-53, n the parameter count::

    losses[k]      = E(w_k)                   within 8u |E(w_k)| (the same forward pass: the
                                              bits are expected; the slack only allows a BLAS
                                              that blocks a product differently between calls)
    grad_norms[k]  = |grad E(w_k)|, k <= K    within 2 (n + 2) u |g| (a dot product's rounding,
                                              against a correctly rounded norm)
    step_norms[k]  = |w_(k+1) - w_k|          within 2 (|rho| + (n + 2) u |D|): the recorded
                                              norm is of the step the optimizer computed; the
                                              applied D differs from it by the rounding of
                                              w_k + dw, entrywise at most rho = half an ulp
                                              of w_(k+1) (and of D, which is computed here)
    momentum[k]    gd, RMSProp without momentum: None; heavy ball, Nesterov, RMSProp with
                   momentum: beta (README's trajectory format: "alpha_k, beta, or null");
                   adaptive momentum: max over groups G of alpha_G = tau |g_k|_G / |dw_(k-1)|_G,
                   0 after a zero step ("the largest over the groups": the comment in
                   impl/optim/adaptive_momentum.py; README names alpha_k only)

Installed plugin optimizers run too, under each of their option settings (hyperparameters drawn
from their declared ranges), for every record but the momentum coefficient, which a plugin
reports as it likes (no documented rule to hold it to). A plugin is given a copy of ``w_k``
(``impl.trainer``), so one whose state keeps it (an anchor) runs alike on both paths; the two
paths differing names the plugin.

Adaptive momentum's ``dw_(k-1)`` is the step the optimizer remembers, seen here only as the
applied ``D_(k-1)``; each group's coefficient is therefore an interval,
``tau |g|_G / (|D|_G +- |rho|_G)`` widened by 2 (n_G + 8) u for the rounding of the norms, and
unbounded above where ``|D|_G <= |rho|_G`` (a step lost in the rounding of ``w``). The groups
are built from the spec (:func:`~.updates.reference_groups`), not from the optimizer's code.
The recorded coefficient must lie between the largest lower and the largest upper end.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
from hypothesis import strategies as st

from descentcheck.impl.errors import one_line
from descentcheck.impl.network import Network
from descentcheck.impl.random_dag import HypothesisDraws
from descentcheck.impl.trainer import train
from descentcheck.registry.optimizers import get

from .. import registered_updates as registered
from ..claim import Claim, Context, Verdict
from ..profiles import Profile
from ..strategies import Case, cases, log_uniform, unit_interval, whatever_the_op
from .updates import SMALL, half_ulp, label, reference_groups

U = 2.0**-53
GROUPINGS = ("array", "unit", "node", "global")


@st.composite
def _draw(draw: st.DrawFn, profile: Profile) -> dict[str, Any]:
    # the case first, as the other claims draw it: drawn after the settings, 1 net in 50 of the
    # fixed-seed fast run had a skip
    case = draw(cases(SMALL, shape_options=whatever_the_op()), label="case")
    if HypothesisDraws(draw).booleans(1 / 4, label="one row"):
        # a distance layer's centroids then all start on that row (x - c = 0); drawn as the
        # least favoured choice, as min_rows = 1 made 87 of 200 ci cases one row
        x = case.x[:1]
        params = case.net.init(seed=case.param_seed, x=x)
        case = replace(case, x=x, y=case.y[:1], yt=case.yt[:1], params=params)
    eps = draw(log_uniform(1e-8, 1e-3), label="eps")
    hp = {
        "lr": draw(log_uniform(1e-3, 0.5), label="lr"),
        "beta": draw(unit_interval(0.05, 0.95), label="momentum"),
        "tau": draw(unit_interval(0.01, 0.5), label="tau"),
        "rho": draw(unit_interval(0.5, 0.999), label="rho"),
        # RMSProp's declared range starts at 0: 0/0 where a gradient entry is 0 (a dead relu
        # unit, a zero input column), a NaN update the run must stop on
        "eps": 0.0 if draw(st.integers(0, 3), label="eps 0") == 0 else eps,
    }
    if hp["eps"] == 0.0 and draw(st.integers(0, 1), label="a zero input column") == 0:
        x = case.x.copy()
        x[:, 0] = 0.0  # a layer on the input gets a gradient entry of exactly 0: 0/0 there
        case = replace(case, x=x)
    return {
        "case": case,
        "hp": hp,
        "steps": draw(st.integers(3, 4), label="steps"),
        "plugins": registered.plugin_draws(draw),
    }


def settings(lr: float, beta: float, tau: float, rho: float, eps: float) -> list[dict[str, Any]]:
    """Every optimizer and option checked for one draw (RMSProp at a tenth of the rate)."""
    rms = {"optimizer": "rmsprop", "lr": lr / 10, "rho": rho, "eps": eps}
    return [
        {"optimizer": "gd", "lr": lr},
        {"optimizer": "momentum", "lr": lr, "momentum": beta},
        {"optimizer": "nesterov", "lr": lr, "momentum": beta},
        *({"optimizer": "adaptive_momentum", "lr": lr, "tau": tau, "group": g} for g in GROUPINGS),
        rms,
        {**rms, "momentum": beta},
    ]


def ratio(err: float, tol: float) -> float:
    """err / tol, with 0 / 0 = 0 (an exact record where nothing may differ); a NaN is inf."""
    if math.isnan(err) or math.isnan(tol):
        return math.inf
    return err / tol if tol else (math.inf if err else 0.0)


def scaled_norm(v: np.ndarray) -> tuple[float, int]:
    """``(s, e)`` with the 2-norm of finite ``v`` = ``s 2^e`` to within about an ulp of s: scaled
    by the power of two nearest above ``max |v_i|`` (exactly), each square rounded once, the
    squares summed exactly; ``(0.0, 0)`` for a zero vector."""
    a = [abs(float(t)) for t in v]
    top = max(a, default=0.0)
    if top == 0.0:
        return 0.0, 0
    e = math.frexp(top)[1]
    return math.sqrt(math.fsum(math.ldexp(t, -e) ** 2 for t in a)), e


def norm(v: np.ndarray) -> float:
    """The 2-norm to within about one rounding (:func:`scaled_norm`), so entries whose squares
    would underflow (1e-230) or overflow (1e200) are measured, not taken for 0 or inf; inf where
    the norm itself lies past the largest float (``math.ldexp`` raises there)."""
    a = [abs(float(t)) for t in v]
    if not all(map(math.isfinite, a)):
        return math.nan if any(map(math.isnan, a)) else math.inf
    s, e = scaled_norm(v)
    try:
        return math.ldexp(s, e)
    except OverflowError:
        return math.inf


def norm_tolerance(v: np.ndarray) -> float:
    """How far a float64 dot-product norm of ``v`` may lie from :func:`norm` (twice the bound)."""
    return 2 * (len(v) + 2) * U * norm(v)


def step_misses(
    net: Network, traj: Any, W: list[np.ndarray], name: str, worst: dict[str, float]
) -> list[str]:
    """Each recorded step norm against the applied step |w_(k+1) - w_k| (module docstring)."""
    out = []
    for k, rec in enumerate(traj.step_norms):
        D = W[k + 1] - W[k]
        rho = half_ulp(W[k + 1]) + half_ulp(D)
        tol = 2 * (norm(rho) + (len(D) + 2) * U * norm(D))
        err = abs(float(rec) - norm(D))
        worst["step_norm"] = max(worst["step_norm"], ratio(err, tol))
        if not err <= tol:  # a NaN record is a miss
            out.append(f"{name} step {k}: step_norm {rec!r}, |w_(k+1) - w_k| = {norm(D)!r}")
    return out


def observed_misses(case: Case, traj: Any, name: str, worst: dict[str, float]) -> list[str]:
    """Each recorded full-batch loss and gradient norm against E(w_k) and |grad E(w_k)|."""
    net, out = case.net, []
    for k, p in enumerate(traj.params_history):
        E = float(net.loss(p, case.x, case.yt))
        err = abs(float(traj.losses[k]) - E)
        tol = 8 * U * abs(E)
        worst["loss"] = max(worst["loss"], ratio(err, tol))
        if not err <= tol:  # a NaN record is a miss
            out.append(f"{name} step {k}: loss {traj.losses[k]!r}, E(w_k) = {E!r}")
        g = net.flatten(net.loss_and_grad(p, case.x, case.yt)[1])
        err, tol = abs(float(traj.grad_norms[k]) - norm(g)), norm_tolerance(g)
        worst["grad_norm"] = max(worst["grad_norm"], ratio(err, tol))
        if not err <= tol:  # a NaN record is a miss
            out.append(f"{name} step {k}: grad_norm {traj.grad_norms[k]!r}, |g_k| = {norm(g)!r}")
    return out


def alpha_bounds(
    tau: float, g: np.ndarray, W: list[np.ndarray], k: int, groups: list[np.ndarray]
) -> tuple[float, float]:
    """The largest lower and the largest upper end of the groups' alpha_G at step k."""
    if k == 0 or not groups:
        return 0.0, 0.0  # dw_(-1) = 0: every coefficient is 0
    D = W[k] - W[k - 1]
    rho = half_ulp(W[k]) + half_ulp(D)
    lo, hi = 0.0, 0.0
    for idx in groups:
        gn, dn, rn = norm(g[idx]), norm(D[idx]), norm(rho[idx])
        c = 2 * (len(idx) + 8) * U
        if dn > 0:  # D_G != 0 means dw_G != 0 (w + 0 is w)
            lo = max(lo, tau * gn / (dn + rn) * (1 - c))
        hi = max(hi, tau * gn / (dn - rn) * (1 + c) if dn > rn else (math.inf if gn else 0.0))
    return lo, hi


def coefficient_misses(case: Case, traj: Any, hp: dict[str, Any], W: list[np.ndarray]) -> list[str]:
    """Each recorded momentum coefficient against the documented one (module docstring)."""
    name, beta = hp["optimizer"], hp.get("momentum")
    if name != "adaptive_momentum":
        want = None if name == "gd" or not beta else beta
        bad = [k for k, c in enumerate(traj.momentum) if c != want]
        return [f"{label(hp)} step {k}: momentum {traj.momentum[k]!r}, not {want!r}" for k in bad]
    net = case.net
    groups = reference_groups(net, hp["group"])
    out = []
    for k, rec in enumerate(traj.momentum):
        g = net.flatten(net.loss_and_grad(traj.params_history[k], case.x, case.yt)[1])
        lo, hi = alpha_bounds(hp["tau"], g, W, k, groups)
        if rec is None or not lo <= rec <= hi:
            out.append(f"{label(hp)} step {k}: momentum {rec!r}, max alpha_G in [{lo!r}, {hi!r}]")
    return out


def same_bits(a: Any, b: Any) -> bool:
    return (
        np.asarray(a).shape == np.asarray(b).shape
        and np.asarray(a).tobytes() == np.asarray(b).tobytes()
    )


def path_misses(kept: Any, inplace: Any, name: str) -> list[str]:
    """The in-place run (``keep_params=False``) against the run that keeps every iterate."""
    out = [
        f"{name}: {f} differ between keep_params=True and False"
        for f in ("losses", "grad_norms", "step_norms", "momentum", "status")
        if not (
            same_bits(getattr(kept, f), getattr(inplace, f))
            if f != "momentum"
            else kept.momentum == inplace.momentum
        )
    ]
    if kept.params.keys() != inplace.params.keys() or not all(
        same_bits(v, inplace.params[k]) for k, v in kept.params.items()
    ):
        out.append(f"{name}: final params differ between keep_params=True and False")
    return out


def divergence_misses(case: Case, traj: Any, name: str) -> list[str]:
    """A diverged run stops at its first non-finite record (README's trajectory format: a loss,
    gradient or update that turns inf/NaN): every record before it is finite, and recomputed
    from the iterates, that quantity is not. A record that went wrong stops a run that was fine
    (a NaN step norm planted in the trainer held while diverged runs were only compared between
    the two paths), and a trainer that went on past a NaN update reached a NaN loss later."""
    with np.errstate(all="ignore"):  # recomputed where the run itself overflowed
        return _divergence_misses(case, traj, name)


def _divergence_misses(case: Case, traj: Any, name: str) -> list[str]:
    net, W, k = case.net, traj.params_history, len(traj.losses) - 1
    earlier = (*traj.losses[:k], *traj.grad_norms[:k], *traj.step_norms[:k])
    if not all(math.isfinite(v) for v in earlier):  # a NaN update went on to a NaN loss
        return [f"{name}: diverged at step {k}, past an earlier non-finite record"]
    if not math.isfinite(traj.losses[-1]):
        what, recorded, value = "loss", traj.losses[-1], float(net.loss(W[k], case.x, case.yt))
    elif len(traj.grad_norms) > k and not math.isfinite(traj.grad_norms[k]):
        g = net.flatten(net.loss_and_grad(W[k], case.x, case.yt)[1])
        what, recorded, value = "grad_norm", traj.grad_norms[k], norm(g)
    elif len(traj.step_norms) > k and len(W) > k + 1 and not math.isfinite(traj.step_norms[k]):
        what, recorded = "step_norm", traj.step_norms[k]
        value = norm(net.flatten(W[k + 1]) - net.flatten(W[k]))
    else:
        return [f"{name}: diverged at step {k} with its records finite ({traj.message})"]
    if math.isfinite(value):
        return [f"{name} step {k}: diverged on {what} {float(recorded)!r}; recomputed: {value!r}"]
    return []


def _check_one(
    case: Case, hp: dict[str, Any], K: int, worst: dict[str, float], tally: dict[str, float]
) -> list[str]:
    net, name = case.net, label(hp)
    plugin = get(hp["optimizer"]).origin != "builtin"
    try:
        with np.errstate(all="ignore"):  # a diverging run is compared as it is
            kept = train(net, case.params, case.x, case.yt, steps=K, keep_params=True, **hp)
            inplace = train(net, case.params, case.x, case.yt, steps=K, **hp)
    except Exception as e:  # a plugin's own failure, named (ours raise: built-ins never fail)
        if not plugin:
            raise
        return [f"{name}: training failed: {one_line(e)}"]
    out = path_misses(kept, inplace, name)
    if kept.status != "completed":
        tally["runs_diverged"] += 1.0
        return out + divergence_misses(case, kept, name)
    W = [net.flatten(p) for p in kept.params_history]
    out += observed_misses(case, kept, name, worst)
    out += step_misses(net, kept, W, name, worst)
    return out + ([] if plugin else coefficient_misses(case, kept, hp, W))


def _check(drawn: dict[str, Any], ctx: Context) -> Verdict:
    case, K = drawn["case"], drawn["steps"]
    worst = {"loss": 0.0, "grad_norm": 0.0, "step_norm": 0.0}
    misses: list[str] = []
    measured: dict[str, float] = {}
    plugins = registered.plugin_settings(drawn.get("plugins", []))
    tally = {
        "cases_with_relu": float(any(n["op"] == "relu" for n in case.spec["nodes"])),
        "cases_eps_0": float(drawn["hp"]["eps"] == 0.0),
        "runs_diverged": 0.0,
    }
    for hp in settings(**drawn["hp"]) + plugins:
        misses += _check_one(case, hp, K, worst, tally)
        measured[f"runs_{label(hp)}"] = 1.0
        if misses:  # one setting's misses make the case; shrinking then runs less
            break
    measured["runs_of_plugins"] = float(sum(f"runs_{label(hp)}" in measured for hp in plugins))
    measured.update({f"worst_{k}_error_over_tolerance": v for k, v in worst.items()})
    measured.update(tally)
    measured["misses"] = float(len(misses))
    theory = {f"worst_{k}_error_over_tolerance": 1.0 for k in worst}
    return Verdict(not misses, measured, theory, message="; ".join(misses)[:500])


TRAJECTORY_RECORDS_OBSERVABLES = Claim(
    id="trajectory-records-equal-the-observables",
    statement=(
        "A full-batch trajectory's losses, gradient norms, step norms and momentum coefficients "
        "equal E(w_k), |grad E(w_k)|, |w_(k+1) - w_k| and the documented coefficient (beta, "
        "None, or adaptive momentum's largest alpha_G) recomputed from its iterates, and the "
        "default in-place run gives the same bits as the run that keeps every iterate"
    ),
    source=(
        "the trajectory format (impl/trajectory.py's docstring, README's trajectory.json); "
        "added after held-out mutants (a step norm of the scratch buffer, adaptive momentum's "
        "first group's coefficient, a stale in-place iterate) passed the ledger"
    ),
    conditions=(
        "small random DAGs with skips, relu (and any installed activation or loss declared "
        "smooth=False) among their ops, on 2 to 4 rows or (3 of "
        "25 cases at fast, 28 of 200 at ci) one; 3 or 4 full-batch steps "
        "of gd, heavy ball, Nesterov, adaptive momentum with each grouping, RMSProp with and "
        "without momentum",
        "lr log-uniform in [1e-3, 0.5] (RMSProp: a tenth), beta in [0.05, 0.95], tau in "
        "[0.01, 0.5], rho in [0.5, 0.999], eps log-uniform in [1e-8, 1e-3] or (about half "
        "the cases: 14 of 25 at fast, 129 of 200 at ci) 0, its range's end, then mostly with "
        "the data's first column zeroed, where RMSProp divides 0 by 0 (counted in the ledger, "
        "with the runs that diverged)",
        "installed plugin optimizers: each option setting, hyperparameters drawn from their "
        "declared ranges; every record but the momentum coefficient (no documented rule)",
        "tolerances from float64 rounding (module docstring); a diverged run is compared "
        "between the two paths, and the record it stopped on must be non-finite when "
        "recomputed from its iterates",
    ),
    expect="holds",
    strategy=_draw,
    check=_check,
    summary={
        "misses": "sum",
        "runs_of_plugins": "sum",
        "cases_with_relu": "sum",
        "cases_eps_0": "sum",
        "runs_diverged": "sum",
        "worst_loss_error_over_tolerance": "max",
        "worst_grad_norm_error_over_tolerance": "max",
        "worst_step_norm_error_over_tolerance": "max",
    },
    cost=2.0,  # 17 s CPU of a ci run at the full count
    examples_scale=0.5,  # each case trains nine settings twice (in place and kept)
)

CLAIMS = (TRAJECTORY_RECORDS_OBSERVABLES,)
