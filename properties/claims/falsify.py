"""Claims that are false, and must be shown false with a shrunk counterexample (expect fails).

Each states "the loss decreases at every step" for a setting outside the descent conditions. The
search steers toward large increases with ``hypothesis.target`` (the relative increase
``max_k (E_{k+1} - E_k) / |E_k|``), and Hypothesis shrinks what it finds toward the smallest DAG
(fewest blocks, no skips, narrowest layers, fewest rows). A counterexample is an increase larger
than the float64 resolution of the loss (see ``steps.resolution``) between two finite losses,
re-proved in 128-bit Arb ball arithmetic (``certified_increase``; ``verify`` reports the claim as
an error otherwise), and serialised for replay.
Where theory has a region, the ledger also records that the failing step lies outside it for the
step's local L (so the counterexample does not contradict the claims that hold).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from descentcheck.impl.trainer import train
from descentcheck.theory.descent import (
    constant_momentum_guaranteed,
    gd_guaranteed,
    heavy_ball_worst_case_rise,
    rmsprop_guaranteed,
)

from ..certify import certify_increase
from ..claim import Claim, Context, Verdict
from ..counterexample import make_counterexample, train_kwargs
from ..curvature import segment_L
from ..profiles import Profile, horizon
from ..steps import resolution
from ..strategies import Case, cases, fractions
from .descent import initial_L

Hyper = dict[str, Any]


def first_increase(losses: np.ndarray) -> int | None:
    """The first k with finite E_k < E_{k+1} beyond the float64 resolution, or None."""
    for k in range(len(losses) - 1):
        e0, e1 = float(losses[k]), float(losses[k + 1])
        if math.isfinite(e0) and math.isfinite(e1) and e1 - e0 > resolution(e0, e1):
            return k
    return None


def _relative_increase(losses: np.ndarray) -> float:
    """The largest ``(E_(k+1) - E_k) / |E_k|`` over the run's finite losses: the search's
    target (Hypothesis steers toward larger rises), not the rise a counterexample shows."""
    e = np.asarray(losses, dtype=float)
    e = e[: int(np.argmax(~np.isfinite(e)))] if not np.all(np.isfinite(e)) else e
    if len(e) < 2:
        return 0.0
    return float(np.max(np.diff(e) / np.maximum(np.abs(e[:-1]), 1e-300)))


def quadratic_minimum(case: Case) -> float | None:
    """min E when the network is one dense layer on the input with mse (least squares on
    [x, 1]: E is then a quadratic in the parameters), else None."""
    nodes = case.spec["nodes"]
    if case.spec["loss"] != "mse" or len(nodes) != 1 or nodes[0]["op"] != "dense":
        return None
    X1 = np.hstack([case.x, np.ones((len(case.x), 1))])
    theta = np.linalg.lstsq(X1, case.yt, rcond=None)[0]
    r = X1 @ theta - case.yt
    return float((r * r).sum() / (2 * len(case.x)))


def _pep_reference(case: Case, hp: Hyper, traj: Any) -> dict[str, float]:
    """For heavy ball on a quadratic: theory's worst-case rise beta^2 (E_0 - E*) beside the
    measured one (exact on f = L x^2 / 2 at lr = 1/L; a reference on other quadratics)."""
    fstar = quadratic_minimum(case)
    if fstar is None or hp.get("optimizer") != "momentum":
        return {}
    gap = max(float(traj.losses[0]) - fstar, 0.0)
    return {
        "E0_minus_Emin": gap,
        "pep_worst_case_rise": heavy_ball_worst_case_rise(hp["momentum"], gap),
    }


def falsify_check(
    drawn: dict[str, Any],
    ctx: Context,
    hyperparameters: Callable[[dict[str, Any], float, Case], Hyper],
    in_region: Callable[[Hyper, Any, int, float], bool] | None = None,
) -> Verdict:
    """Train with the drawn setting; a verdict that fails at the first loss increase."""
    case: Case = drawn["case"]
    L0 = initial_L(case)
    hp = hyperparameters(drawn, L0, case)
    K = ctx.profile.steps
    kw = train_kwargs({**hp, "steps": K})
    traj = train(case.net, case.params, case.x, case.yt, keep_params=True, **kw)
    rel = _relative_increase(traj.losses)
    measured = {"L0": L0, "lr_times_L0": hp["lr"] * L0}
    k = first_increase(traj.losses)
    if k is None:
        return Verdict(True, measured, target=rel)
    w = traj.params_history
    cert = certify_increase(case.net, w[k], w[k + 1], case.x, case.yt)
    extra: dict[str, Any] = {
        "certified_increase": cert.certified,
        "interval_before": list(cert.before),
        "interval_after": list(cert.after),
        "L0": L0,
        **_pep_reference(case, hp, traj),
    }
    if in_region is not None:
        Lk = segment_L(case.net, w[k], w[k + 1], case.x, case.yt)
        extra["L_k"] = Lk
        extra["theory_guarantees_this_step"] = bool(
            math.isfinite(Lk) and in_region(hp, traj, k, Lk)
        )
    replay_hp = {**hp, "steps": k + 1}
    ce = make_counterexample(
        case.spec, case.x, case.y, case.params, replay_hp, k, traj.losses, **extra
    )
    measured = {
        **measured,
        "increase": ce["increase"],
        # the rise the counterexample shows, at its step k (the search's target, the largest
        # over the run's K steps, was shown here: 8.19 beside a rise of 0.44 -> 1.57)
        "relative_increase": ce["increase"] / max(abs(ce["loss_before"]), 1e-300),
        "step": float(k),
        "certified_increase": float(cert.certified),
    }
    if extra.get("pep_worst_case_rise", 0.0) > 0:
        # the measured rise against theory's beta^2 (E_0 - E*): relative_increase is over E_k,
        # which reads beta^2 only where E_k happens to equal E_0 - E* (a held-out audit took it
        # for the beta^2 check)
        measured["increase_over_pep_worst_case"] = ce["increase"] / extra["pep_worst_case_rise"]
    return Verdict(
        False,
        measured,
        target=rel,
        counterexample=ce,
        message=f"the loss rose at step {k}: {ce['loss_before']!r} -> {ce['loss_after']!r}",
    )


def _strategy(**hyper: st.SearchStrategy[Any]) -> Callable[[Profile], st.SearchStrategy[Any]]:
    return lambda profile: st.fixed_dictionaries({"case": cases(profile.limits), **hyper})


_SUMMARY: dict[str, Any] = {"L0": "max", "lr_times_L0": "max"}
_COMMON = (
    "random DAGs with add/concat skips, dense and distance layers, smooth activations, both "
    "losses; L_0 = largest |Hessian eigenvalue| at w_0 (Lanczos)",
    "a counterexample: E(w_{k+1}) - E(w_k) above the float64 resolution "
    "2^-36 (|E_k| + |E_{k+1}|) + 1e-14, both finite; certified in Arb ball arithmetic",
    horizon(),
)


def _ratio(traj: Any, k: int) -> float:
    if k == 0:
        return 0.0
    g = float(traj.grad_norms[k])
    return float(traj.step_norms[k - 1]) / g if g > 0 else math.inf


MOMENTUM_AT_1_OVER_L = Claim(
    id="momentum-at-1-over-L-decreases",
    statement=(
        "Heavy ball with a constant momentum beta > 0 at lr = 1/L decreases the loss at every step"
    ),
    source=(
        "known counterexample (performance estimation: on f = L x^2/2, lr = 1/L, the second "
        "step raises f by beta^2 (f(x_0) - f*); descentcheck.theory.descent)"
    ),
    conditions=(*_COMMON, "lr = 1/L_0; beta in [0.05, 0.95]; full batch"),
    expect="fails",
    strategy=_strategy(beta=fractions(0.05, 0.95)),
    check=lambda drawn, ctx: falsify_check(
        drawn,
        ctx,
        lambda d, L0, case: {"optimizer": "momentum", "lr": 1.0 / L0, "momentum": d["beta"]},
        lambda hp, traj, k, L: constant_momentum_guaranteed(
            hp["lr"], hp["momentum"], L, _ratio(traj, k)
        ),
    ),
    summary=_SUMMARY,
    falsify_budget=True,
)


def _rmsprop_in_region(case: Case) -> Callable[[Hyper, Any, int, float], bool]:
    """Whether RMSProp's step k lies in its exact per-step region for L (``rmsprop_guaranteed``:
    ``lr < 2 g.Dg / (L |Dg|^2)``, D = diag(1/(sqrt(v_k) + eps)), v_k replayed as torch does
    from the gradients at the kept iterates)."""

    def inside(hp: Hyper, traj: Any, k: int, L: float) -> bool:
        v: Any = 0.0
        for w in traj.params_history[: k + 1]:
            _, grads = case.net.loss_and_grad(w, case.x, case.yt)
            g = np.concatenate([np.ravel(a) for a in grads.values()])
            v = hp["rho"] * v + (1.0 - hp["rho"]) * g * g
        return rmsprop_guaranteed(hp["lr"], L, g, 1.0 / (np.sqrt(v) + hp["eps"]))

    return inside


RMSPROP = Claim(
    id="rmsprop-decreases",
    statement=(
        "RMSProp with lr <= 1/L decreases the loss at every step (the counterexample's rising "
        "step is also judged by RMSProp's exact per-step region lr < 2 g.Dg / (L_k |Dg|^2))"
    ),
    source=(
        "a common belief, false: RMSProp divides by sqrt(v_k), so its step does not shrink "
        "with the gradient (Tieleman & Hinton 2012; torch.optim.RMSprop)"
    ),
    conditions=(
        *_COMMON,
        "lr = a / L_0, a in [0.01, 1]; rho in [0.5, 0.999]; eps in {1e-8, 1e-6}; full batch",
    ),
    expect="fails",
    strategy=_strategy(
        lr_frac=fractions(0.01, 1.0),
        rho=fractions(0.5, 0.999),
        eps=st.sampled_from((1e-8, 1e-6)),
    ),
    check=lambda drawn, ctx: falsify_check(
        drawn,
        ctx,
        lambda d, L0, case: {
            "optimizer": "rmsprop",
            "lr": d["lr_frac"] / L0,
            "rho": d["rho"],
            "eps": d["eps"],
        },
        _rmsprop_in_region(drawn["case"]),
    ),
    summary=_SUMMARY,
    falsify_budget=True,
)

MINIBATCH_SGD = Claim(
    id="minibatch-sgd-decreases-full-loss",
    statement=(
        "Minibatch SGD with lr <= 1/L (L of the full-batch loss) decreases the full-batch loss "
        "at every step"
    ),
    source=(
        "a common belief, false: a minibatch gradient need not be a descent direction of the "
        "full loss (the tutorial's SGD; Robbins & Monro 1951 only give decrease in expectation)"
    ),
    conditions=(
        *_COMMON,
        "lr = a / L_0, a in [0.01, 1]; batch size in [1, n-1]; minibatch order from "
        "descentcheck.impl.trainer.minibatches(n, batch_size, shuffle_seed), seed drawn",
    ),
    expect="fails",
    strategy=_strategy(
        lr_frac=fractions(0.01, 1.0),
        batch_frac=fractions(0.0, 1.0),
        shuffle_seed=st.integers(0, 2**16),
    ),
    check=lambda drawn, ctx: falsify_check(
        drawn,
        ctx,
        lambda d, L0, case: {
            "optimizer": "gd",
            "lr": d["lr_frac"] / L0,
            "batch_size": 1 + int(d["batch_frac"] * (len(case.x) - 2)),
            "shuffle_seed": d["shuffle_seed"],
        },
    ),
    summary=_SUMMARY,
    falsify_budget=True,
)

GD_ABOVE_2_OVER_L = Claim(
    id="gd-above-2-over-L-decreases",
    statement="Gradient descent with lr > 2/L decreases the loss at every step",
    source=(
        "false beyond the descent lemma's range (Nesterov 2004, eq. 1.2.13: lr < 2/L); on a "
        "quadratic the top eigen-component grows by |1 - lr L| > 1"
    ),
    conditions=(*_COMMON, "lr = a * 2 / L_0, a in (1, 3]; full batch"),
    expect="fails",
    strategy=_strategy(lr_frac=fractions(1.0, 3.0).filter(lambda a: a > 1.0)),
    check=lambda drawn, ctx: falsify_check(
        drawn,
        ctx,
        lambda d, L0, case: {"optimizer": "gd", "lr": d["lr_frac"] * 2.0 / L0},
        lambda hp, traj, k, L: gd_guaranteed(hp["lr"], L),
    ),
    summary=_SUMMARY,
    falsify_budget=True,
)

CLAIMS = (MOMENTUM_AT_1_OVER_L, RMSPROP, MINIBATCH_SGD, GD_ABOVE_2_OVER_L)
