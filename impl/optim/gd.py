"""Gradient descent: ``w_{k+1} = w_k - lr * g_k`` (``torch.optim.SGD(lr)``)."""

from __future__ import annotations

from collections.abc import Mapping

from ..backend import namespace
from ..ops import fused
from .base import Array, FlatOptimizer, Layout, Optimizer, Params, StepInfo, applied, check_number


def gd(lr: float) -> Optimizer:
    """Gradient descent, ``dw_k = -lr * g_k``; lr > 0."""
    lr = check_number("learning rate", lr, low_open=True)

    def init(params: Mapping[str, Array]) -> tuple[()]:
        return ()

    def update(
        grads: Mapping[str, Array], state: tuple[()], params: Mapping[str, Array]
    ) -> tuple[Params, tuple[()], StepInfo]:
        return {k: -(lr * g) for k, g in grads.items()}, state, StepInfo(None)

    def flat_update(g: Array, state: tuple[()], w: Array) -> tuple[Array, tuple[()], None]:
        return namespace(g).multiply(g, -lr, out=g), state, None

    def flat_step(g: Array, state: tuple[()], w: Array) -> tuple[Array, tuple[()], float | None]:
        k = fused.loaded_kernels(g, w)
        if k is None:
            return applied(flat_update, g, state, w)
        k.gd_step(g, w, -lr)  # mutants: numba only
        return g, state, None  # mutants: numba only

    def flat(layout: Layout) -> FlatOptimizer:
        return FlatOptimizer(lambda w: (), flat_update, flat_step)

    return Optimizer("gd", {"lr": lr}, init, update, flat)
