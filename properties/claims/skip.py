"""Failures that need a DAG: a step that is safe on a sequential net, after a skip is added.

Metamorphic pairs (expected to fail). A case is a *sequential* net (``B >= 1`` blocks
``dense -> activation``, then a dense head) and the *same* net with one skip connection added:
the output of block ``j`` (``j = 0``: the input) merged, by ``add`` or ``concat``, into the output
of a later block ``t``, the merge feeding what block ``t`` fed. Every parameter keeps its value;
with ``concat`` the layer after the merge reads more features and its extra weight rows come from
the skip net's own initialisation (same drawn seed). The skip is part of the construction, not a
draw that can shrink to "absent", so every shrunk counterexample keeps it: the smallest is one
block with the input added to (or concatenated with) its output, a residual block.

The hyperparameters are fixed from the *sequential* net's L_0 (largest |Hessian eigenvalue| at
w_0) inside this suite's exact one-step region, and the premise is checked: the sequential run
must decrease the loss at every one of its K steps, each decrease above the float resolution and
certified (``steps.judge_decreases``; a case where it does not, or where a step's change is too
small to tell, is rejected: it does not meet the claim's premise). The claim is that the skip
net does too. It is false: a skip adds a path and changes the loss surface the run crosses, so a
learning rate fixed from the sequential net's L_0 need not be safe on the skip net. One way is
curvature at w_0 (``add`` of the input to a block's output roughly doubles the head's input, and
``L`` grows with its square); another, which the shrunk counterexamples often show, is curvature
met later along the skip net's run: the skip net's L_0 can be below the sequential net's (a
held-out audit's ci counterexample: 4.13 against 4.17, the rise at step 10 of 11) while its run
reaches a region the sequential run does not. The counterexample records both nets' L_0 and the
sequential run beside the rise, certified in ball arithmetic, so a reader can tell which it was.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from hypothesis import reject
from hypothesis import strategies as st

from descentcheck.impl.network import Network
from descentcheck.impl.trainer import train
from descentcheck.theory.descent import max_tau

from ..claim import Claim, Context, Verdict
from ..counterexample import make_counterexample, train_kwargs
from ..curvature import estimate_L
from ..profiles import horizon
from ..steps import judge_decreases, rose_words
from ..strategies import Case, datasets, fractions
from .apriori import CERTIFIED, _relative_rise
from .descent import initial_L

ACTS = ("tanh", "sigmoid", "softplus", "identity")
Hyper = dict[str, Any]


@st.composite
def skip_pairs(draw: st.DrawFn, merge: str, max_blocks: int = 3) -> dict[str, Any]:
    """``{"seq": Case, "skip": Case, "source": j, "target": t}`` (see the module docstring)."""
    n_in = draw(st.integers(1, 3), label="inputs")
    width = n_in if merge == "add" else draw(st.integers(1, 4), label="width")
    blocks = draw(st.integers(1, max_blocks), label="blocks")
    acts = [draw(st.sampled_from(ACTS), label=f"activation {i}") for i in range(blocks)]
    loss = draw(st.sampled_from(("mse", "softmax_cross_entropy")), label="loss")
    m = draw(st.integers(1, 2) if loss == "mse" else st.integers(2, 3), label="outputs")
    target = draw(st.integers(1, blocks), label="skip target")
    source = draw(st.integers(0, target - 1), label="skip source")
    seq = _spec(n_in, width, acts, loss, m, None)
    skip = _spec(n_in, width, acts, loss, m, (source, target, merge))
    seq_net, skip_net = Network.from_spec(seq), Network.from_spec(skip)
    x, y = draw(datasets(seq_net), label="data")
    x, yt = seq_net.check_data(x, y)
    param_seed = draw(st.integers(0, 2**32 - 1), label="param seed")
    p_seq = seq_net.init(seed=param_seed, x=x)
    p_skip = skip_net.init(seed=param_seed, x=x)
    for k, v in p_seq.items():  # the same values; concat's extra rows stay the skip net's own
        p_skip[k] = np.array(p_skip[k], copy=True)
        p_skip[k][tuple(slice(0, n) for n in v.shape)] = v
    return {
        "seq": Case(seq, seq_net, x, np.asarray(y), yt, p_seq, param_seed),
        "skip": Case(skip, skip_net, x, np.asarray(y), yt, p_skip, param_seed),
        "source": source,
        "target": target,
    }


def _spec(
    n_in: int,
    width: int,
    acts: list[str],
    loss: str,
    m: int,
    skip: tuple[int, int, str] | None,
) -> dict[str, Any]:
    """Blocks ``h_i`` (dense, ``width`` units) -> ``a_i``; with ``skip = (j, t, merge)`` the
    merge node ``s`` of block j's output (``input`` for j = 0) and ``a_t`` replaces ``a_t`` as
    what the next layer reads. The merge lists ``a_t`` first, so concat's extra rows are last."""
    nodes: list[dict[str, Any]] = []
    prev = "input"
    outs = ["input"]
    for i, act in enumerate(acts, start=1):
        nodes.append({"name": f"h{i}", "op": "dense", "units": width, "inputs": [prev]})
        nodes.append({"name": f"a{i}", "op": act, "inputs": [f"h{i}"]})
        prev = f"a{i}"
        outs.append(prev)
        if skip is not None and skip[1] == i:
            nodes.append({"name": "s", "op": skip[2], "inputs": [prev, outs[skip[0]]]})
            prev = "s"
    nodes.append({"name": "out", "op": "dense", "units": m, "inputs": [prev]})
    return {"inputs": n_in, "output": "out", "loss": loss, "nodes": nodes}


