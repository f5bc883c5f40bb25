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
The rules sit in tables (:data:`NODE_RULES`, :data:`LOSS_RULES`, the activations of
:func:`mpmath_functions` and :func:`arb_functions`), which the op registry's coverage check reads;
a plugin's activation brings its own ``mpmath`` and ``interval`` rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import mpmath
import numpy as np

from descentcheck.registry import ops as registry

Array = np.ndarray
DPS = 50
DIFF_DPS = 80
STEP = mpmath.mpf("1e-30")
INPUT = "input"


def _v(f: Callable[[Any], Any]) -> Callable[[Array], Array]:
    return np.vectorize(f, otypes=[object])


#: the built-in activations on object arrays of mpf (a plugin's: its ``mpmath`` rule)
_ACT: dict[str, Callable[[Array], Array]] = {
    "sigmoid": _v(lambda t: 1 / (1 + mpmath.exp(-t))),
    "tanh": _v(mpmath.tanh),
    "softplus": _v(lambda t: mpmath.log1p(mpmath.exp(t))),
    "relu": _v(lambda t: t if t > 0 else mpmath.mpf(0)),
    "identity": lambda t: t,
}
_EXP = _v(mpmath.exp)
_LOG = _v(mpmath.log)


def _arb_method(m: str) -> Callable[[Array], Array]:
    return np.frompyfunc(lambda v: getattr(v, m)(), 1, 1)


_ARB_EXP, _ARB_LOG = _arb_method("exp"), _arb_method("log")

#: the built-in activations on object arrays of python-flint ``arb`` balls (the interval
#: certifier's numbers), each written so its argument appears once (tight enclosures);
#: relu has none (the op registry states why)
ARB_FUNCTIONS: dict[str, Callable[[Array], Array]] = {
    "sigmoid": lambda t: 1 / (1 + _ARB_EXP(-t)),
    "tanh": lambda t: 1 - 2 / (_ARB_EXP(2 * t) + 1),
    "softplus": lambda t: _ARB_LOG(1 + _ARB_EXP(t)),
    "identity": lambda t: t,
}


def _plugin_rules(attr: str) -> dict[str, Callable[..., Any]]:
    """The plugins' rules ``attr`` (``mpmath_rule``, ``interval_rule``): an activation's scalar
    rule on object arrays, a loss's ``(yhat, y) -> E`` as it is."""
    out: dict[str, Callable[..., Any]] = {}
    for info in registry.ops():
        rule = getattr(info.plugin, attr, None) if info.plugin is not None else None
        if rule is not None:
            out[info.name] = rule if info.kind == "loss" else np.frompyfunc(rule, 1, 1)
    return out


def mpmath_functions() -> dict[str, Callable[[Array], Array]]:
    """``exp``, ``log`` and every activation (plugins' included) on object arrays of mpf, and
    each plugin loss's rule ``(yhat, y) -> E``."""
    return {"exp": _EXP, "log": _LOG, **_ACT, **_plugin_rules("mpmath_rule")}


def arb_functions() -> dict[str, Callable[[Array], Array]]:
    """The same on object arrays of ``arb`` balls: ``tanh(x) = 1 - 2 / (exp(2x) + 1)``,
    ``sigmoid(x) = 1 / (1 + exp(-x))``, ``softplus(x) = log(1 + exp(x))``, a plugin's interval
    rule; relu has none. Pass as ``functions=`` to :func:`forward` / :func:`loss` with
    :func:`to_arb` inputs."""
    return {"exp": _ARB_EXP, "log": _ARB_LOG, **ARB_FUNCTIONS, **_plugin_rules("interval_rule")}


def to_arb(a: Array) -> Array:
    """A float array as an object array of exact ``arb`` balls (radius 0)."""
    from flint import arb

    a = np.asarray(a, dtype=np.float64)
    out = np.empty(a.shape, dtype=object)
    for idx in np.ndindex(a.shape):
        out[idx] = arb(float(a[idx]))
    return out


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


