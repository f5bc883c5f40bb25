"""Every registered optimizer's exact one-step region, read from the registry, gives descent.

A region of ``theory.descent`` is a theorem: with E L-smooth along the step and the
hyperparameters inside the region for L, the step lowers E. The built-ins' regions are proved
there (and refereed by z3 and PEPit); a plugin's own region (a callable returning a
``theory.descent.Region``) is the plugin's claim, of which theory checks only the form
(``theory.named_regions``). This claim tests every region the registry holds on runs, built-ins
and installed plugins alike, the way the theorem reads: for step k of a full-batch run,
``L_k`` is the curvature met on that very step (``curvature.segment_L``, 1.5 times an estimate of
``sup_t u^T H(w_k + t d_k) u``: the theorem's premise, so measured on the step it judges, as in
``descent``; not an a-priori claim), and the region's float test is called as a sweep calls it
(``sweep.checks.inside_region``: ``L = L_k``, each hyperparameter by name). A step inside the
region must lower the loss: tested when its change exceeds the float64 resolution, a tested
decrease certified in ball arithmetic, an increase beyond the resolution the counterexample,
certified as an increase (``steps.judge_decreases``).

Judged: every registered optimizer whose region gives an a-priori verdict and takes no per-step
``ratio`` (at the ratio's worst case, inf, a momentum step is never inside; heavy ball and
Nesterov are judged with their true per-step ratio by ``trainer-obeys-descent-lemma-*``), and
that theory does not refuse. With no plugin installed that is gd and adaptive momentum. Step
sizes (``lr``, ``tau``) are drawn as fractions in [0.05, 5] of 1/L_0 (log-uniform: past the
true edge, 2 for gradient descent, so that a region drawn too wide is tested beyond it), other
floats from their declared ``draw`` range. A draw outside the region for ``1.5 L_0`` (the
curvature at w_0, as the steps' L_k take it) is rejected, since none of its steps would be
judged: the cases that remain lie inside, up to the region's edge, where a region drawn too
wide lets steps rise.

What it catches: a region wider than the truth by more than the 1.5 safety factor of ``L_k``
(a plugin declaring ``lr < 6/L`` for gradient descent is falsified; ``tests/test_registered_
regions.py`` keeps that case); a narrower excess hides behind the factor.
"""

from __future__ import annotations

import inspect
import math
from functools import cache
from typing import Any

from hypothesis import reject
from hypothesis import strategies as st

from descentcheck.impl.trainer import train

from ..claim import Claim, Context, Verdict
from ..counterexample import make_counterexample, train_kwargs
from ..curvature import SAFETY
from ..profiles import Profile
from ..registered_updates import hyperparameter_draws
from ..steps import judge_decreases, local_Ls
from ..strategies import Case, cases
from ..sweep.checks import inside_region
from .apriori import CERTIFIED, SETTING
from .descent import LOCAL_L, initial_L

FRACTIONS = (0.05, 5.0)
SUMMARY: dict[str, Any] = {
    "steps": "sum",
    "steps_in_region": "sum",
    "steps_tested": "sum",
    "steps_unresolved": "sum",
    "steps_certified": "sum",
    "steps_uncertified": "sum",
    "cases_of_plugins": "sum",
    "L0": "max",
}


def _probe(entry: Any) -> dict[str, float]:
    """Every float hyperparameter at a value, to ask a region whether it gives a verdict."""
    return {h.name: 1e-3 for h in entry.hyperparameters if h.kind == "float"}


def judged_optimizers() -> tuple[str, ...]:
    """The registered optimizers this claim judges (module docstring), in registry order."""
    from descentcheck.registry.optimizers import region_of, registry

    out = []
    for name, entry in registry().items():
        region = region_of(entry)
        if region is None or "ratio" in inspect.signature(region.guaranteed).parameters:
            continue
        if inside_region(name, _probe(entry), 1.0)["inside"] is not None:
            out.append(name)
    return tuple(out)


@cache
def _is_plugin(name: str) -> bool:
    from descentcheck.registry.optimizers import get

    return get(name).origin != "builtin"


