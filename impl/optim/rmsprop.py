"""RMSProp in ``torch.optim.RMSprop``'s form (Tieleman & Hinton 2012; used for distance networks
by Kurbiel & Khaleghian 2017)::

    v_k = rho * v_{k-1} + (1 - rho) * g_k^2,          v_{-1} = 0
    w_{k+1} = w_k - lr * g_k / (sqrt(v_k) + eps)

and with torch's ``momentum`` option (``buf_{-1} = 0``)::

    buf_k = momentum * buf_{k-1} + g_k / (sqrt(v_k) + eps),   w_{k+1} = w_k - lr * buf_k

``rho`` is torch's ``alpha``; defaults follow torch (rho = 0.99, eps = 1e-8). The new term is
``((1 - rho) g) g``, in the order of torch's ``addcmul`` (its first ``v`` has the same bits):
``g^2`` alone overflows from |g| ~ 1.3e154, where ``v`` became inf and froze the entry. (torch's
CPU kernels fuse the later additions into multiply-adds, which numpy cannot do, so later steps
agree to rounding, not to the bit.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..backend import namespace
from .base import (
    Array,
    FlatOptimizer,
    Layout,
    Optimizer,
    Params,
    StepInfo,
    check_number,
    zeros_like,
)


def rmsprop(lr: float, rho: float = 0.99, eps: float = 1e-8, momentum: float = 0.0) -> Optimizer:
    """torch's RMSprop: ``v_k = rho * v_{k-1} + (1 - rho) * g_k^2`` (``v_{-1} = 0``),
    ``dw_k = -lr * g_k / (sqrt(v_k) + eps)``, eps outside the root, no bias correction; with
    momentum > 0, ``buf_k = momentum * buf_{k-1} + g_k / (sqrt(v_k) + eps)`` (``buf_{-1} = 0``)
    and ``dw_k = -lr * buf_k``."""
    lr = check_number("learning rate", lr, low_open=True)
    rho = check_number("rho", rho, high=1.0, high_open=True)
    eps = check_number("eps", eps)
    beta = check_number("momentum", momentum, high=1.0, high_open=True)

    def init(params: Mapping[str, Array]) -> dict[str, Params | None]:
        return {"v": zeros_like(params), "buf": zeros_like(params) if beta > 0 else None}

    def update(
        grads: Mapping[str, Array], state: dict[str, Any], params: Mapping[str, Array]
    ) -> tuple[Params, dict[str, Params | None], StepInfo]:
        v = {k: rho * state["v"][k] + ((1.0 - rho) * g) * g for k, g in grads.items()}
        scaled = {k: g / (namespace(g).sqrt(v[k]) + eps) for k, g in grads.items()}
        if beta > 0:
            buf = {k: beta * state["buf"][k] + s for k, s in scaled.items()}
            return {k: -(lr * b) for k, b in buf.items()}, {"v": v, "buf": buf}, StepInfo(beta)
        return {k: -(lr * s) for k, s in scaled.items()}, {"v": v, "buf": None}, StepInfo(None)

    def flat_init(w: Array) -> tuple[Array, Array | None]:
        xp = namespace(w)
        return xp.zeros_like(w), (xp.zeros_like(w) if beta > 0 else None)

    def flat_update(
        g: Array, state: tuple[Array, Array | None], w: Array
    ) -> tuple[Array, tuple[Array, Array | None], float | None]:
        v, buf = state
        xp = namespace(g)
        v *= rho
        tmp = xp.multiply(g, 1.0 - rho)
        tmp *= g
        v += tmp
        den = xp.sqrt(v, out=tmp)
        den += eps
        scaled = xp.divide(g, den, out=g)
        if beta > 0:
            buf *= beta
            buf += scaled
            return xp.multiply(buf, -lr, out=g), (v, buf), beta
        return xp.multiply(scaled, -lr, out=g), (v, None), None

    def flat(layout: Layout) -> FlatOptimizer:
        return FlatOptimizer(flat_init, flat_update)

    hp = {"lr": lr, "rho": rho, "eps": eps, "momentum": beta}
    return Optimizer("rmsprop", hp, init, update, flat)
