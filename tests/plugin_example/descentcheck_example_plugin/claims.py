"""A ledger claim about the plugin's Adam: every step is bounded, entry by entry (holds).

For beta1, beta2 in [0, 1) and any gradients, each entry of Adam's update t = 1, 2, ... obeys::

    |dw_t| <= B_t = lr (1 - beta1) / (1 - beta1^t) * sqrt((1 - beta2^t) / (1 - beta2))
                    * sqrt(S_t),     S_t = sum_{j<t} gamma^j,   gamma = beta1^2 / beta2

Proof: m_t = (1 - beta1) sum_j beta1^j g_(t-j) and v_t = (1 - beta2) sum_j beta2^j g_(t-j)^2;
writing beta1^j = (beta1 / sqrt(beta2))^j sqrt(beta2)^j, Cauchy-Schwarz gives
|m_t| <= (1 - beta1) sqrt(S_t) sqrt(v_t / (1 - beta2)), and eps >= 0 only shrinks the step
lr |m_t| / (1 - beta1^t) / (sqrt(v_t / (1 - beta2^t)) + eps). This is Kingma & Ba's (2015,
sec. 2.1) "the effective step is bounded by lr", made exact for every t: B_1 = lr, and for
gamma < 1 the bound stays below lr (1 - beta1) / sqrt((1 - beta2)(1 - gamma)). It is sharp:
the first step is lr |g| / (|g| + eps), within eps / |g| of B_1, and the ledger counts the
entries that come within 10% of their bound.

Checked on generated DAGs (``descentcheck.properties.cases``: random architectures, data and
initial parameters, the installed activations among them) with lr, beta1, beta2, eps and the
number of steps drawn by Hypothesis. The applied step is ``w_(t) - w_(t-1)`` of the trainer's
own iterates; the tolerance adds a relative 1e-12 to B_t (the float rounding of m, v and the
step, ~10 t u) and one ulp of each iterate (rounding w + dw). Adam without its second-moment
bias correction (``v_hat = v``) breaks the bound at the first step, by 1 / sqrt(1 - beta2):
the test of this package shows the ledger falsify it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import strategies as st

from descentcheck.impl.trainer import train
from descentcheck.properties import Limits, cases
from descentcheck.properties.claim import Claim, Context, Verdict

RELATIVE_SLACK = 1e-12
NEAR = 0.9  # an entry within 10% of its bound shows the bound is not vacuous there


def bound(t: int, lr: float, beta1: float, beta2: float) -> float:
    """B_t of the module docstring (t = 1 for the first update)."""
    gamma = beta1 * beta1 / beta2
    s = math.fsum(gamma**j for j in range(t))
    growth = (1 - beta2**t) / (1 - beta2)
    return lr * (1 - beta1) / (1 - beta1**t) * math.sqrt(growth * s)


def spread(low: float, high: float, log: bool = False) -> st.SearchStrategy[float]:
    """A number in [low, high], evenly spread (its logarithm, with ``log``) over 1001 grid
    points, both ends included; it shrinks toward ``low``. (``st.floats`` puts about a third of
    its draws at the ends of a range.)"""

    def at(i: int) -> float:
        if log:
            return min(high, low * (high / low) ** (i / 1000))
        return low + (high - low) * i / 1000

    return st.integers(0, 1000).map(at)


def strategy(profile: Any) -> st.SearchStrategy[dict[str, Any]]:
    """A generated DAG with its data and initial parameters, Adam's hyperparameters, a number
    of steps."""
    return st.fixed_dictionaries(
        {
            "case": cases(Limits(max_blocks=3, max_width=3, max_inputs=2, max_rows=6)),
            "lr": spread(1e-3, 0.5, log=True),
            "beta1": spread(0.0, 0.99),
            "beta2": spread(0.5, 0.999),
            "eps": spread(1e-8, 1e-3, log=True),
            "steps": st.integers(1, 8),
        }
    )


def _ratios(drawn: dict[str, Any], optimizer: Any) -> list[np.ndarray]:
    """Per step t = 1..K: |w_t - w_(t-1)| / tolerance(B_t), every entry."""
    case = drawn["case"]
    hp = {k: drawn[k] for k in ("lr", "beta1", "beta2", "eps")}
    kw = {"steps": drawn["steps"], "keep_params": True}
    if isinstance(optimizer, str):
        run = train(case.net, case.params, case.x, case.yt, optimizer, **hp, **kw)
    else:  # a factory taking the same hyperparameters (a test's mutant)
        run = train(case.net, case.params, case.x, case.yt, optimizer(**hp), **kw)
    W = [case.net.flatten(p) for p in run.params_history]
    out = []
    for t in range(1, len(W)):
        tol = bound(t, hp["lr"], hp["beta1"], hp["beta2"]) * (1 + RELATIVE_SLACK)
        tol = tol + np.spacing(np.abs(W[t])) + np.spacing(np.abs(W[t - 1]))
        out.append(np.abs(W[t] - W[t - 1]) / tol)
    return out


def check(drawn: dict[str, Any], ctx: Context, optimizer: Any = "adam") -> Verdict:
    """The bound on every entry of every step; a NaN step is a violation."""
    ratios = _ratios(drawn, optimizer)
    worst = max((float(np.max(r, initial=0.0)) for r in ratios), default=0.0)
    measured = {
        "worst_step_over_bound": worst,
        "steps_checked": float(len(ratios)),
        "entries_checked": float(sum(r.size for r in ratios)),
        "entries_near_bound": float(sum(int(np.sum(r > NEAR)) for r in ratios)),
    }
    theory = {"worst_step_over_bound": 1.0}
    for t, r in enumerate(ratios, start=1):
        bad = np.flatnonzero(~(r <= 1.0))  # ~(<=) so that NaN counts as a violation
        if bad.size:
            hp = {k: drawn[k] for k in ("lr", "beta1", "beta2", "eps")}
            msg = f"step {t}, entry {bad[0]}: |dw| is {r[bad[0]]:.6g} x its bound, with {hp}"
            record = {"spec": drawn["case"].spec, "hyperparameters": hp, "step": t}
            return Verdict(False, measured, theory, counterexample=record, message=msg)
    return Verdict(True, measured, theory)


CLAIM = Claim(
    id="adam-step-bounded",
    statement=(
        "every entry of every Adam step t obeys |dw_t| <= lr (1 - beta1) / (1 - beta1^t) "
        "sqrt((1 - beta2^t) / (1 - beta2)) sqrt(sum_{j<t} (beta1^2 / beta2)^j)"
    ),
    source="Kingma & Ba 2015, sec. 2.1 (the effective step size), exact by Cauchy-Schwarz",
    conditions=(
        "generated DAGs, data and initial parameters (descentcheck.properties.cases)",
        "lr in [1e-3, 0.5], beta1 in [0, 0.99], beta2 in [0.5, 0.999], eps in [1e-8, 1e-3]",
        "1 to 8 full-batch steps; tolerance 1e-12 relative plus one ulp of each iterate",
    ),
    expect="holds",
    strategy=strategy,
    check=check,
    summary={
        "worst_step_over_bound": "max",
        "steps_checked": "sum",
        "entries_checked": "sum",
        "entries_near_bound": "sum",
    },
)

#: what the entry point names: a sequence of claims (here one)
CLAIMS = (CLAIM,)
