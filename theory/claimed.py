"""The trainer's forward and backward rules, transcribed once into SymPy: the "claimed formulas".

Each entry restates what ``descentcheck.impl`` computes (file named beside it) for one sample and
one unit, in the symbols of :mod:`.units`, with the upstream gradient ``gy`` / ``gy0 ..`` of
:meth:`Derivation.upstream`. Intermediate values are written the way the trainer forms them
(``y`` from its forward rule, ``gz = gy * y``, ``diff = x - c``, the stable piecewise forms of
sigmoid and softplus, log-softmax shifted by a row maximum), so that proving
``claimed - derived == 0`` checks the trainer's algebra, not a restatement of the derivation.

The log-softmax shift is a free real symbol ``m``: the trainer subtracts the row maximum, and the
identity is proved for every shift ``m``, the maximum included. Nothing here imports ``impl``:
the transcription is text read from the files, checked numerically against them in
:mod:`.numeric_agreement`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy as sp

from descentcheck.registry import ops as registry

from .derivations import derive
from .units import Unit

Expr = sp.Expr
HALF = sp.Rational(1, 2)
SHIFT = sp.Symbol("m")  # the log-softmax shift (the trainer uses the row maximum)


@dataclass(frozen=True)
class Claimed:
    """The trainer's forward value and its backward (vector-Jacobian products) for one unit."""

    op: str
    source: str
    forward: Expr | sp.ImmutableMatrix
    vjp: dict[sp.Symbol, Expr]


def _stable_sigmoid(x: Expr) -> Expr:
    # impl/ops/activations.py: e = exp(-|x|); where(x >= 0, 1, e) / (1 + e)
    return sp.Piecewise((1 / (1 + sp.exp(-x)), x >= 0), (sp.exp(x) / (1 + sp.exp(x)), True))


def _bell(x: Expr, k: int) -> Expr:
    # impl/ops/activations.py: e = exp(-k|x|); e / (1 + e)^2
    e = sp.Piecewise((sp.exp(-k * x), x >= 0), (sp.exp(k * x), True))
    return e / (1 + e) ** 2


def _stable_softplus(x: Expr) -> Expr:
    # impl/ops/activations.py: log1p(exp(-|x|)) + where(x >= 0, x, 0)
    return sp.Piecewise((sp.log(1 + sp.exp(-x)) + x, x >= 0), (sp.log(1 + sp.exp(x)), True))


def _relu(x: Expr) -> Expr:
    # impl/ops/activations.py: where(x > 0, x, 0)
    return sp.Piecewise((x, x > 0), (0, True))


def _relu_derivative(x: Expr) -> Expr:
    # impl/ops/activations.py: (x > 0).astype(float64)
    return sp.Piecewise((1, x > 0), (0, True))


def _dense(u: Unit, gy: tuple[sp.Symbol, ...]) -> Claimed:
    # impl/ops/dense.py: y = x @ W + b; dx = gy @ W.T, dW = x.T @ gy, db = sum_n gy
    (g,) = gy
    *w, b = u.params
    x = u.inputs
    y = sp.Add(*[xi * wi for xi, wi in zip(x, w)]) + b
    vjp = {wi: xi * g for wi, xi in zip(w, x)}
    vjp[b] = g
    vjp.update({xi: g * wi for xi, wi in zip(x, w)})
    return Claimed(u.op, "impl/ops/dense.py", y, vjp)


def _distance(u: Unit, gy: tuple[sp.Symbol, ...], logits: bool) -> Claimed:
    # impl/ops/gaussian.py: diff = x - c, sq = diff^2, r2 = r^2 (per unit: broadcast over inputs)
    # z = -0.5 * sum(sq * r2); y = z or exp(z); gz = gy or gy * y
    # gc = r2 * gz * diff; gr = -r * gz * sq (per unit: summed over inputs); gx = -gz * r2 * diff
    (g,) = gy
    d = u.dim
    x = u.inputs
    c = u.params[:d]
    r = u.params[d:]
    per_unit = len(r) == 1
    radius = [r[0]] * d if per_unit else list(r)
    diff = [xi - ci for xi, ci in zip(x, c)]
    sq = [di * di for di in diff]
    r2 = [ri * ri for ri in radius]
    z = -HALF * sp.Add(*[s * q for s, q in zip(sq, r2)])
    y = z if logits else sp.exp(z)
    gz = g if logits else g * y
    vjp: dict[sp.Symbol, Expr] = {ci: r2[i] * gz * diff[i] for i, ci in enumerate(c)}
    if per_unit:
        vjp[r[0]] = -r[0] * sp.Add(*[gz * s for s in sq])
    else:
        vjp.update({ri: -ri * gz * sq[i] for i, ri in enumerate(r)})
    vjp.update({xi: -gz * r2[i] * diff[i] for i, xi in enumerate(x)})
    return Claimed(u.op, "impl/ops/gaussian.py", y, vjp)


