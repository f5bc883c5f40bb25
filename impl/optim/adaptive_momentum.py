"""Gradient descent with adaptive momentum, as in the convergence papers.

Wu et al. (2008, one hidden layer) and Agarwal, Klobusicky & Schonfeld (2021, DAGs with skip
connections; arXiv 1705.07404) train with::

    dw_k = -lr * g_k + alpha_k * dw_{k-1},    w_{k+1} = w_k + dw_k,    dw_{-1} = 0
    alpha_k = tau * ||g_k|| / ||dw_{k-1}||   if dw_{k-1} != 0, else 0

so the momentum term always has length ``tau * ||g_k||``: it vanishes with the gradient, which is
what allows a decrease at every step (the step is at most ``(lr + tau) ||g_k||`` long). The papers
attach a separate coefficient to each group of weights (each weight vector of the network), with
norms taken over that group. ``group`` chooses the grouping:

* ``"array"`` (default): one coefficient per parameter array (``h1.W``, ``h1.b``, ...), the finest
  grouping and the closest to the papers' per-weight-vector coefficients;
* ``"node"``: one per spec node (a layer's weights and bias together);
* ``"global"``: one for all parameters, norms over the whole parameter vector.

The descent bound ``tau + L (lr + tau)^2 / 2 < lr`` holds for every grouping, since each group's
momentum term has length ``tau * ||g_G||`` and the squared lengths add up.
"""

from __future__ import annotations

import numpy as np

from ..errors import HyperparameterError
from .base import Optimizer, StepInfo, check_number, zeros_like

GROUPINGS = ("array", "node", "global")


def group_of(key: str, group: str) -> str:
    if group == "array":
        return key
    if group == "node":
        return key.rsplit(".", 1)[0]
    return "*"


def adaptive_momentum(lr: float, tau: float, group: str = "array") -> Optimizer:
    lr = check_number("learning rate", lr, low_open=True)
    tau = check_number("tau", tau)
    if group not in GROUPINGS:
        raise HyperparameterError(
            f"unknown momentum grouping {group!r}; known: {', '.join(GROUPINGS)}"
        )

    def init(params):
        return zeros_like(params)  # dw_{-1} = 0

    def update(grads, prev, params):
        g2: dict[str, float] = {}
        d2: dict[str, float] = {}
        for k, g in grads.items():
            G = group_of(k, group)
            g2[G] = g2.get(G, 0.0) + float(np.vdot(g, g))
            d2[G] = d2.get(G, 0.0) + float(np.vdot(prev[k], prev[k]))
        alpha = {
            G: float(tau * np.sqrt(g2[G]) / np.sqrt(d2[G])) if d2[G] > 0.0 else 0.0 for G in g2
        }
        dw = {k: -(lr * g) + alpha[group_of(k, group)] * prev[k] for k, g in grads.items()}
        # the trajectory reports one number: the coefficient itself when there is one group,
        # else the largest over the groups
        shown = max(alpha.values()) if alpha else 0.0
        return dw, dw, StepInfo(shown, alpha)

    return Optimizer(
        "adaptive_momentum", {"lr": lr, "tau": tau, "group": group}, init, update, __doc__ or ""
    )
