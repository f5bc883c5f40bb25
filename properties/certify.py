"""Certified decrease: interval arithmetic proves E(w_{k+1}) < E(w_k), or declines to.

A float64 loss that went down by a few ulps may only have been rounded down. Here the loss is
re-evaluated at the *exact* float64 iterates (every float64 is an exact interval) in mpmath's
interval arithmetic (``mpmath.iv``, outward rounding at ``prec`` bits), straight from the spec's
formulas (DESIGN.md), independently of the trainer's numpy code. The result encloses the
real-number loss: ``E(w) in [lo, hi]``. A step is **certified** iff::

    hi(E(w_{k+1})) < lo(E(w_k))

At ``prec = 53`` (the default) the interval widths are of the size of float64's own rounding, so a
decrease smaller than what rounding could fake is *uncertified*, never counted as a pass. The
same test with the roles swapped certifies an increase (used for counterexamples).

Each function is written in a form where its argument appears once, so the enclosure is tight:
``tanh(x) = 1 - 2 / (exp(2x) + 1)``, ``sigmoid(x) = 1 / (1 + exp(-x))``,
``softplus(x) = log(1 + exp(x))``; mpmath's exponent range is unbounded, so nothing overflows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import mpmath
import numpy as np
from mpmath import iv

from descentcheck.impl.network import Network
from descentcheck.impl.spec import INPUT

Array = np.ndarray


@contextmanager
def _precision(prec: int) -> Iterator[None]:
    """Run with ``iv.prec = prec`` (mpmath's interval context is global; restore it after)."""
    old = iv.prec
    iv.prec = prec
    try:
        yield
    finally:
        iv.prec = old


_exp = np.frompyfunc(iv.exp, 1, 1)
_log = np.frompyfunc(iv.log, 1, 1)


def _interval(a: Array) -> Array:
    """A float array as an object array of exact point intervals."""
    a = np.asarray(a, dtype=np.float64)
    out = np.empty(a.shape, dtype=object)
    flat = out.reshape(-1)
    for i, v in enumerate(a.reshape(-1)):
        flat[i] = iv.mpf(float(v))
    return out


def _activation(op: str, x: Array) -> Array:
    if op == "identity":
        return x
    if op == "tanh":
        return 1 - 2 / (_exp(2 * x) + 1)
    if op == "sigmoid":
        return 1 / (1 + _exp(-x))
    if op == "softplus":
        return _log(1 + _exp(x))
    raise ValueError(f"no interval rule for activation {op!r}")


def _forward(net: Network, params: Mapping[str, Array], x: Array) -> Array:
    values: dict[str, Array] = {INPUT: x}
    for name in net.spec.order:
        node = net.spec.nodes[name]
        op = node["op"]
        xs = [values[p] for p in node["inputs"]]
        if op == "dense":
            y = xs[0] @ params[f"{name}.W"] + params[f"{name}.b"]
        elif op in ("gaussian", "gaussian_logits"):
            c = params[f"{name}.centroids"]
            r = params[f"{name}.radii"]
            r2 = r**2 if r.ndim == 2 else np.repeat((r**2)[:, None], c.shape[1], axis=1)
            diff = xs[0][:, None, :] - c[None, :, :]
            z = -(((diff**2) * r2[None, :, :]).sum(axis=2)) / 2
            y = z if op == "gaussian_logits" else _exp(z)
        elif op == "add":
            y = xs[0]
            for other in xs[1:]:
                y = y + other
        elif op == "concat":
            y = np.concatenate(xs, axis=1)
        else:
            y = _activation(op, xs[0])
        values[name] = y
    return values[net.spec.output]


def interval_loss(
    net: Network, params: Mapping[str, Array], x: Array, y: Array, prec: int = 53
) -> mpmath.ctx_iv.ivmpf:
    """An interval enclosing the exact loss E(params) on (x, y), ``y`` as ``check_targets``
    returns it."""
    with _precision(prec):
        p = {k: _interval(v) for k, v in params.items()}
        yhat = _forward(net, p, _interval(x))
        yt = _interval(y)
        n = len(x)
        if net.spec.loss == "mse":
            return ((yhat - yt) ** 2).sum() / (2 * n)
        # -1/n sum_i sum_k y_ik (z_ik - log sum_m exp z_im)
        lse = _log(_exp(yhat).sum(axis=1))
        return -((yt * (yhat - lse[:, None])).sum()) / n


@dataclass(frozen=True)
class Certificate:
    """The verdict on one step: both enclosures and whether they are ordered."""

    certified: bool
    before: tuple[float, float]
    after: tuple[float, float]

    @property
    def margin(self) -> float:
        """``lo(before) - hi(after)``: positive iff certified (rounded to float for display)."""
        return self.before[0] - self.after[1]


def _bounds(v: mpmath.ctx_iv.ivmpf) -> tuple[float, float]:
    # widen to floats outward so the displayed bounds still enclose the value
    lo = float(mpmath.mpf(v.a))
    hi = float(mpmath.mpf(v.b))
    return float(np.nextafter(lo, -np.inf)), float(np.nextafter(hi, np.inf))


def certify_decrease(
    net: Network,
    w_before: Mapping[str, Array],
    w_after: Mapping[str, Array],
    x: Array,
    y: Array,
    prec: int = 53,
) -> Certificate:
    """Prove ``E(w_after) < E(w_before)`` in interval arithmetic (see the module docstring)."""
    before = interval_loss(net, w_before, x, y, prec)
    after = interval_loss(net, w_after, x, y, prec)
    with _precision(prec):
        certified = bool((after < before) is True)  # iv comparison: True, False or None
    return Certificate(certified, _bounds(before), _bounds(after))


def certify_increase(
    net: Network,
    w_before: Mapping[str, Array],
    w_after: Mapping[str, Array],
    x: Array,
    y: Array,
    prec: int = 53,
) -> Certificate:
    """Prove ``E(w_after) > E(w_before)``: a counterexample's increase is no rounding artefact."""
    c = certify_decrease(net, w_after, w_before, x, y, prec)
    return Certificate(c.certified, c.after, c.before)