def _strategy(profile: Profile) -> st.SearchStrategy[dict[str, Any]]:
    names = judged_optimizers()
    return st.fixed_dictionaries(
        {
            "case": cases(profile.limits),
            "hp": st.sampled_from(names).flatmap(
                lambda n: hyperparameter_draws(n, step_sizes=FRACTIONS)
            ),
        }
    )


def _hyperparameters(hp: dict[str, Any], L0: float) -> dict[str, Any]:
    """The drawn fractions of the step sizes, made step sizes by 1/L_0."""
    from descentcheck.registry.optimizers import get

    scaled = {h.name for h in get(hp["optimizer"]).hyperparameters if h.step_size}
    return {k: v / L0 if k in scaled else v for k, v in hp.items()}


def _check(drawn: dict[str, Any], ctx: Context) -> Verdict:
    case: Case = drawn["case"]
    L0 = initial_L(case)
    hp = _hyperparameters(drawn["hp"], L0)
    name = hp["optimizer"]
    values = {k: v for k, v in hp.items() if k != "optimizer"}
    if not inside_region(name, values, SAFETY * L0)["inside"]:
        reject()  # outside the region already at w_0's curvature: no step would be judged
    kw = train_kwargs({**hp, "steps": ctx.profile.steps})
    traj = train(case.net, case.params, case.x, case.yt, keep_params=True, **kw)
    Ls = local_Ls(case, traj.params_history)
    inside = [math.isfinite(L) and inside_region(name, values, L)["inside"] is True for L in Ls]
    tally = judge_decreases(case, traj.losses, traj.params_history, ctx.searching, judged=inside)
    measured = {
        **tally.measured(),
        "steps_in_region": tally.in_region,
        "cases_of_plugins": float(_is_plugin(name)),
        "L0": L0,
    }
    if tally.violation is None:
        return Verdict(True, measured)
    k = tally.violation
    region = inside_region(name, values, Ls[k])["region"]
    extra = {**tally.details, "L0": L0, "L_k": Ls[k], "region": region}
    ce = make_counterexample(
        case.spec, case.x, case.y, case.params, {**hp, "steps": k + 1}, k, traj.losses, **extra
    )
    msg = (
        f"{name}, step {k}: inside its region {region!r} for the curvature met on the step, "
        f"L_k = {Ls[k]:.4g}, the loss rose {ce['loss_before']!r} -> {ce['loss_after']!r}"
    )
    return Verdict(False, measured, counterexample=ce, message=msg)


REGISTERED_REGIONS = Claim(
    id="registered-regions-give-descent",
    statement=(
        "For every registered optimizer with an exact one-step region (built-ins and installed "
        "plugins), a full-batch step whose hyperparameters lie inside the region for the "
        "curvature L_k met on that step lowers the loss"
    ),
    source=(
        "the descent lemma (Nesterov 2004, Lemma 1.2.3) read through each registry entry's "
        "region: the built-ins' from descentcheck.theory.descent, a plugin's from the plugin "
        "(theory checks only its form); added so that a plugin's own region is tested by the "
        "ledger, not only by sweeps"
    ),
    conditions=(
        SETTING,
        "optimizers: every registered one whose region gives an a-priori verdict without a "
        "per-step ratio and is not refused by theory (built-ins: gd, adaptive_momentum); each "
        "case one of them",
        "step sizes (lr, tau) = a / L_0, a log-uniform in [0.05, 5], L_0 the largest |Hessian "
        "eigenvalue| at w_0 (Lanczos); other floats from their declared draw range; choices "
        "sampled; a draw outside the region for 1.5 L_0 is rejected (no step of it would be "
        "judged)",
        LOCAL_L,
        "a step is judged when its hyperparameters are inside the region for L_k (the region's "
        "float test, as a sweep's inside_region check calls it); L_k is measured on the step it "
        "judges: the theorem's premise, not an a-priori condition",
        CERTIFIED,
    ),
    expect="holds",
    strategy=_strategy,
    check=_check,
    summary=SUMMARY,
    cost=1.5,
    examples_scale=0.25,
)

CLAIMS = (REGISTERED_REGIONS,)
