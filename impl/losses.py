"""Losses over n samples, each value beside its gradient with respect to the network output.

``mse`` (the tutorial's regression loss, identity output)::

    E = 1/(2n) sum_i ||yhat_i - y_i||^2          dE/dyhat = (yhat - y) / n

``softmax_cross_entropy`` (softmax output, one-hot rows or integer labels)::

    E = -1/n sum_i sum_k y_ik log softmax(yhat_i)_k
    dE/dyhat_ik = (softmax(yhat_i)_k * sum_m y_im - y_ik) / n

which is ``(softmax - y)/n`` when each label row sums to one. ``log softmax`` is computed as
``d - log1p(r)`` with ``d = yhat - yhat_k`` (``k`` the row's largest real part, so ``d_k = 0``
exactly and no ``exp`` overflows) and ``r = sum_{j != k} exp(d_j)``: ``log(1 + r)`` as
``log1p(r)`` keeps the digits of a confident row, whose ``r`` is far below 1 (``log`` of the
rounded ``1 + r`` kept ``eps / r`` of relative error: 3e-5 for ``r = 3e-12``, in the value and
the gradient alike). When no row is confident (every ``r >= 1``: no probability over 1/2)
the plain ``yhat - m - log(sum exp(yhat - m))`` (m the row maximum) is within 3 eps and is
kept, at fewer array calls. For the same reason the gradient's entry at ``k`` is
``(S - y_k) - S r / (1 + r)``, ``S p_k - y_k`` without the cancellation of ``S p_k`` against
``y_k`` where ``p_k = 1 / (1 + r)`` is near 1 (the thorough profile's find: a soft row
(0.25, 0, 0) on logits (0, -26.5, -30) had its gradient 7e-7 off the complex step's). ``S - y_k``
is exact for one-hot rows and rows on a dyadic grid, and within ``eps S`` otherwise, the scale of
the targets' own rounding.

Each loss says how it takes targets of shape (n,) (``targets``, as a loss plugin declares it:
``descentcheck.registry.op_plugins.LossPlugin``): ``mse`` takes ``"values"`` (at one output the
numbers, integers too; at m > 1 integer labels as one-hot rows), ``softmax_cross_entropy``
``"labels"`` (integer labels as one-hot rows). :func:`target_form` and
:func:`flat_targets_are_labels` read it for any registered loss (``Network.check_targets``, the
claims).

``value_and_grad`` computes both from one ``log softmax`` (in place on its own temporaries), and
``__call__`` gives the same value bit for bit. For large real logits its row maxima and row sums
are numba kernels where :mod:`.ops.fused` has them, with the same bits.

A mean is the sum of the rows' terms over n. Where that sum is not finite though the mean is,
the value is taken again without overflow (``mse``'s squares scaled by the largest residual,
cross-entropy's terms each over n, the term of a zero target 0 where its
``log softmax`` is ``-inf``: a logit gap beyond the float range gave ``0 * -inf`` = NaN). Finite
sums keep their bits; a loss that is truly beyond the float range stays inf. A zero loss is
+0 (``-0.0`` printed as "final loss -0").
"""

from __future__ import annotations

from typing import Any

import numpy as np

from descentcheck.registry.op_plugins import flat_targets_are_labels as _flat_are_labels

from .backend import namespace
from .ops import fused
from .plugin_loss import RegisteredLosses

Array = np.ndarray


#: a row whose ``sum_j exp(z_j - max z)`` is below this is confident (``r < 1``, its largest
#: probability over 1/2): its ``log`` and its gradient's largest entry are taken the accurate
#: way (module docstring)
_CONFIDENT = 2.0


def _log_softmax_parts(z: Array) -> tuple[Array, tuple[Array, Array, Array] | None]:
    """``log softmax(z)`` by rows, and ``None`` or, where a row is confident, ``(rows, k, r)``:
    each row's largest real part at ``k`` (index arrays) and ``r = sum_{j != k} exp(z_j - z_k)``.
    When no row is confident, every row keeps ``z - m - log(sum exp(z - m))`` (m the row
    maximum), within 3 eps there, at half the array calls (small nets' steps)."""
    xp = namespace(z)
    kern = _row_kernels(z)
    if kern is None:
        m = z.real.max(axis=1, keepdims=True)  # CuPy has no maximum.reduce
        logp = z - m  # shifted
    else:  # mutants: numba only
        logp = np.empty_like(z)  # mutants: numba only
        kern.shift_by_row_max(z, logp)  # mutants: numba only
    s = _row_sums(kern, xp.exp(logp))
    if not bool(s.real.min() < _CONFIDENT):  # a NaN row: all plain (E is NaN)
        logp -= xp.log(s)
        return logp, None
    rows = xp.arange(z.shape[0])
    if kern is None:
        k = z.real.argmax(axis=1)
    else:  # mutants: numba only
        k = np.empty(len(z), np.intp)  # mutants: numba only
        kern.row_argmax(z, k)  # mutants: numba only
    logp = z - z[rows, k][:, None]  # 0 exactly at k, complex z too
    e = xp.exp(logp)
    e[rows, k] = 0.0  # exp(0) = 1 left out: the rest is summed on its own
    r = _row_sums(kern, e)
    logp -= xp.log1p(r)
    return logp, (rows, k, r)