# an activation's rule takes its input; a loss's takes (yhat, y)
Functions = Mapping[str, Callable[..., Array]]


def _dense(
    node: Mapping[str, Any], params: Mapping[str, Array], xs: list[Array], fn: Functions
) -> Array:
    name = node["name"]
    return xs[0].dot(params[f"{name}.W"]) + params[f"{name}.b"]


def _distance(logits: bool) -> Callable[..., Array]:
    def rule(
        node: Mapping[str, Any], params: Mapping[str, Array], xs: list[Array], fn: Functions
    ) -> Array:
        name = node["name"]
        c, r = params[f"{name}.centroids"], params[f"{name}.radii"]
        r2 = r * r
        if r2.ndim == 1:
            r2 = np.repeat(r2[:, None], c.shape[1], axis=1)
        diff = xs[0][:, None, :] - c[None, :, :]
        z = -(diff * diff * r2[None, :, :]).sum(axis=2) / 2
        return z if logits else fn["exp"](z)

    return rule


def _add(
    node: Mapping[str, Any], params: Mapping[str, Array], xs: list[Array], fn: Functions
) -> Array:
    total = xs[0]
    for x in xs[1:]:
        total = total + x
    return total


def _concat(
    node: Mapping[str, Any], params: Mapping[str, Array], xs: list[Array], fn: Functions
) -> Array:
    return np.concatenate(xs, axis=1)


#: the rules of the ops with parameters or several inputs, written over any number type that
#: ``fn`` knows (mpf, or Arb balls: so each is also the op's interval rule); elementwise ops
#: read ``fn[op]``
NODE_RULES: dict[str, Callable[..., Array]] = {
    "dense": _dense,
    "gaussian": _distance(logits=False),
    "gaussian_logits": _distance(logits=True),
    "add": _add,
    "concat": _concat,
}


def _node(
    node: Mapping[str, Any],
    params: Mapping[str, Array],
    xs: list[Array],
    fn: Functions | None = None,
) -> Array:
    op = node["op"]
    fn = mpmath_functions() if fn is None else fn
    if op in NODE_RULES:
        return NODE_RULES[op](node, params, xs, fn)
    if op in fn and op not in ("exp", "log"):
        return fn[op](xs[0])
    raise ValueError(f"op {op!r} has no rule for these numbers")


def forward(
    spec: Mapping[str, Any],
    params: Mapping[str, Array],
    x: Array,
    functions: Functions | None = None,
) -> Array:
    """The network output on object arrays of mpf (``params`` and ``x`` from :func:`to_mp`), or
    of any numbers ``functions`` knows (:func:`arb_functions` with :func:`to_arb` inputs)."""
    functions = mpmath_functions() if functions is None else functions
    values: dict[str, Array] = {INPUT: x}
    for node in topological_order(list(spec["nodes"])):
        xs = [values[p] for p in node["inputs"]]
        values[node["name"]] = _node(node, params, xs, functions)
    return values[spec["output"]]


def _mse(yhat: Array, y: Array, fn: Functions) -> Any:
    d = yhat - y
    return (d * d).sum() / (2 * yhat.shape[0])


def _softmax_cross_entropy(yhat: Array, y: Array, fn: Functions) -> Any:
    lse = fn["log"](fn["exp"](yhat).sum(axis=1))
    logp = yhat - lse[:, None]
    return -(y * logp).sum() / yhat.shape[0]


#: the losses, over any number type ``fn`` knows (so each is also the loss's interval rule)
LOSS_RULES: dict[str, Callable[[Array, Array, Functions], Any]] = {
    "mse": _mse,
    "softmax_cross_entropy": _softmax_cross_entropy,
}