def _run(case: Case, hp: Hyper, K: int, certify: bool, from_step: int = 0) -> tuple[Any, Any]:
    traj = train(
        case.net, case.params, case.x, case.yt, keep_params=True, **train_kwargs({**hp, "steps": K})
    )
    judged = [k >= from_step for k in range(K)] if from_step else None
    return traj, judge_decreases(case, traj.losses, traj.params_history, certify, judged)


def pair_check(
    drawn: Mapping[str, Any],
    ctx: Context,
    hyper: Callable[[Mapping[str, Any], float], Hyper],
    from_step: int = 0,
) -> Verdict:
    """Premise on the sequential net, claim on the skip net (see the module docstring), judged
    on the skip net from step ``from_step`` on."""
    seq, skip = drawn["seq"], drawn["skip"]
    L0 = initial_L(seq)
    hp = hyper(drawn, L0)
    K = ctx.profile.steps
    seq_traj, seq_tally = _run(seq, hp, K, True)
    shown = seq_tally.tested and not (seq_tally.unresolved or seq_tally.uncertified)
    if seq_tally.violation is not None or not shown:
        reject()  # the premise fails: no certified decrease at every step of the sequential net
    traj, tally = _run(skip, hp, K, ctx.searching, from_step)
    measured = {
        f"sequential_{k}": v
        for k, v in seq_tally.measured().items()
        if not k.startswith("uncertified:")
    }
    measured.update(tally.measured())
    measured["L0_sequential"] = L0
    rise = _relative_rise(traj.losses)
    if tally.violation is None:
        return Verdict(True, measured, target=rise)
    k = tally.violation
    L0_skip = estimate_L(skip.net, skip.params, skip.x, skip.yt)
    extra = {
        **tally.details,
        "L0_sequential": L0,
        "L0_skip": L0_skip,
        "skip": {"source": drawn["source"], "target": drawn["target"]},
        "sequential": {
            "spec": seq.spec,
            "losses": [float(v) for v in seq_traj.losses],
            "steps_certified": seq_tally.certified,
        },
    }
    ce = make_counterexample(
        skip.spec, skip.x, skip.y, skip.params, {**hp, "steps": k + 1}, k, traj.losses, **extra
    )
    msg = (
        f"skip net, step {k}: {rose_words(ce, ce['loss_before'], ce['loss_after'])} "
        f"(L_0 sequential {L0:.4g}, with the skip {L0_skip:.4g}); the sequential net "
        f"decreased at all {K} steps"
    )
    return Verdict(False, measured, target=rise, counterexample=ce, message=msg)


def _gd_hp(d: Mapping[str, Any], L0: float) -> Hyper:
    return {"optimizer": "gd", "lr": d["a"] * 2.0 / L0}


