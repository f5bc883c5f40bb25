"""Gradient descent: ``w_{k+1} = w_k - lr * g_k`` (``torch.optim.SGD(lr)``)."""

from __future__ import annotations

from ..backend import namespace
from .base import FlatOptimizer, Layout, Optimizer, StepInfo, check_number


def gd(lr: float) -> Optimizer:
    """Gradient descent, ``dw_k = -lr * g_k``; lr > 0."""
    lr = check_number("learning rate", lr, low_open=True)

    def init(params):
        return ()

    def update(grads, state, params):
        return {k: -(lr * g) for k, g in grads.items()}, state, StepInfo(None)

    def flat_update(g, state, w):
        return namespace(g).multiply(g, -lr, out=g), state, None

    def flat(layout: Layout) -> FlatOptimizer:
        return FlatOptimizer(lambda w: (), flat_update)

    return Optimizer("gd", {"lr": lr}, init, update, flat)