def _distance_matmul(u: Unit, gy: tuple[sp.Symbol, ...], logits: bool) -> Claimed:
    # impl/ops/gaussian.py, matmul path (large batches): shift by any mu (the trainer takes the
    # centroids' mean): x' = x - mu, c' = c - mu, rc = r2 c'; q = sum r2 x'^2,
    # s = sum r2 c'^2, z = x' . rc - (q + s)/2. Backward with S = gz, G1 = gz x', G2 = gz x'^2:
    # gc = r2 (G1 - c' S); gr = -r (G2 - 2 c' G1 + c'^2 S) (per unit: summed over inputs);
    # gx = gz rc - x' gz r2. (Entries the trainer recomputes by the direct formula near a
    # centroid are the direct path's, proved by _distance.)
    (g,) = gy
    d = u.dim
    x = u.inputs
    c = u.params[:d]
    r = u.params[d:]
    per_unit = len(r) == 1
    radius = [r[0]] * d if per_unit else list(r)
    mu = [sp.Symbol(f"mu{i}") for i in range(d)]
    xs = [xi - m for xi, m in zip(x, mu)]
    cs = [ci - m for ci, m in zip(c, mu)]
    r2 = [ri * ri for ri in radius]
    rc = [a * b for a, b in zip(r2, cs)]
    q = sp.Add(*[a * b * b for a, b in zip(r2, xs)])
    s_ = sp.Add(*[a * b for a, b in zip(rc, cs)])
    z = sp.Add(*[a * b for a, b in zip(xs, rc)]) - HALF * (q + s_)
    y = z if logits else sp.exp(z)
    gz = g if logits else g * y
    S = gz
    G1 = [gz * a for a in xs]
    G2 = [gz * a * a for a in xs]
    gsq = [G2[i] - 2 * cs[i] * G1[i] + cs[i] ** 2 * S for i in range(d)]
    vjp: dict[sp.Symbol, Expr] = {ci: r2[i] * (G1[i] - cs[i] * S) for i, ci in enumerate(c)}
    if per_unit:
        vjp[r[0]] = -r[0] * sp.Add(*gsq)
    else:
        vjp.update({ri: -ri * gsq[i] for i, ri in enumerate(r)})
    vjp.update({xi: gz * rc[i] - xs[i] * gz * r2[i] for i, xi in enumerate(x)})
    return Claimed(u.op, "impl/ops/gaussian.py (matmul path)", y, vjp)


_ELEMENTWISE: dict[str, tuple[Callable[[Expr], Expr], Callable[[Expr, Expr], Expr]]] = {
    # op: (forward as the trainer computes it, derivative from (x, y) as the trainer computes it)
    "sigmoid": (_stable_sigmoid, lambda x, y: _bell(x, 1)),
    "tanh": (sp.tanh, lambda x, y: 4 * _bell(x, 2)),
    "softplus": (_stable_softplus, lambda x, y: _stable_sigmoid(x)),
    "relu": (_relu, lambda x, y: _relu_derivative(x)),
    "identity": (lambda x: x, lambda x, y: sp.S.One),
}


def _elementwise(u: Unit, gy: tuple[sp.Symbol, ...]) -> Claimed:
    # impl/ops/activations.py: backward returns gy * derivative(cache)
    fwd, der = _ELEMENTWISE[u.op]
    ys = [fwd(xi) for xi in u.inputs]
    vjp = {xi: g * der(xi, yi) for xi, yi, g in zip(u.inputs, ys, gy)}
    return Claimed(u.op, "impl/ops/activations.py", sp.ImmutableMatrix(ys), vjp)


def _plugin_elementwise(plugin: Any) -> Callable[[Unit, tuple[sp.Symbol, ...]], Claimed]:
    # impl/ops/plugin.py: y = f(x), backward gy * f'(x), with the plugin's numpy rules; their
    # transcription is the plugin's claimed_forward/claimed_derivative (phi and phi' when the
    # numpy rules are phi and phi' lambdified)
    fwd, der = plugin.claimed_rules()

    def rule(u: Unit, gy: tuple[sp.Symbol, ...]) -> Claimed:
        ys = [fwd(xi) for xi in u.inputs]
        vjp = {xi: g * der(xi) for xi, g in zip(u.inputs, gy)}
        return Claimed(u.op, f"impl/ops/plugin.py ({plugin.who})", sp.ImmutableMatrix(ys), vjp)

    return rule


