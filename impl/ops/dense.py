"""Dense layer: ``y = x @ W + b`` with ``W`` of shape (in, units), ``b`` of shape (units,).

Backward: ``dE/dx = gy @ W.T``, ``dE/dW = x.T @ gy``, ``dE/db = sum_n gy``.
Initialisation: Glorot/Xavier uniform, ``W ~ U(-a, a)`` with ``a = sqrt(6 / (in + units))``
(Glorot & Bengio 2010), ``b = 0``.

The bias is added in place to the fresh product ``x @ W`` (the same sums, one array fewer), and
``dE/dx`` is skipped for a layer on the network input (``input_grads`` False).
"""

from __future__ import annotations

import numpy as np

from ..backend import namespace
from .base import Array, Layer, iadd
from .blas import matmul


class Dense(Layer):
    def forward(self, params, xs):
        x = xs[0]
        return iadd(matmul(x, params[self.keys["W"]]), params[self.keys["b"]]), x

    def backward(self, params, cache, gy):
        x = cache
        gx = matmul(gy, params[self.keys["W"]].T) if self.input_grads else None
        return [gx], {"W": matmul(x.T, gy), "b": namespace(gy).add.reduce(gy, axis=0)}

    def init(self, rng: np.random.Generator, xs: list[Array] | None) -> dict[str, Array]:
        """Glorot uniform: ``W ~ U(-a, a)``, ``a = sqrt(6 / (fan_in + fan_out))``; ``b = 0``."""
        fan_in, fan_out = self.param_shapes["W"]
        a = np.sqrt(6.0 / (fan_in + fan_out))
        return {
            "W": rng.uniform(-a, a, size=(fan_in, fan_out)),
            "b": np.zeros(fan_out),
        }


def make_dense(name, inputs, in_widths, node) -> Dense:
    units = node["units"]
    return Dense(name, inputs, in_widths, units, {"W": (in_widths[0], units), "b": (units,)})