def _row_kernels(a: Array) -> Any:
    """:mod:`.ops.fused`'s kernels for a large real C-ordered (n, k) array, else None: numpy
    reduces along short rows one row at a time (0.3 ms for the maxima of 8192 rows of 10)."""
    kern = fused.kernels(a)  # None for small, complex or device arrays
    return kern if kern is not None and a.ndim == 2 and a.flags.c_contiguous else None


def _row_sums(kern: Any, a: Array) -> Array:
    """``add.reduce(a, axis=1, keepdims=True)``, by numpy or, with ``kern`` (given for a
    C-ordered array: :func:`_row_kernels`' or one ``exp`` made from it), in numpy's order (its
    pairwise sum of each row: the same bits)."""
    if kern is None:
        return namespace(a).add.reduce(a, axis=1, keepdims=True)
    out = np.empty((len(a), 1))  # mutants: numba only
    kern.row_sums(a, out[:, 0])  # mutants: numba only
    return out  # mutants: numba only


def _log_softmax(z: Array) -> Array:
    return _log_softmax_parts(z)[0]


def _sum(a: Array) -> float:
    return namespace(a).add.reduce(a, axis=None)  # a.sum(), without the method's wrapper


def _finite(v: float) -> bool:
    return bool(v - v == 0)  # NaN and +-inf give NaN; a scalar test cheaper than isfinite


def _squares_mean_again(d: Array, n: int) -> float:
    """``sum(d * d) / n`` where the sum overflowed: ``m^2 sum((d/m)^2) / n``, m = max |d|."""
    xp = namespace(d)
    m = xp.max(xp.abs(d))
    if not (_finite(m) and m > 0):
        return _sum(d * d) / n  # a non-finite residual: the loss is not finite
    u = d / m
    return _sum(u * u) / n * m * m


class MSE:
    targets = "values"

    def __call__(self, yhat: Array, y: Array) -> float:
        return self._value(yhat - y)

    @staticmethod
    def _value(d: Array) -> float:
        value = _sum(d * d) / (2 * len(d))
        if _finite(value) or d.dtype.kind == "c":
            return value
        return _squares_mean_again(d, 2 * len(d))

    def value_and_grad(self, yhat: Array, y: Array) -> tuple[float, Array]:
        """``E = 1/(2n) sum_i |yhat_i - y_i|^2`` (mean over the n rows, summed over outputs) and
        ``dE/dyhat = (yhat - y) / n``."""
        d = yhat - y
        value = self._value(d)
        d /= len(yhat)
        return value, d


class SoftmaxCrossEntropy:
    targets = "labels"

    def __call__(self, yhat: Array, y: Array) -> float:
        return self._value(y, _log_softmax(yhat))

    @staticmethod
    def _value(y: Array, logp: Array) -> float:
        terms = y * logp
        value = 0.0 - _sum(terms) / len(y)  # 0.0 - x: +0 for a zero sum, else -x
        if _finite(value) or terms.dtype.kind == "c":
            return value
        # each term over n; a zero target's term 0 where log softmax is -inf (0 * -inf)
        terms = namespace(terms).where(y == 0, 0.0, terms)
        return 0.0 - _sum(terms / len(y))

    def value_and_grad(self, yhat: Array, y: Array) -> tuple[float, Array]:
        """``E = -1/n sum_i y_i . log softmax(yhat_i)`` and ``dE/dyhat_i = (S_i p_i - y_i) / n``
        with ``p = softmax(yhat)`` and ``S_i = sum_j y_ij`` (1 for one-hot or soft targets);
        at each row's largest logit ``k`` as ``(S - y_k) - S r / (1 + r)`` (module docstring)."""
        logp, confident = _log_softmax_parts(yhat)
        n = len(yhat)
        value = self._value(y, logp)
        xp = namespace(logp)
        S = _row_sums(_row_kernels(y), y)
        g = xp.exp(logp, out=logp)  # softmax; logp is not needed any more
        g *= S
        g -= y
        if confident is not None:
            rows, k, r = confident
            q = r / (1.0 + r)  # 1 - p_k
            q *= S
            g[rows, k] = ((S - y[rows, k][:, None]) - q)[:, 0]
        g /= n
        return value, g


BUILTIN = {"mse": MSE(), "softmax_cross_entropy": SoftmaxCrossEntropy()}
# every registered loss by name, the plugins' included (read from the op registry at each lookup)
LOSSES = RegisteredLosses(BUILTIN)


def target_form(loss: str) -> str:
    """How the registered loss ``loss`` takes targets of shape (n,): ``"labels"`` or
    ``"values"`` (a built-in loss's ``targets``, a plugin's declared ``LossPlugin.targets``)."""
    fn = LOSSES[loss]
    plugin = getattr(fn, "plugin", None)
    return str(plugin.targets if plugin is not None else fn.targets)


def flat_targets_are_labels(loss: str, width: int) -> bool:
    """Whether targets of shape (n,) are integer labels (one-hot rows) for ``loss`` at output
    width ``width``; otherwise they are the numbers of the one output (``"values"``, width 1)."""
    return _flat_are_labels(target_form(loss), width)
