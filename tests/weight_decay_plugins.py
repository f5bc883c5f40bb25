"""Two weight-decay optimizers as plugin entries (their update reads the parameter's value
``w_k``, ``UpdateRule.parameter``), for ``test_weight_decay_plugin.py`` and the torch
cross-check: torch's ``SGD(weight_decay=...)`` and AdamW (Loshchilov & Hutter 2019)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import sympy as sp
from optimizer_plugins import ADAM, adam_rule, make_adam

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
    """AdamW (Loshchilov & Hutter 2019), decoupled: Adam's step ``-lr m_hat / (sqrt(v_hat) +
    eps)`` and ``- lr wd w``."""
    adam = make_adam(lr, beta1, beta2, eps)

    def update(grads, state, params):
        dw, state, info = adam.update(grads, state, params)
        return {k: d - lr * wd * params[k] for k, d in dw.items()}, state, info

    hp = {**adam.hyperparameters, "wd": wd}
    return replace(adam, name="adamw", hyperparameters=hp, update=update)


def adamw_rule() -> UpdateRule:
    """Adam's rule with ``- lr wd w_k``."""
    rule = adam_rule()
    wd, w = sp.symbols("wd w", real=True)
    return replace(
        rule,
        step=rule.step - rule.hyperparameters["lr"] * wd * w,
        hyperparameters={**rule.hyperparameters, "wd": wd},
        parameter=w,
    )


ADAMW = replace(
    ADAM,
    name="adamw",
    summary="AdamW (Loshchilov & Hutter 2019)",
    hyperparameters=(ADAM.hyperparameters[0], WD, *ADAM.hyperparameters[1:]),
    factory=make_adamw,
    derivation=adamw_rule,
)
