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

For real x of 4096 entries or more, tanh comes from the ``e = exp(-2|x|)`` its derivative needs:
``(1 - e) / (1 + e)`` for ``|x| >= 1/2`` and Cephes' rational form below (:func:`_tanh_real`,
within 1.4 eps of tanh), so a step evaluates one ``exp`` per tanh unit instead of a ``tanh`` and
an ``exp`` (numpy's float64 tanh and exp are scalar libm loops on CPUs without AVX-512, where
they cost about as much as a matrix product of the same width; there the ``exp`` of a large real
array is MKL's vectorised one when the optional ``mkl_umath`` is installed, :mod:`.vector_math`,
as is the ``exp(-|x|)`` of sigmoid and softplus). Where numpy's float64 tanh is a
SIMD loop (:data:`NUMPY_TANH_IS_SIMD`: x86-64 with AVX-512), a tanh and an exp cost less than
that form's ~25 passes, so the layer takes numpy's tanh and ``exp(-2|x|)`` beside it: the choice
is fixed per machine, so the same inputs give the same bits on it. Smaller arrays (small DAGs,
the claims' draws) and complex x (the complex-step oracle) go through the namespace's tanh.

Where numba is installed (the ``numba`` extra), large real arrays evaluate the chain that follows
each ``exp`` in one compiled pass instead of 4-10 numpy calls: the one-``exp`` tanh form, sigmoid
from ``exp(-|x|)``, relu, and the backward's slope times the upstream gradient (:mod:`.fused`). The
kernels perform the chains' operations in the chains' order, so they give the same bits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..backend import namespace
from . import fused, vector_math
from .base import Array, Layer, iadd, imul

if TYPE_CHECKING:
    from . import Factory

# numpy 2 takes a Python float operand through its weak-scalar promotion, about 0.15 us a call
# on a small array; a float64 0-d array gives float64 and complex128 operands the same bits
# (small DAGs make a dozen such calls a step). Other namespaces are given the float.
_ZERO, _ONE, _FOUR, _MINUS_TWO = np.array(0.0), np.array(1.0), np.array(4.0), np.array(-2.0)

NUMPY_TANH_IS_SIMD = vector_math.NUMPY_IS_SIMD
"""Large real tanh layers on numpy take numpy's tanh beside ``exp(-2|x|)`` (True), or the
one-``exp`` form :func:`_tanh_real` (False). Measured (tests/benchmarks): on AVX-512 the pair
costs half that form; without it, numpy's tanh is a scalar loop and the form wins."""


def _exp_neg_abs(x: Array) -> tuple[Array, Array]:
    """``exp(-|x|)`` analytically continued: exp(-x) where Re x >= 0, exp(x) elsewhere."""
    xp = namespace(x)
    if x.dtype.kind == "c":
        pos = x.real >= 0
        return xp.exp(xp.where(pos, -x, x)), pos
    return _exp_neg_abs_real(x), x >= 0


def _exp_neg_abs_real(x: Array, k: Any = None) -> Array:
    """``exp(-|x|)`` for real x: where(x >= 0, -x, x) is -|x| (at -0.0 both give exp(0) = 1),
    without the data-dependent branch of where. ``k``: :mod:`.fused`'s kernels for x, which
    form -|x| in one pass instead of two (the same bits), or None."""
    if k is None:
        e = namespace(x).abs(x)
        namespace(x).negative(e, out=e)
    else:
        e = k.neg_abs(x)  # mutants: numba only
    return vector_math.exp(e, out=e)


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
    """``1 / (1 + exp(-x))``, from ``e = exp(-|x|)`` so that nothing overflows."""
    e, pos = _exp_neg_abs(x)
    return _sigmoid_from(e, pos, consume=True)


def softplus(x: Array) -> Array:
    """``log(1 + exp(x)) = log1p(exp(-|x|)) + max(x, 0)``, stable for large |x|."""
    e, pos = _exp_neg_abs(x)
    return _plus_positive_part(namespace(e).log1p(e), x, pos)


def _plus_positive_part(s: Array, x: Array, pos: Array) -> Array:
    """``s + where(pos, x, 0)`` into s, with ``pos = Re x >= 0`` (softplus: ``s = log1p(e)``).
    For real float64 numpy x as ``s + fmax(x, 0)``, two fast passes for where's slow masked
    select (:func:`relu`): the same bits, since the two differ only at x = -0, where
    ``s = log 2`` absorbs either zero (and s is never -0, being >= +0 or NaN). A complex x keeps
    the mask: at Re x = 0 the step's branch is where's ``x``, not 0."""
    if type(x) is np.ndarray and x.dtype == np.float64:
        return iadd(s, np.fmax(x, _ZERO))
    return iadd(s, namespace(x).where(pos, x, 0.0))


def relu(x: Array) -> Array:
    """``max(x, 0)`` as ``where(Re x > 0, x, 0)``: x where it is positive, +0 everywhere else
    (-0 and NaN included; a complex x by its real part, for the complex step). For a real
    float64 numpy x the same bits come from ``fmax(x, 0) + 0``: fmax drops a NaN for the 0, and
    adding +0 turns the -0 that fmax keeps of ``fmax(-0, 0)`` into +0; x > 0 passes unchanged.
    Two SIMD passes where numpy's masked select took 8 times as long (0.066 against 0.55 ms at
    512 x 256 on machine H: plain relu MLPs were 4-36% behind PyTorch eager, SPEED.md)."""
    if type(x) is np.ndarray and x.dtype == np.float64:
        y = np.fmax(x, _ZERO)
        y += _ZERO
        return y
    return namespace(x).where(x.real > 0, x, 0.0)


# Moshier's Cephes tanh for |x| < 0.625: tanh x = x + x^3 P(x^2) / Q(x^2), Q monic
_TANH_P = (-9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3)
_TANH_Q = (1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3)
_TANH_SMALL = 0.5
TANH_EXP_MIN_SIZE = 4096
"""From this many entries on, real tanh takes the ``exp(-2|x|)`` form (:func:`_tanh_real`); below,
its ~25 array calls cost more than numpy's tanh saves (small DAGs)."""


def _tanh_real(x: Array) -> tuple[Array, Array]:
    """``tanh(x)`` and ``e = exp(-2|x|)`` for real x, from one ``exp``: ``(1 - e) / (1 + e)``
    for ``|x| >= 1/2`` (there ``e <= 1/e``, so ``1 - e`` keeps e's relative error within 0.6
    times it) and the Cephes rational below, evaluated on the gathered entries under 1/2 only
    (a third of a standard-normal layer, where the full-array form spent 13 passes on all);
    the sign from x. Within 1.4 eps of tanh (tests/test_ops.py measures it against extended
    precision)."""
    k = fused.kernels(x)
    if k is not None:  # the same chain in one pass (numba; the same bits)
        e = _exp_neg_2abs(x, k)  # mutants: numba only
        return fused.call(k.tanh_from, x, e), e  # mutants: numba only
    xp = namespace(x)
    a = xp.abs(x)
    e = xp.multiply(a, -2.0)
    e = vector_math.exp(e, out=e)
    y = xp.subtract(1.0, e)
    y = xp.divide(y, xp.add(1.0, e), out=y)  # tanh|x| for |x| >= 1/2
    small = xp.flatnonzero(a < _TANH_SMALL)
    s = a.ravel().take(small)
    s2 = s * s
    p = xp.multiply(s2, _TANH_P[0])
    p += _TANH_P[1]
    p *= s2
    p += _TANH_P[2]
    q = s2 + _TANH_Q[0]
    q *= s2
    q += _TANH_Q[1]
    q *= s2
    q += _TANH_Q[2]
    p /= q
    p *= s2
    p *= s
    p += s  # tanh|x| for |x| < 1/2
    y.ravel()[small] = p
    return xp.copysign(y, x, out=y), e


def _exp_neg_2abs(x: Array, k: Any = None) -> Array:
    """``e = exp(-2|x|)`` for real x: ``|x| * -2`` is exact, so the bits are those of
    ``_exp_neg_abs(x + x)``, in three array calls instead of five (a small tanh's backward).
    ``k``: :mod:`.fused`'s kernels for x, which form ``|x| * -2`` in one pass, or None."""
    if k is None:
        xp = namespace(x)
        e = xp.abs(x)
        e = xp.multiply(e, _MINUS_TWO if xp is np else -2.0, out=e)
    else:
        e = k.neg_2abs(x)  # mutants: numba only
    return vector_math.exp(e, out=e)


def _tanh_simd(x: Array) -> tuple[Array, Array]:
    """``tanh(x)`` by numpy's SIMD loop and ``e = exp(-2|x|)`` (as :func:`_tanh_real` makes it;
    ``|x| * -2`` in one pass where :mod:`.fused` has kernels for x)."""
    k = fused.kernels(x)
    if k is None:
        e = np.abs(x)
        e *= -2.0
    else:
        e = k.neg_2abs(x)  # mutants: numba only
    return np.tanh(x), np.exp(e, out=e)


def _tanh_large(x: Array) -> tuple[Array, Array]:
    """``(tanh(x), exp(-2|x|))`` for large real x, by this machine's faster form."""
    if NUMPY_TANH_IS_SIMD and namespace(x) is np:
        return _tanh_simd(x)
    return _tanh_real(x)


def tanh(x: Array) -> Array:
    """tanh: real x of :data:`TANH_EXP_MIN_SIZE` entries or more as :func:`_tanh_large`
    evaluates it (without the ``exp`` the SIMD form computes for the layer's derivative), else
    (complex x too) by the namespace's tanh."""
    if x.size < TANH_EXP_MIN_SIZE or x.dtype.kind == "c":
        return namespace(x).tanh(x)
    if NUMPY_TANH_IS_SIMD and namespace(x) is np:
        return np.tanh(x)  # _tanh_simd's value
    return _tanh_real(x)[0]


_TANH = tanh


class Elementwise(Layer):
    """``y = fn(x)`` entry by entry; ``derivative(cache)`` is ``fn'(x)`` from what ``forward``
    cached: ``x`` itself here (a subclass whose forward caches more reads that instead)."""

    fn: staticmethod

    def forward(self, params: dict[str, Array], xs: list[Array]) -> tuple[Array, Any]:
        x = xs[0]
        return type(self).fn(x), x

    def backward(
        self, params: dict[str, Array], cache: Any, gy: Array
    ) -> tuple[list[Array | None], dict[str, Array]]:
        return [imul(self.derivative(cache), gy)], {}  # gy * f'(x)


def _bell(e: Array) -> Array:
    """``e / (1 + e)^2``: sigmoid'(x) for ``e = exp(-|x|)``, a quarter of tanh'(x) for
    ``e = exp(-2|x|)``; accurate to a few ulps relative for every x."""
    xp = namespace(e)
    d = xp.add(e, _ONE if xp is np else 1.0)
    d *= d
    return xp.divide(e, d, out=d)


def _tanh_slope(e: Array) -> Array:
    """``4 e / (1 + e)^2`` = tanh'(x) for ``e = exp(-2|x|)``, the same operations as
    ``4 * _bell(e)``, written into ``e`` (a temporary of the caller's)."""
    xp = namespace(e)
    np_ = xp is np
    d = xp.add(e, _ONE if np_ else 1.0)
    d *= d
    e = xp.divide(e, d, out=e)
    e *= _FOUR if np_ else 4.0
    return e


class Sigmoid(Elementwise):
    def forward(self, params: dict[str, Array], xs: list[Array]) -> tuple[Array, Array]:
        x = xs[0]
        k = fused.kernels(x)
        if k is None and x.dtype.kind == "c":
            e, pos = _exp_neg_abs(x)
            return _sigmoid_from(e, pos), e
        if k is None:
            # max(e, sign x) is where(x >= 0, 1, e) bit for bit (e lies in [0, 1], and e = 1
            # at x = -0.0), without the cast of a boolean mask to float (small layers)
            e = _exp_neg_abs_real(x)
            xp = namespace(x)
            num = xp.sign(x)
            num = xp.maximum(e, num, out=num)
            return xp.divide(num, xp.add(e, _ONE if xp is np else 1.0), out=num), e
        e = _exp_neg_abs_real(x, k)  # mutants: numba only
        return fused.call(k.sigmoid_from, x, e), e  # mutants: numba only

    def derivative(self, e: Array) -> Array:
        return _bell(e)

    def backward(
        self, params: dict[str, Array], cache: Array, gy: Array
    ) -> tuple[list[Array | None], dict[str, Array]]:
        k = fused.kernels(cache, gy)
        if k is None:
            return super().backward(params, cache, gy)
        return [k.sigmoid_grad(cache, gy)], {}  # _bell(e) * gy; mutants: numba only


class Tanh(Elementwise):
    fn = staticmethod(tanh)

    def forward(
        self, params: dict[str, Array], xs: list[Array]
    ) -> tuple[Array, Array | tuple[Array]]:
        x = xs[0]
        fn = type(self).fn
        if x.size < TANH_EXP_MIN_SIZE or fn is not _TANH or x.dtype.kind == "c":
            return fn(x), x  # small or complex x, or a replaced fn (honoured)
        y, e = _tanh_large(x)
        return y, (e,)  # exp(-2|x|): made here, so backward may overwrite it

    def backward(
        self, params: dict[str, Array], cache: Array | tuple[Array], gy: Array
    ) -> tuple[list[Array | None], dict[str, Array]]:
        k = fused.kernels(cache[0], gy) if isinstance(cache, tuple) else None
        if k is None:  # Elementwise's rule, without super()'s lookup (small DAGs)
            return [imul(self.derivative(cache), gy)], {}
        return [k.tanh_grad(cache[0], gy)], {}  # _tanh_slope(e) * gy; mutants: numba only

    def derivative(self, cache: Array | tuple[Array]) -> Array:
        if isinstance(cache, tuple):
            return _tanh_slope(cache[0])
        # small or complex x, or a replaced fn
        if cache.dtype.kind == "c":
            e, _ = _exp_neg_abs(cache + cache)
        else:
            e = _exp_neg_2abs(cache)
        return _tanh_slope(e)


class Softplus(Elementwise):
    fn = staticmethod(softplus)

    def forward(
        self, params: dict[str, Array], xs: list[Array]
    ) -> tuple[Array, tuple[Array, Array]]:
        x = xs[0]
        e, pos = _exp_neg_abs(x)
        return _plus_positive_part(namespace(e).log1p(e), x, pos), (e, pos)

    def derivative(self, cache: tuple[Array, Array]) -> Array:
        return _sigmoid_from(*cache, consume=True)  # e is ours: made by forward, used once


class Relu(Elementwise):
    fn = staticmethod(relu)

    def forward(self, params: dict[str, Array], xs: list[Array]) -> tuple[Array, Array]:
        x = xs[0]
        k = fused.kernels(x) if type(self).fn is relu else None  # a replaced fn is honoured
        if k is None:
            return type(self).fn(x), x
        return fused.call(k.relu, x), x  # mutants: numba only

    def backward(
        self, params: dict[str, Array], cache: Array, gy: Array
    ) -> tuple[list[Array | None], dict[str, Array]]:
        k = fused.kernels(cache, gy)
        if k is None:
            return [imul(self.derivative(cache), gy)], {}
        return [fused.call(k.relu_grad, cache, gy)], {}  # derivative * gy; mutants: numba only

    def derivative(self, x: Array) -> Array:
        return (x.real > 0).astype(namespace(x).float64)


class Identity(Elementwise):
    fn = staticmethod(lambda x: x)

    def forward(self, params: dict[str, Array], xs: list[Array]) -> tuple[Array, None]:
        return xs[0], None

    def backward(
        self, params: dict[str, Array], cache: None, gy: Array
    ) -> tuple[list[Array | None], dict[str, Array]]:
        return [gy], {}


ACTIVATIONS = {
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "softplus": Softplus,
    "relu": Relu,
    "identity": Identity,
}


def make_activation(op: str) -> Factory:
    cls = ACTIVATIONS[op]

    def make(
        name: str, inputs: tuple[str, ...], in_widths: tuple[int, ...], node: Mapping[str, Any]
    ) -> Elementwise:
        return cls(name, inputs, in_widths, in_widths[0])

    return make