def loss_value(
    spec: Mapping[str, Any],
    yhat: Array,
    y: Array,
    functions: Functions | None = None,
) -> Any:
    """The spec's loss at the output ``yhat`` for targets ``y`` (rows, same shape)."""
    functions = mpmath_functions() if functions is None else functions
    name = spec["loss"]
    if name in LOSS_RULES:
        return LOSS_RULES[name](yhat, y, functions)
    if name in functions:  # a plugin's loss rule for these numbers
        return functions[name](yhat, y)
    raise ValueError(f"loss {name!r} has no rule for these numbers")


def loss(
    spec: Mapping[str, Any],
    params: Mapping[str, Array],
    x: Array,
    y: Array,
    functions: Functions | None = None,
) -> Any:
    """E at ``params`` (same number type throughout: mpf by default)."""
    return loss_value(spec, forward(spec, params, x, functions), y, functions)


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


# ---- a float64 error bound for the forward pass -----------------------------------------
#
# How far a float64 evaluation of the same formulas can be from the exact value: each node's
# bound e (entrywise) from its inputs' bounds and the exact values v (first order in the unit
# roundoff u = 2^-53; libm's exp/log/tanh taken as 1 ulp):
#   dense         e_x |W| + (n_in + 2) u (|x| |W| + |b|)
#   distance      z: (d + 4) u sum_i r^2 (|x_i| + |c_i|)^2 + sum_i r^2 |x_i - c_i| e_x,i
#                 (covers the direct and the expanded matrix-product forms); exp: y e_z + 2u y
#   activation    |f'(x)| e_x + 2u (|y| + |x|)  (tanh' = 1 - y^2, sigmoid' = y (1 - y),
#                 softplus' = sigmoid, relu/identity' <= 1)
#   add / concat  sum of the inputs' e + (m - 1) u sum |x_i| / the inputs' e side by side
#   mse           (sum 2 |d| (e + u |d|) + (N + 2) u sum d^2) / (2n)
#   cross-entropy (sum_rows sum_j |p_j s - y_j| e_j + (m + 4) u sum |y_k| (1 + 2 |z|_max + |lse|)
#                 + (N + 1) u n |E|) / n,  s = sum_k y_k

U = 2.0**-53


def _flt(a: Array) -> Array:
    return np.asarray(a, dtype=object).astype(np.float64)


def _node_error(
    node: Mapping[str, Any], params: Mapping[str, Array], xs: list[Array], es: list[Array], y: Array
) -> Array:
    op, name = node["op"], node["name"]
    if op == "dense":
        W, b = np.abs(params[f"{name}.W"]), np.abs(params[f"{name}.b"])
        n_in = W.shape[0]
        return es[0] @ W + (n_in + 2) * U * (np.abs(xs[0]) @ W + b)
    if op in ("gaussian", "gaussian_logits"):
        c, r = params[f"{name}.centroids"], params[f"{name}.radii"]
        r2 = r * r if r.ndim == 2 else np.repeat((r * r)[:, None], c.shape[1], axis=1)
        x = xs[0][:, None, :]
        mag = (r2[None] * (np.abs(x) + np.abs(c)[None]) ** 2).sum(axis=2)
        ez = (c.shape[1] + 4) * U * mag + (r2[None] * np.abs(x - c[None]) * es[0][:, None, :]).sum(
            axis=2
        )
        return ez if op == "gaussian_logits" else y * ez + 2 * U * y
    if op == "add":
        return sum(es) + (len(xs) - 1) * U * sum(np.abs(x) for x in xs)
    if op == "concat":
        return np.concatenate(es, axis=1)
    x = xs[0]
    info = registry.get(op)
    if op == "tanh":
        slope = 1 - y * y
    elif op == "sigmoid":
        slope = y * (1 - y)
    elif op == "softplus":
        slope = 1 / (1 + np.exp(-np.clip(x, -700, 700)))
    elif info is not None and info.plugin is not None:
        # a plugin's f' from its own float rule (its rounding taken as within the same 2u)
        slope = np.broadcast_to(info.plugin.numpy_rules[1](x), x.shape)
    else:  # relu, identity: |f'| <= 1
        slope = np.ones_like(x)
    return np.abs(slope) * es[0] + (0 if op == "identity" else 2 * U * (np.abs(y) + np.abs(x)))


