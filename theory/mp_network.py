"""An independent evaluation of a spec-v1 network in mpmath at 50 significant digits.

Nothing of the trainer is used: the spec dict is read here (its own topological order), every op
is written again from DESIGN.md's definitions on numpy object arrays of ``mpmath.mpf``, and the
gradient is taken by central differences at higher precision::

    dE/dw_j ~ (E(w + h e_j) - E(w - h e_j)) / (2 h),     h = 1e-30, at 80 digits

whose truncation error is ~h^2 |E'''| ~ 1e-60 and rounding error ~1e-80 / h = 1e-50: far below
float64's 1e-16, so the result is the exact gradient as far as a float64 comparison can tell.
Ops (DESIGN.md): dense ``x W + b``; gaussian ``exp(-1/2 sum_i r_ji^2 (x_i - c_ji)^2)``
(Kurbiel & Khaleghian, arXiv:1708.01911) and its logits; sigmoid, tanh, softplus
(``log1p(exp x)``), relu (``x if x > 0 else 0``), identity; add; concat; losses mse
``1/(2n) sum ||yhat - y||^2`` and softmax cross-entropy ``-1/n sum y log softmax(yhat)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import mpmath
import numpy as np

Array = np.ndarray
DPS = 50
DIFF_DPS = 80
STEP = mpmath.mpf("1e-30")
INPUT = "input"


def _v(f: Callable[[Any], Any]) -> Callable[[Array], Array]:
    return np.vectorize(f, otypes=[object])


_ACT: dict[str, Callable[[Array], Array]] = {
    "sigmoid": _v(lambda t: 1 / (1 + mpmath.exp(-t))),
    "tanh": _v(mpmath.tanh),
    "softplus": _v(lambda t: mpmath.log1p(mpmath.exp(t))),
    "relu": _v(lambda t: t if t > 0 else mpmath.mpf(0)),
    "identity": lambda t: t,
}
_EXP = _v(mpmath.exp)
_LOG = _v(mpmath.log)


def to_mp(a: Array) -> Array:
    """A float array as an object array of exactly equal ``mpf`` values."""
    a = np.asarray(a, dtype=np.float64)
    out = np.empty(a.shape, dtype=object)
    for idx in np.ndindex(a.shape):
        out[idx] = mpmath.mpf(float(a[idx]))
    return out


def topological_order(nodes: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Nodes so that each comes after its inputs (depth-first; the spec must be a DAG)."""
    by_name = {n["name"]: n for n in nodes}
    done: set[str] = {INPUT}
    order: list[Mapping[str, Any]] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in done:
            return
        if name in path:
            raise ValueError(f"cycle through {name!r}")
        for p in by_name[name]["inputs"]:
            visit(p, (*path, name))
        done.add(name)
        order.append(by_name[name])

    for n in nodes:
        visit(n["name"], ())
    return order


def _node(node: Mapping[str, Any], params: Mapping[str, Array], xs: list[Array]) -> Array:
    op, name = node["op"], node["name"]
    if op == "dense":
        return xs[0].dot(params[f"{name}.W"]) + params[f"{name}.b"]
    if op in ("gaussian", "gaussian_logits"):
        c, r = params[f"{name}.centroids"], params[f"{name}.radii"]
        r2 = r * r
        if r2.ndim == 1:
            r2 = np.repeat(r2[:, None], c.shape[1], axis=1)
        diff = xs[0][:, None, :] - c[None, :, :]
        z = -(diff * diff * r2[None, :, :]).sum(axis=2) / 2
        return z if op == "gaussian_logits" else _EXP(z)
    if op in _ACT:
        return _ACT[op](xs[0])
    if op == "add":
        total = xs[0]
        for x in xs[1:]:
            total = total + x
        return total
    if op == "concat":
        return np.concatenate(xs, axis=1)
    raise ValueError(f"unknown op {op!r}")


def forward(spec: Mapping[str, Any], params: Mapping[str, Array], x: Array) -> Array:
    """The network output on object arrays of mpf (``params`` and ``x`` from :func:`to_mp`)."""
    values: dict[str, Array] = {INPUT: x}
    for node in topological_order(list(spec["nodes"])):
        values[node["name"]] = _node(node, params, [values[p] for p in node["inputs"]])
    return values[spec["output"]]


def loss_value(spec: Mapping[str, Any], yhat: Array, y: Array) -> mpmath.mpf:
    """The spec's loss at the output ``yhat`` for targets ``y`` (rows, same shape)."""
    n = yhat.shape[0]
    if spec["loss"] == "mse":
        d = yhat - y
        return (d * d).sum() / (2 * n)
    if spec["loss"] == "softmax_cross_entropy":
        lse = _LOG(_EXP(yhat).sum(axis=1))
        logp = yhat - lse[:, None]
        return -(y * logp).sum() / n
    raise ValueError(f"unknown loss {spec['loss']!r}")


def loss(spec: Mapping[str, Any], params: Mapping[str, Array], x: Array, y: Array) -> mpmath.mpf:
    return loss_value(spec, forward(spec, params, x), y)


def gradient(
    spec: Mapping[str, Any],
    params: Mapping[str, Array],
    x: Array,
    y: Array,
) -> tuple[float, dict[str, Array]]:
    """E and dE/dw (rounded once to float64) for float64 ``params``, ``x`` and targets ``y``
    (already (n, out), one-hot for labels), by central differences at :data:`DIFF_DPS` digits."""
    with mpmath.workdps(DIFF_DPS):
        P = {k: to_mp(v) for k, v in params.items()}
        X, Y = to_mp(x), to_mp(y)
        with mpmath.workdps(DPS):
            E = float(loss(spec, P, X, Y))
        grads: dict[str, Array] = {}
        for k, v in P.items():
            g = np.zeros(v.shape)
            for idx in np.ndindex(v.shape):
                w0 = v[idx]
                v[idx] = w0 + STEP
                up = loss(spec, P, X, Y)
                v[idx] = w0 - STEP
                down = loss(spec, P, X, Y)
                v[idx] = w0
                g[idx] = float((up - down) / (2 * STEP))
            grads[k] = g
    return E, grads