def _add(u: Unit, gy: tuple[sp.Symbol, ...]) -> Claimed:
    # impl/ops/merges.py: y = x_1 + ... + x_m; every input receives gy
    (g,) = gy
    return Claimed(u.op, "impl/ops/merges.py", sp.Add(*u.inputs), {xi: g for xi in u.inputs})


def _concat(u: Unit, gy: tuple[sp.Symbol, ...]) -> Claimed:
    # impl/ops/merges.py: y = concatenate(xs); input k receives the slice of gy it filled
    vjp = dict(zip(u.inputs, gy))
    return Claimed(u.op, "impl/ops/merges.py", sp.ImmutableMatrix(list(u.inputs)), vjp)


def _mse(u: Unit, gy: tuple[sp.Symbol, ...]) -> Claimed:
    # impl/losses.py: d = yhat - y; E = (d * d).sum() / (2n); grad = d / n; here n = 1
    n = 1
    d = [a - t for a, t in zip(u.inputs, u.labels)]
    E = sp.Add(*[di * di for di in d]) / (2 * n)
    return Claimed(u.op, "impl/losses.py", E, {a: di / n for a, di in zip(u.inputs, d)})


def _softmax_cross_entropy(u: Unit, gy: tuple[sp.Symbol, ...]) -> Claimed:
    # impl/losses.py: shifted = z - m; logp = shifted - log(sum(exp(shifted)))
    # E = -(y * logp).sum() / n; grad = (exp(logp) * y.sum() - y) / n; here n = 1
    n = 1
    z, y = u.inputs, u.labels
    shifted = [zk - SHIFT for zk in z]
    lse = sp.log(sp.Add(*[sp.exp(s) for s in shifted]))
    logp = [s - lse for s in shifted]
    E = -sp.Add(*[yk * lp for yk, lp in zip(y, logp)]) / n
    total = sp.Add(*y)
    vjp = {zk: (sp.exp(lp) * total - yk) / n for zk, lp, yk in zip(z, logp, y)}
    return Claimed(u.op, "impl/losses.py", E, vjp)


def _plugin_loss(plugin: Any) -> Callable[[Unit, tuple[sp.Symbol, ...]], Claimed]:
    # impl/plugin_loss.py: the plugin's numpy_value_and_grad, transcribed by its `claimed`
    # (E and dE/dyhat of E lambdified when it gives no numpy rule); here n = 1
    def rule(u: Unit, gy: tuple[sp.Symbol, ...]) -> Claimed:
        E, grads = plugin.claimed_rule(u.inputs, u.labels)
        return Claimed(u.op, f"impl/plugin_loss.py ({plugin.who})", E, dict(grads))

    return rule


#: the built-in ops' claimed rules by derivation name (a plugin's: :func:`rule`)
_RULES: dict[str, Callable[[Unit, tuple[sp.Symbol, ...]], Claimed]] = {
    "dense": _dense,
    "gaussian": lambda u, g: _distance(u, g, logits=False),
    "gaussian_per_unit": lambda u, g: _distance(u, g, logits=False),
    "gaussian_logits": lambda u, g: _distance(u, g, logits=True),
    "gaussian_logits_per_unit": lambda u, g: _distance(u, g, logits=True),
    **{op: _elementwise for op in _ELEMENTWISE},
    "add": _add,
    "concat": _concat,
    "mse": _mse,
    "softmax_cross_entropy": _softmax_cross_entropy,
}


def rule(op: str) -> Callable[[Unit, tuple[sp.Symbol, ...]], Claimed] | None:
    """The claimed rule of a derivation name: built in, or its plugin's; None if neither."""
    found = registry.variant(op)
    if found is not None and found[0].plugin is not None:
        if found[0].kind == "loss":
            return _plugin_loss(found[0].plugin)
        return _plugin_elementwise(found[0].plugin)
    return _RULES.get(op)


def claimed(op: str, dim: int = 3) -> Claimed:
    """The trainer's rules for one unit of ``op`` with ``dim`` inputs."""
    d = derive(op, dim)
    r = rule(op)
    if r is None:
        raise LookupError(f"op {op!r} has no claimed rule (theory/claimed.py)")
    return r(d.unit, d.upstream())


#: the distance ops' derivations: the trainer's distance layers have the expanded (matmul) path
MATMUL_OPS = tuple(v.name for o in registry.BUILTIN if o.family == "distance" for v in o.variants)


def claimed_matmul(op: str, dim: int = 3) -> Claimed:
    """The trainer's expanded (matrix-product) rules for a distance op, for any shift mu."""
    d = derive(op, dim)
    return _distance_matmul(d.unit, d.upstream(), logits="logits" in op)