def _plugin_loss_error(plugin: Any, z: Array, e: Array, y: Array, E: float) -> float:
    """A plugin loss's bound, its float rule unknown here: the propagated error
    ``sum |dE/dz| e`` (the plugin's gradient at the float output, within 2x for the step of e)
    plus a first-order model of its own rounding, per sample ``8 (ops + 1) u max_node |node|``
    over the subexpressions of its SymPy loss at the point (mpmath), so a form that cancels
    (``sqrt(1 + r^2) - 1``) is allowed the size of its terms, not of its result; then the mean.
    A model, not a proof, as the claim's conditions say; a wrong formula is O(1) off."""
    import sympy as sp

    n, dim = z.shape
    with np.errstate(all="ignore"):
        _, g = plugin.value_and_grad(z, y)
    sens = 2.0 * float(np.nansum(np.abs(np.asarray(g)) * e))
    yhat_s, y_s = plugin.symbols(dim)
    expr = plugin.expression(yhat_s, y_s)
    nodes = [a for a in sp.preorder_traversal(expr) if not a.is_Symbol]
    size = sp.lambdify((*yhat_s, *y_s), nodes, "mpmath")
    ops = int(sp.count_ops(expr))
    with mpmath.workdps(30):
        rows = [max(abs(v) for v in size(*z[i], *y[i])) for i in range(n)]
    rnd = 8 * (ops + 1) * U * float(sum(rows)) / n
    return sens + rnd + (n + 1) * U * abs(E)


def _loss_error(spec: Mapping[str, Any], z: Array, e: Array, y: Array, E: float) -> float:
    n, N = z.shape[0], z.size
    info = registry.get(spec["loss"])
    if info is not None and info.plugin is not None:
        return _plugin_loss_error(info.plugin, z, e, y, E)
    if spec["loss"] == "mse":
        d = np.abs(z - y)
        return float((2 * d * (e + U * d)).sum() + (N + 2) * U * (d * d).sum()) / (2 * n)
    m = z.shape[1]
    zmax = np.abs(z).max(axis=1, keepdims=True)
    shifted = z - z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=1, keepdims=True)) + z.max(axis=1, keepdims=True)
    p = np.exp(z - lse)
    s = y.sum(axis=1, keepdims=True)
    sens = (np.abs(p * s - y) * e).sum()
    rnd = (m + 4) * U * (np.abs(y) * (1 + 2 * zmax + np.abs(lse))).sum()
    return float(sens + rnd + (N + 1) * U * n * abs(E)) / n


def loss_with_error_bound(
    spec: Mapping[str, Any], params: Mapping[str, Array], x: Array, y: Array
) -> tuple[mpmath.mpf, float]:
    """E at float64 ``params``, ``x``, targets ``y`` ((n, out), one-hot for labels) in mpmath at
    :data:`DPS` digits, and a bound on how far any float64 evaluation of the spec's formulas in
    the trainer's order of operations can be from it (the rules above)."""
    with mpmath.workdps(DPS):
        P = {k: to_mp(v) for k, v in params.items()}
        values: dict[str, Array] = {INPUT: to_mp(x)}
        fvals: dict[str, Array] = {INPUT: np.asarray(x, dtype=np.float64)}
        errs: dict[str, Array] = {INPUT: np.zeros(np.shape(x))}
        for node in topological_order(list(spec["nodes"])):
            ins = node["inputs"]
            v = _node(node, P, [values[p] for p in ins])
            values[node["name"]] = v
            fvals[node["name"]] = _flt(v)
            errs[node["name"]] = _node_error(
                node, params, [fvals[p] for p in ins], [errs[p] for p in ins], fvals[node["name"]]
            )
        out = spec["output"]
        E = loss_value(spec, values[out], to_mp(y))
        bound = _loss_error(spec, fvals[out], errs[out], np.asarray(y, dtype=np.float64), float(E))
    return E, bound
