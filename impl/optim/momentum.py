"""Heavy-ball momentum and torch's Nesterov momentum, in torch's buffer form.

Momentum (the tutorial's and Polyak's form, ``dw_{-1} = 0``)::

    dw_k = -lr * g_k + beta * dw_{k-1},   w_{k+1} = w_k + dw_k

is computed as ``torch.optim.SGD(lr, momentum=beta)`` computes it, with a buffer
``buf_k = beta * buf_{k-1} + g_k`` (``buf_0 = g_0``) and ``w_{k+1} = w_k - lr * buf_k``; the two are
equal because ``dw_k = -lr * buf_k`` (proved in ``descentcheck.theory``). Keeping torch's order of
operations keeps the trajectories equal to torch's to rounding.

Nesterov (``torch.optim.SGD(lr, momentum=beta, nesterov=True)``)::

    buf_k = beta * buf_{k-1} + g_k,   w_{k+1} = w_k - lr * (g_k + beta * buf_k)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from ..backend import namespace
from ..ops import fused
from .base import Array, FlatOptimizer, Layout, Optimizer, Params, StepInfo, applied, check_number


def _buffers(grads: Mapping[str, Array], state: Params | None, beta: float) -> Params:
    if state is None:
        return {k: g.copy() for k, g in grads.items()}
    return {k: beta * state[k] + g for k, g in grads.items()}


def _buffer(g: Array, buf: Array | None, beta: float | Array) -> Array:
    """``buf_k`` of a flat vector, in place: ``g_0`` at the first step, ``beta * buf_{k-1} + g_k``
    after. Heavy ball's flat form passes numpy vectors ``beta`` as a float64 0-d array, the
    faster operand with the same bits (``impl.ops.activations``' ``_ONE`` says why); CuPy's get
    the float (it refuses numpy arrays)."""
    if buf is None:
        return g.copy()
    buf *= beta
    buf += g
    return buf


def _stepper(
    flat_update: Callable[[Array, Array | None, Array], tuple[Array, Array, float]],
    lr: float,
    beta: float,
    nesterov: bool,
) -> Callable[[Array, Array | None, Array], tuple[Array, Array | None, float | None]]:
    """The flat form's ``step``: one kernel pass where a large layer loaded the kernels (from
    the second step: the first makes the buffer), else ``flat_update`` and ``w += dw``."""

    def flat_step(
        g: Array, buf: Array | None, w: Array
    ) -> tuple[Array, Array | None, float | None]:
        k = None if buf is None else fused.loaded_kernels(g, buf, w)  # mutants: numba only
        if k is None:
            return applied(flat_update, g, buf, w)
        k.momentum_step(g, buf, w, beta, -lr, nesterov)  # mutants: numba only
        return g, buf, beta  # mutants: numba only

    return flat_step


def momentum(lr: float, beta: float) -> Optimizer:
    """Heavy ball in torch's buffer form: ``buf_k = beta * buf_{k-1} + g_k`` (``buf_0 = g_0``),
    ``dw_k = -lr * buf_k``; lr > 0, 0 <= beta < 1."""
    lr = check_number("learning rate", lr, low_open=True)
    beta = check_number("momentum", beta, high=1.0, high_open=True)

    def init(params: Mapping[str, Array]) -> None:
        return None  # torch creates the buffer at the first step: buf_0 = g_0

    def update(
        grads: Mapping[str, Array], state: Params | None, params: Mapping[str, Array]
    ) -> tuple[Params, Params, StepInfo]:
        buf = _buffers(grads, state, beta)
        return {k: -(lr * b) for k, b in buf.items()}, buf, StepInfo(beta)

    def flat(layout: Layout) -> FlatOptimizer:
        numpy_beta, numpy_step = np.array(beta), np.array(-lr)  # _buffer's operands say why

        def flat_update(g: Array, buf: Array | None, w: Array) -> tuple[Array, Array, float]:
            xp = namespace(g)
            on_numpy = xp is np
            buf = _buffer(g, buf, numpy_beta if on_numpy else beta)
            return xp.multiply(buf, numpy_step if on_numpy else -lr, out=g), buf, beta

        return FlatOptimizer(lambda w: None, flat_update, _stepper(flat_update, lr, beta, False))

    return Optimizer("momentum", {"lr": lr, "momentum": beta}, init, update, flat)


def nesterov(lr: float, beta: float) -> Optimizer:
    """torch's Nesterov: ``buf_k = beta * buf_{k-1} + g_k`` (``buf_0 = g_0``),
    ``dw_k = -lr * (g_k + beta * buf_k)``; lr > 0, 0 < beta < 1."""
    lr = check_number("learning rate", lr, low_open=True)
    beta = check_number("momentum", beta, low_open=True, high=1.0, high_open=True)

    def init(params: Mapping[str, Array]) -> None:
        return None

    def update(
        grads: Mapping[str, Array], state: Params | None, params: Mapping[str, Array]
    ) -> tuple[Params, Params, StepInfo]:
        buf = _buffers(grads, state, beta)
        return {k: -(lr * (grads[k] + beta * buf[k])) for k in grads}, buf, StepInfo(beta)

    def flat(layout: Layout) -> FlatOptimizer:
        def flat_update(g: Array, buf: Array | None, w: Array) -> tuple[Array, Array, float]:
            buf = _buffer(g, buf, beta)
            g += beta * buf  # g + beta * buf
            return namespace(g).multiply(g, -lr, out=g), buf, beta

        return FlatOptimizer(lambda w: None, flat_update, _stepper(flat_update, lr, beta, True))

    return Optimizer("nesterov", {"lr": lr, "momentum": beta}, init, update, flat)
