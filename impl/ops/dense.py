"""Dense layer: ``y = x @ W + b`` with ``W`` of shape (in, units), ``b`` of shape (units,).

Backward: ``dE/dx = gy @ W.T``, ``dE/dW = x.T @ gy``, ``dE/db = sum_n gy``.
Initialisation: Glorot/Xavier uniform, ``W ~ U(-a, a)`` with ``a = sqrt(6 / (in + units))``
(Glorot & Bengio 2010), ``b = 0``.

The bias is added in place to the fresh product ``x @ W`` (the same sums, one array fewer),
``dE/db``'s sum over the batch is one BLAS call (``blas.column_sums``), ``dE/dx`` is skipped
for a layer on the network input (``input_grads`` False), and ``dE/dW``,
``dE/db`` are written into the trainer's flat gradient when it hands its views over (``out``:
``Layer.writes_grads``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .base import Array, Layer, iadd
from .blas import column_sums, matmul, matmul_into


class Dense(Layer):
    writes_grads = True

    def forward(self, params: dict[str, Array], xs: list[Array]) -> tuple[Array, Array]:
        x = xs[0]
        return iadd(matmul(x, params[self.keys["W"]]), params[self.keys["b"]]), x

    def backward(
        self,
        params: dict[str, Array],
        cache: Array,
        gy: Array,
        out: dict[str, Array] | None = None,
    ) -> tuple[list[Array | None], dict[str, Array]]:
        x = cache
        gx = matmul(gy, params[self.keys["W"]].T) if self.input_grads else None
        # a complex gy or x (the complex step) cannot be written into the trainer's real views
        if out is None or gy.dtype.kind == "c" or x.dtype.kind == "c":
            return [gx], {"W": matmul(x.T, gy), "b": column_sums(gy)}
        gW, gb = out[self.keys["W"]], out[self.keys["b"]]
        return [gx], {"W": matmul_into(x.T, gy, gW), "b": column_sums(gy, out=gb)}

    def init(self, rng: np.random.Generator, xs: list[Array] | None) -> dict[str, Array]:
        """Glorot uniform: ``W ~ U(-a, a)``, ``a = sqrt(6 / (fan_in + fan_out))``; ``b = 0``."""
        fan_in, fan_out = self.param_shapes["W"]
        a = np.sqrt(6.0 / (fan_in + fan_out))
        return {
            "W": rng.uniform(-a, a, size=(fan_in, fan_out)),
            "b": np.zeros(fan_out),
        }


def make_dense(
    name: str, inputs: tuple[str, ...], in_widths: tuple[int, ...], node: Mapping[str, Any]
) -> Dense:
    units = node["units"]
    return Dense(name, inputs, in_widths, units, {"W": (in_widths[0], units), "b": (units,)})
