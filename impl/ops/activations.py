"""Elementwise activations, each forward beside its derivative.

=========  ===================================  ==============================
op         forward                              derivative
=========  ===================================  ==============================
sigmoid    1 / (1 + exp(-x))                    e / (1 + e)^2,  e = exp(-|x|)
tanh       tanh(x)                              4 e / (1 + e)^2,  e = exp(-2|x|)
softplus   log(1 + exp(x))                      sigmoid(x)
relu       max(x, 0)                            1 if x > 0 else 0 (torch's value at 0)
identity   x                                    1
=========  ===================================  ==============================

The sigmoid and tanh derivatives equal y (1 - y) and 1 - y^2 (torch's forms) but are computed
from ``exp(-|x|)``: once a unit saturates, y rounds to +-1 and 1 - y^2 loses every digit, while
the forms above keep full relative accuracy for any x (until the value itself underflows).
sigmoid and softplus are evaluated in the form that never overflows (``exp`` only of a
non-positive real part); masks look at the real part so the complex-step oracle still works.
Backward rules reuse what forward computed (softplus keeps ``exp(-|x|)`` and the sign mask, so its
derivative ``sigmoid(x)`` costs one division) and work in place on their own temporaries.
"""

from __future__ import annotations

from ..backend import namespace
from .base import Array, Layer, iadd, imul


def _exp_neg_abs(x: Array) -> tuple[Array, Array]:
    """``exp(-|x|)`` analytically continued: exp(-x) where Re x >= 0, exp(x) elsewhere."""
    xp = namespace(x)
    if x.dtype.kind == "c":
        pos = x.real >= 0
        return xp.exp(xp.where(pos, -x, x)), pos
    # real x: where(x >= 0, -x, x) is -|x| (at -0.0 both give exp(0) = 1), without the
    # data-dependent branch of where
    e = xp.abs(x)
    xp.negative(e, out=e)
    return xp.exp(e, out=e), x >= 0


def _sigmoid_from(e: Array, pos: Array, consume: bool = False) -> Array:
    """sigmoid from ``e = exp(-|x|)`` and the mask ``Re x >= 0``: ``where(pos, 1, e) / (1 + e)``.
    ``consume``: ``e`` is a temporary of the caller's and may be overwritten."""
    xp = namespace(e)
    den = 1.0 + e
    if e.dtype.kind == "c":
        num = xp.where(pos, 1.0, e)
    else:  # real e lies in [0, 1], so where(pos, 1, e) = max(e, pos) bit for bit
        num = xp.maximum(e, pos, out=e) if consume else xp.maximum(e, pos)
    return xp.divide(num, den, out=den)


def sigmoid(x: Array) -> Array:
    e, pos = _exp_neg_abs(x)
    return _sigmoid_from(e, pos, consume=True)


def softplus(x: Array) -> Array:
    e, pos = _exp_neg_abs(x)
    xp = namespace(e)
    return xp.log1p(e) + xp.where(pos, x, 0.0)


class Elementwise(Layer):
    fn: staticmethod
    uses_output: bool = True

    def forward(self, params, xs):
        x = xs[0]
        y = type(self).fn(x)
        return y, (y if self.uses_output else x)

    def backward(self, params, cache, gy):
        return [imul(self.derivative(cache), gy)], {}  # gy * f'(x)


def _bell(e: Array) -> Array:
    """``e / (1 + e)^2``: sigmoid'(x) for ``e = exp(-|x|)``, a quarter of tanh'(x) for
    ``e = exp(-2|x|)``; accurate to a few ulps relative for every x."""
    d = 1.0 + e
    d *= d
    return namespace(d).divide(e, d, out=d)


class Sigmoid(Elementwise):
    def forward(self, params, xs):
        e, pos = _exp_neg_abs(xs[0])
        return _sigmoid_from(e, pos), e

    def derivative(self, e):
        return _bell(e)


class Tanh(Elementwise):
    fn = staticmethod(lambda x: namespace(x).tanh(x))
    uses_output = False

    def derivative(self, x):
        e, _ = _exp_neg_abs(x + x)
        d = _bell(e)
        d *= 4.0
        return d


class Softplus(Elementwise):
    fn = staticmethod(softplus)

    def forward(self, params, xs):
        x = xs[0]
        e, pos = _exp_neg_abs(x)
        xp = namespace(e)
        return iadd(xp.log1p(e), xp.where(pos, x, 0.0)), (e, pos)

    def derivative(self, cache):
        return _sigmoid_from(*cache)


class Relu(Elementwise):
    fn = staticmethod(lambda x: namespace(x).where(x.real > 0, x, 0.0))
    uses_output = False

    def derivative(self, x):
        return (x.real > 0).astype(namespace(x).float64)


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