def _adaptive_hp(d: Mapping[str, Any], L0: float) -> Hyper:
    L = SAFETY_ADAPTIVE * L0
    lr = d["a"] * 2.0 / L
    return {
        "optimizer": "adaptive_momentum",
        "lr": lr,
        "tau": d["b"] * max(max_tau(lr, L), 0.0),
        "group": "array",
    }


SAFETY_ADAPTIVE = 1.0
SUMMARY: dict[str, Any] = {
    "steps": "sum",
    "steps_tested": "sum",
    "steps_certified": "sum",
    "steps_uncertified": "sum",
    "sequential_steps_tested": "sum",
    "sequential_steps_certified": "sum",
}
PAIR = (
    "metamorphic pair: a sequential net (1-3 blocks dense -> tanh|sigmoid|softplus|identity, "
    "dense head, mse or softmax cross-entropy, data on the 1/16 grid; an add skip's nets are "
    "as wide as the input, 1-3) and the same net and parameters with one skip connection "
    "added from block j's output (j = 0: the input) into block t's (j < t; with concat, the "
    "layer after the merge reads more features, and its extra weight rows come from the skip "
    "net's own initialisation); the skip is constructed, never drawn, so shrinking cannot "
    "remove it",
    horizon(),
    "premise: the sequential run decreases the loss at every one of the profile's K steps "
    "(every step's change above the float resolution, and its decrease certified); cases "
    "where it does not, or where a step's change is too small to tell, are rejected",
    CERTIFIED,
)

GD_ADD = Claim(
    id="gd-step-safe-on-sequential-net-stays-safe-with-add-skip",
    statement=(
        "A gradient-descent learning rate that decreases the loss at every step on a sequential "
        "net still does after a skip connection (add) is added"
    ),
    source=(
        "a metamorphic claim of this suite: skip connections are what the convergence paper "
        "(Agarwal, Klobusicky & Schonfeld 2021, arXiv 1705.07404, abstract) adds to Wu et al.'s "
        "setting; false: the skip changes the loss surface the run crosses (at w_0, or where "
        "the skip net's run goes later), so a rate fixed from the sequential net's L_0 can "
        "overshoot"
    ),
    conditions=(*PAIR, "lr = a * 2 / L_0(sequential), a in [0.3, 0.98]; merge add"),
    expect="fails",
    strategy=lambda profile: st.fixed_dictionaries(
        {"pair": skip_pairs("add"), "a": fractions(0.3, 0.98)}
    ).map(lambda d: {**d["pair"], "a": d["a"]}),
    check=lambda drawn, ctx: pair_check(drawn, ctx, _gd_hp),
    summary=SUMMARY,
    falsify_budget=True,
)

ADAPTIVE_CONCAT = Claim(
    id="adaptive-momentum-safe-on-sequential-net-stays-safe-with-concat-skip",
    statement=(
        "Adaptive momentum (lr, tau) inside the exact region for the sequential net's L_0 that "
        "decreases the loss at every step on the sequential net still does on the skip DAG "
        "(the same net with a concat skip connection) at every step with a momentum term "
        "(k >= 1; step 0 is a gradient step, dw_-1 = 0)"
    ),
    source=(
        "the convergence paper's setting (Agarwal, Klobusicky & Schonfeld 2021, arXiv "
        "1705.07404, abstract: adaptive momentum on DAGs with skip connections, compared with "
        "sequential nets); the pairing and the region are this suite's"
    ),
    conditions=(
        *PAIR,
        "L = L_0(sequential); lr = a * 2/L, a in [0.3, 0.98]; tau = b * min(lr, 2/L - lr), b in "
        "[0.1, 0.95]; grouping array; merge concat",
        "the skip net is judged from step 1 on, where the momentum term is present: a rise at "
        "step 0 is gradient descent's, the content of the add-skip GD claim (a held-out review "
        "found the shrunk counterexample was exactly that)",
    ),
    expect="fails",
    strategy=lambda profile: st.fixed_dictionaries(
        {"pair": skip_pairs("concat"), "a": fractions(0.3, 0.98), "b": fractions(0.1, 0.95)}
    ).map(lambda d: {**d["pair"], "a": d["a"], "b": d["b"]}),
    check=lambda drawn, ctx: pair_check(drawn, ctx, _adaptive_hp, from_step=1),
    summary=SUMMARY,
    falsify_budget=True,
)

CLAIMS = (GD_ADD, ADAPTIVE_CONCAT)
