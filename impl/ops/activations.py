"""Elementwise activations, each forward beside its derivative.

=========  ===================================  ==============================
op         forward                              derivative
=========  ===================================  ==============================
sigmoid    1 / (1 + exp(-x))                    y (1 - y)
tanh       tanh(x)                              1 - y^2
softplus   log(1 + exp(x))                      sigmoid(x)
relu       max(x, 0)                            1 if x > 0 else 0 (torch's value at 0)
identity   x                                    1
=========  ===================================  ==============================

sigmoid and softplus are evaluated in the form that never overflows (``exp`` only of a
non-positive real part); masks look at the real part so the complex-step oracle still works.
Backward rules reuse what forward computed (softplus keeps ``exp(-|x|)`` and the sign mask, so its
derivative ``sigmoid(x)`` costs one division) and work in place on their own temporaries.
"""

from __future__ import annotations

import numpy as np

from .base import Array, Layer, iadd, imul


def _exp_neg_abs(x: Array) -> tuple[Array, Array]:
    """``exp(-|x|)`` analytically continued: exp(-x) where Re x >= 0, exp(x) elsewhere."""
    if x.dtype.kind == "c":
        pos = x.real >= 0
        return np.exp(np.where(pos, -x, x)), pos
    # real x: where(x >= 0, -x, x) is -|x| (at -0.0 both give exp(0) = 1), without the
    # data-dependent branch of np.where
    e = np.abs(x)
    np.negative(e, out=e)
    return np.exp(e, out=e), x >= 0


def _sigmoid_from(e: Array, pos: Array, consume: bool = False) -> Array:
    """sigmoid from ``e = exp(-|x|)`` and the mask ``Re x >= 0``: ``where(pos, 1, e) / (1 + e)``.
    ``consume``: ``e`` is a temporary of the caller's and may be overwritten."""
    den = 1.0 + e
    if e.dtype.kind == "c":
        num = np.where(pos, 1.0, e)
    else:  # real e lies in [0, 1], so where(pos, 1, e) = max(e, pos) bit for bit
        num = np.maximum(e, pos, out=e if consume else None)
    return np.divide(num, den, out=den)


def sigmoid(x: Array) -> Array:
    e, pos = _exp_neg_abs(x)
    return _sigmoid_from(e, pos, consume=True)


def softplus(x: Array) -> Array:
    e, pos = _exp_neg_abs(x)
    return np.log1p(e) + np.where(pos, x, 0.0)


class Elementwise(Layer):
    fn: staticmethod
    uses_output: bool = True

    def forward(self, params, xs):
        x = xs[0]
        y = type(self).fn(x)
        return y, (y if self.uses_output else x)

    def backward(self, params, cache, gy):
        return [imul(self.derivative(cache), gy)], {}  # gy * f'(x)


class Sigmoid(Elementwise):
    fn = staticmethod(sigmoid)

    def derivative(self, y):
        d = 1.0 - y
        d *= y
        return d


class Tanh(Elementwise):
    fn = staticmethod(np.tanh)

    def derivative(self, y):
        d = y * y
        return np.subtract(1.0, d, out=d)


class Softplus(Elementwise):
    fn = staticmethod(softplus)

    def forward(self, params, xs):
        x = xs[0]
        e, pos = _exp_neg_abs(x)
        return iadd(np.log1p(e), np.where(pos, x, 0.0)), (e, pos)

    def derivative(self, cache):
        return _sigmoid_from(*cache)


class Relu(Elementwise):
    fn = staticmethod(lambda x: np.where(x.real > 0, x, 0.0))
    uses_output = False

    def derivative(self, x):
        return (x.real > 0).astype(np.float64)


class Identity(Elementwise):
    fn = staticmethod(lambda x: x)

    def forward(self, params, xs):
        return xs[0], None

    def backward(self, params, cache, gy):
        return [gy], {}


ACTIVATIONS = {
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "softplus": Softplus,
    "relu": Relu,
    "identity": Identity,
}


def make_activation(op: str):
    cls = ACTIVATIONS[op]

    def make(name, inputs, in_widths, node):
        return cls(name, inputs, in_widths, in_widths[0])

    return make
