"""Two weight-decay optimizers as plugin entries (their update reads the parameter's value
``w_k``, ``UpdateRule.parameter``), for ``test_weight_decay_plugin.py`` and the torch
cross-check: torch's ``SGD(weight_decay=...)`` and AdamW (Loshchilov & Hutter 2019)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import sympy as sp

from descentcheck.impl.optim.base import Optimizer, StepInfo
from descentcheck.registry.optimizers import LR, Hyperparameter, OptimizerEntry, UpdateRule

WD = Hyperparameter("wd", "float", "weight decay", 0.1, draw=(0.01, 0.5, False))
MOMENTUM = Hyperparameter(
    "momentum", "float", "buffer decay", 0.5, high=1.0, high_open=True, draw=(0.1, 0.9, False)
)


def make_sgdw(lr, momentum=0.5, wd=0.1, where="now"):
    """torch's ``SGD(lr, momentum, weight_decay=wd)``: ``buf = momentum buf + (g + wd w)``,
    ``dw = -lr buf``; ``where="next"`` is a mutant that decays the wrong iterate (w + g)."""

    def update(grads, state, params):
        decayed = {
            k: g + wd * (params[k] if where == "now" else params[k] + g) for k, g in grads.items()
        }
        buf = {k: momentum * state[k] + d for k, d in decayed.items()}
        return {k: -lr * b for k, b in buf.items()}, buf, StepInfo(momentum)

    hp = {"lr": lr, "momentum": momentum, "wd": wd}
    return Optimizer("sgdw", hp, lambda p: {k: np.zeros_like(v) for k, v in p.items()}, update)


def sgdw_rule() -> UpdateRule:
    lr, beta, wd, g, buf, w = sp.symbols("lr momentum wd g buf w", real=True)
    return UpdateRule(
        step=-lr * buf,
        gradient=g,
        hyperparameters={"lr": lr, "momentum": beta, "wd": wd},
        state={buf: beta * buf + g + wd * w},
        parameter=w,
    )


SGDW = OptimizerEntry(
    name="sgdw",
    summary="buf_k = momentum buf_(k-1) + g_k + wd w_k, dw_k = -lr buf_k",
    hyperparameters=(replace(LR, draw=(1e-3, 0.05, True)), MOMENTUM, WD),
    factory=make_sgdw,
    derivation=sgdw_rule,
    no_region="the decay term -lr wd w_k need not descend E",
)


def make_adamw(lr, wd=0.1, beta1=0.9, beta2=0.999, eps=1e-8):
    """AdamW (Loshchilov & Hutter 2019), decoupled: ``dw = -lr (m_hat / (sqrt(v_hat) + eps)
    + wd w)``."""

    def init(params):
        z = {k: np.zeros_like(v) for k, v in params.items()}
        return 0, z, dict(z)

    def update(grads, state, params):
        t, m, v = state
        t += 1
        m = {k: beta1 * m[k] + (1 - beta1) * g for k, g in grads.items()}
        v = {k: beta2 * v[k] + (1 - beta2) * g * g for k, g in grads.items()}
        dw = {
            k: -lr * (m[k] / (1 - beta1**t) / (np.sqrt(v[k] / (1 - beta2**t)) + eps))
            - lr * wd * params[k]
            for k in grads
        }
        return dw, (t, m, v), StepInfo(None)

    hp = {"lr": lr, "wd": wd, "beta1": beta1, "beta2": beta2, "eps": eps}
    return Optimizer("adamw", hp, init, update)


def adamw_rule() -> UpdateRule:
    lr, wd, b1, b2, eps, g, m, v, k, w = sp.symbols("lr wd beta1 beta2 eps g m v k w", real=True)
    m_hat, v_hat = m / (1 - b1 ** (k + 1)), v / (1 - b2 ** (k + 1))
    return UpdateRule(
        step=-lr * (m_hat / (sp.sqrt(v_hat) + eps) + wd * w),
        gradient=g,
        hyperparameters={"lr": lr, "wd": wd, "beta1": b1, "beta2": b2, "eps": eps},
        state={m: b1 * m + (1 - b1) * g, v: b2 * v + (1 - b2) * g**2},
        step_index=k,
        parameter=w,
    )


def _decay(name, default):
    return Hyperparameter(
        name, "float", f"{name} decay", default, high=1.0, high_open=True, draw=(0.5, 0.99, False)
    )


ADAMW = OptimizerEntry(
    name="adamw",
    summary="AdamW (Loshchilov & Hutter 2019)",
    hyperparameters=(
        replace(LR, draw=(1e-3, 0.05, True)),
        WD,
        _decay("beta1", 0.9),
        _decay("beta2", 0.999),
        Hyperparameter("eps", "float", "added to sqrt(v_hat)", 1e-8, draw=(1e-8, 1e-3, True)),
    ),
    factory=make_adamw,
    derivation=adamw_rule,
    no_region="the step's direction depends on the whole gradient history",
)
