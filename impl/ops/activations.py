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
"""

from __future__ import annotations

import numpy as np

from .base import Array, Layer


def _exp_neg_abs(x: Array) -> tuple[Array, Array]:
    """``exp(-|x|)`` analytically continued: exp(-x) where Re x >= 0, exp(x) elsewhere."""
    pos = x.real >= 0
    return np.exp(np.where(pos, -x, x)), pos


def sigmoid(x: Array) -> Array:
    e, pos = _exp_neg_abs(x)
    return np.where(pos, 1.0, e) / (1.0 + e)


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
        return [gy * self.derivative(cache)], {}


class Sigmoid(Elementwise):
    fn = staticmethod(sigmoid)

    def derivative(self, y):
        return y * (1.0 - y)


class Tanh(Elementwise):
    fn = staticmethod(np.tanh)

    def derivative(self, y):
        return 1.0 - y * y


class Softplus(Elementwise):
    fn = staticmethod(softplus)
    uses_output = False

    def derivative(self, x):
        return sigmoid(x)


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
