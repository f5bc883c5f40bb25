"""Agreement (b), numeric: lambdified derivations against the trainer's layer objects.

A *check* module: it imports ``descentcheck.impl`` (the derivations never do). For a layer of the
trainer with several units and a batch of n samples, the reference is composed from the one-unit
derivations alone: with ``G_s(x_n, theta_j) = d y_j / d s`` lambdified from :func:`derive`,

    dE/dtheta_j  = sum_n gy_nj G_theta(x_n, theta_j)          (parameters of unit j)
    dE/dx_ni     = sum_j gy_nj G_{x_i}(x_n, theta_j)          (inputs, passed back)

and for the losses ``dE/dyhat_n = (1/n) dE_n/dyhat_n``, ``E = (1/n) sum_n E_n``.

Error measure. Each entry's error is divided by ``scale = sum of |terms|`` (``sum_n |gy_nj|
|G_theta|`` above; ``|yhat| + |y|`` for mse, ``p sum|y| + |y|`` for cross-entropy's gradient and
``|y| (|yhat| + |lse| + |log p| + 1)`` for its value (the log of a sum >= 1 rounds to ~eps
absolute), ``|y| + |y|^2`` for the ``y (1 - y)`` of sigmoid, ``1 + y^2`` for ``1 - y^2`` of tanh; a
plugin loss's gradient row by row, each entry against ``|g| + max_k |g_k|`` of its row, its value
against ``sum |E_n|``): the size of the numbers the two computations add, so a sum that cancels to
~0 is judged by the rounding of its terms. Both sides then agree to a few eps; the tolerance is
``1e-12``. :func:`compare_layer` also reports the plain entrywise relative error ``|a - b| / |b|``,
which the trainer's ``y (1 - y)`` and ``1 - y^2`` cannot keep small where the activation saturates
(their relative error grows like ``eps / (1 - y)``): a property of those formulas, reported by
:func:`saturation_report`.

The trainer's distance layers switch, for large batches, to an expanded matrix-product form
(``impl.ops.gaussian``, matmul path); ``compare_layer(..., matmul=True)`` forces that path at any
size and judges it against the size of the terms *it* adds (:func:`_matmul_scales`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from typing import TYPE_CHECKING

import mpmath
import numpy as np
import sympy as sp

from descentcheck.registry import ops as registry

from .derivations import derive

if TYPE_CHECKING:
    from descentcheck.impl.ops import Layer

Array = np.ndarray
RTOL = 1e-12
DPS = 60  # 1 - tanh(x)^2 at |x| = 40 cancels 35 digits
TINY = 1e-300


def layer_ops() -> tuple[str, ...]:
    """Every derivation of a layer op in the op registry (plugins' included)."""
    return registry.derive_names("parametric", "elementwise", "merge")


def loss_ops() -> tuple[str, ...]:
    return registry.derive_names("loss")


@dataclass(frozen=True)
class Comparison:
    """Trainer against derivation for one layer call: worst errors and where they occur."""

    op: str
    max_scaled_error: float  # max |a - b| / scale
    max_rel_error: float  # max |a - b| / |b|, entries with b != 0
    worst: str  # the array and index of the worst scaled error

    @property
    def ok(self) -> bool:
        return self.max_scaled_error <= RTOL


@cache
def _lambdified(op: str, dim: int) -> tuple[tuple[sp.Symbol, ...], dict[str, Callable]]:
    """Functions of the unit's symbols on numpy arrays: ``"y"`` the output, and one per
    gradient. Evaluated in mpmath at :data:`DPS` digits, entry by entry, and rounded once to
    float64, so the reference is the derivation's exact value to ~1e-16 (a float64
    evaluation of e.g. ``log(exp(x) + 1)`` would itself lose accuracy for x << 0)."""
    d = derive(op, dim)
    syms = d.symbols

    def scalar(e: sp.Expr | sp.MatrixBase) -> sp.Expr:
        return e[0] if isinstance(e, sp.MatrixBase) else e

    exprs = {"y": scalar(d.output)}
    for s, g in d.grad.items():
        exprs[s.name] = scalar(g) if d.unit.is_vector else g
    fns = {}
    for name, e in exprs.items():
        f = sp.lambdify(syms, e, "mpmath")
        fns[name] = _vectorized(f)
    return syms, fns


def _vectorized(f: Callable) -> Callable[..., Array]:
    def to_mpf(v: float) -> mpmath.mpf:
        return mpmath.mpf(float(v))

    def call(*args: Array) -> Array:
        with mpmath.workdps(DPS):
            out = np.vectorize(lambda *a: float(f(*map(to_mpf, a))), otypes=[np.float64])(*args)
        return np.asarray(out, dtype=np.float64)

    return call


def _err(a: Array, b: Array, scale: Array, what: str, acc: dict) -> None:
    a, b, scale = np.asarray(a), np.asarray(b), np.asarray(scale)
    if not a.shape == b.shape == scale.shape:
        raise ValueError(f"{what}: shapes {a.shape}, {b.shape}, {scale.shape} differ")
    scaled = np.abs(a - b) / np.maximum(scale, TINY)
    nz = b != 0
    rel = np.where(nz, np.abs(a - b) / np.where(nz, np.abs(b), 1.0), np.where(a == 0, 0.0, np.inf))
    if scaled.size:
        i = np.unravel_index(int(np.argmax(scaled)), scaled.shape)
        if scaled[i] >= acc["scaled"]:
            acc["scaled"], acc["worst"] = float(scaled[i]), f"{what}{[int(j) for j in i]}"
        acc["rel"] = max(acc["rel"], float(np.max(rel)))


def _reference_parametric(op: str, params: Mapping[str, Array], x: Array, gy: Array) -> dict:
    """Reference gradients of a dense or distance layer from its one-unit derivation."""
    D = x.shape[1]
    syms, f = _lambdified(op, D)
    X = [x[:, None, i] for i in range(D)]  # (n, 1) each
    if op == "dense":
        W, b = params["W"], params["b"]
        P = [W[None, i, :] for i in range(D)] + [b[None, :]]  # (1, U) each
        keys = [("W", (i, slice(None))) for i in range(D)] + [("b", (slice(None),))]
    else:
        C, R = params["centroids"], params["radii"]
        P = [C[None, :, i] for i in range(D)]
        keys = [("centroids", (slice(None), i)) for i in range(D)]
        if R.ndim == 1:
            P += [R[None, :]]
            keys += [("radii", (slice(None),))]
        else:
            P += [R[None, :, i] for i in range(D)]
            keys += [("radii", (slice(None), i)) for i in range(D)]
    args = [*X, *P]
    y = np.broadcast_to(f["y"](*args), gy.shape)
    grads: dict[str, tuple[Array, Array]] = {
        k: (np.zeros_like(params[k]), np.zeros_like(params[k])) for k in params
    }
    param_syms = syms[D:]
    for s, (key, idx) in zip(param_syms, keys):
        G = np.broadcast_to(f[s.name](*args), gy.shape)  # (n, U)
        val, scale = grads[key]
        val[idx] += (gy * G).sum(axis=0)
        scale[idx] += np.abs(gy * G).sum(axis=0)
    gx = np.zeros_like(x)
    gx_scale = np.zeros_like(x)
    for i in range(D):
        G = np.broadcast_to(f[f"x{i}"](*args), gy.shape)
        gx[:, i] = (gy * G).sum(axis=1)
        gx_scale[:, i] = np.abs(gy * G).sum(axis=1)
    # a dense output sums signed terms (x W and b): judged against their sizes, as its gradients
    # are; a distance layer's terms share one sign, so |y| is their size
    y_scale = np.abs(x) @ np.abs(W) + np.abs(b) if op == "dense" else np.abs(y)
    return {"y": (y, y_scale), "x": [(gx, gx_scale)], "params": grads}


def _reference_elementwise(op: str, x: Array, gy: Array) -> dict:
    _, f = _lambdified(op, 1)
    y = np.asarray(f["y"](x), dtype=np.float64) * np.ones_like(x)
    G = np.asarray(f["x0"](x), dtype=np.float64) * np.ones_like(x)
    # the trainer's formulas add terms of these sizes (see the module docstring)
    term = {
        "sigmoid": np.abs(y) + y * y,
        "tanh": 1.0 + y * y,
    }.get(op, np.abs(G))
    return {"y": (y, np.abs(y)), "x": [(gy * G, np.abs(gy) * term)], "params": {}}


def layer_for(op: str, in_widths: tuple[int, ...], units: int = 1) -> Layer:
    """The trainer's layer object for the derivation ``op`` (its node settings from the op
    registry: ``*_per_unit`` is ``radius: per_unit``)."""
    from descentcheck.impl.ops import factory

    found = registry.variant(op)
    if found is None:
        raise LookupError(f"op {op!r} is not registered")
    info, settings = found
    make = factory(info.name)
    if make is None:  # a loss: registered, but no layer
        raise LookupError(f"{op!r} is a {info.kind}, not a layer op")
    node: dict = {"units": units, **settings}
    return make("L", tuple(f"in{k}" for k in range(len(in_widths))), in_widths, node)


@contextmanager
def matmul_path() -> Iterator[None]:
    """Make the trainer's distance layers take their matrix-product evaluation at every size
    (``impl.ops.gaussian.MATMUL_MIN_SIZE`` lowered to 0 for the duration)."""
    from descentcheck.impl.ops import gaussian

    if not hasattr(gaussian, "MATMUL_MIN_SIZE"):
        raise LookupError("the trainer's distance layers have no matmul path")
    saved = gaussian.MATMUL_MIN_SIZE
    gaussian.MATMUL_MIN_SIZE = 0
    try:
        yield
    finally:
        gaussian.MATMUL_MIN_SIZE = saved


def _matmul_scales(op: str, params: Mapping[str, Array], x: Array, gy: Array, y: Array) -> dict:
    """Term sizes of the trainer's expanded (matmul) distance formulas, which add terms of size
    ``r^2 (|x'| + |c'|)^2`` with ``x' = x - mu``, ``c' = c - mu`` for a shift ``mu`` inside the
    centroids' range; bounded here by ``B = |x| + |c| + 2 max_j |c_j|`` (whatever mu the trainer
    picks in that range)."""
    C, R = params["centroids"], params["radii"]
    per_unit = R.ndim == 1
    r2 = np.broadcast_to((R * R)[:, None] if per_unit else R * R, C.shape)
    B = np.abs(x)[:, None, :] + np.abs(C)[None] + 2 * np.max(np.abs(C), axis=0)  # (n, units, in)
    logits = "logits" in op
    a = np.abs(gy if logits else gy * y)  # |dE/dz|
    z_terms = 0.5 * np.einsum("nud,ud->nu", B * B, r2)
    gsq = np.einsum("nu,nud->ud", a, B * B)
    gr = np.abs(R) * gsq.sum(axis=1) if per_unit else np.abs(R) * gsq
    return {
        "y": z_terms if logits else np.abs(y) * (1.0 + z_terms),
        "x": np.einsum("nu,ud,nud->nd", a, r2, B),
        "centroids": r2 * np.einsum("nu,nud->ud", a, B),
        "radii": gr,
    }


def compare_layer(
    op: str,
    xs: list[Array],
    params: Mapping[str, Array],
    gy: Array,
    units: int = 1,
    matmul: bool = False,
    terms: str = "own",
) -> Comparison:
    """Run the trainer's layer forward and backward on ``xs`` (each (n, width)), ``params``
    (short names: ``W``, ``b``, ``centroids``, ``radii``) and upstream ``gy``; compare the
    output and every gradient with the derivation.

    ``matmul=True`` (distance ops) forces the trainer's expanded matrix-product path and judges
    each entry against the size of *its* terms (:func:`_matmul_scales`); ``terms="direct"``
    judges it against the direct formula's terms instead (a measurement, not a claim)."""
    layer = layer_for(op, tuple(x.shape[1] for x in xs), units)
    full = {layer.keys[k]: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    if matmul:
        with matmul_path():
            y, cache_ = layer.forward(full, xs)
            gxs, gparams = layer.backward(full, cache_, gy)
    else:
        y, cache_ = layer.forward(full, xs)
        gxs, gparams = layer.backward(full, cache_, gy)
    kind = registry.variant(op)[0].kind  # type: ignore[index]
    if kind == "elementwise":
        ref = _reference_elementwise(op, xs[0], gy)
    elif op == "add":
        ref = {
            "y": (sum(xs), sum(np.abs(x) for x in xs)),
            "x": [(gy, np.abs(gy))] * len(xs),
            "params": {},
        }
    elif op == "concat":
        bounds = np.cumsum([0, *(x.shape[1] for x in xs)])
        ref = {
            "y": (np.concatenate(xs, axis=1), np.abs(np.concatenate(xs, axis=1))),
            "x": [(gy[:, a:b], np.abs(gy[:, a:b])) for a, b in pairwise(bounds)],
            "params": {},
        }
    else:
        ref = _reference_parametric(op, params, xs[0], gy)
    if matmul and terms == "own":
        sc = _matmul_scales(op, params, xs[0], gy, ref["y"][0])
        ref["y"] = (ref["y"][0], np.maximum(ref["y"][1], sc["y"]))
        ((gx_ref, gx_sc),) = ref["x"]
        ref["x"] = [(gx_ref, np.maximum(gx_sc, sc["x"]))]
        for key in ("centroids", "radii"):
            val, scale = ref["params"][key]
            ref["params"][key] = (val, np.maximum(scale, sc[key]))
    acc = {"scaled": 0.0, "rel": 0.0, "worst": ""}
    _err(y, *ref["y"], "y", acc)
    for k, (gx, (rx, sx)) in enumerate(zip(gxs, ref["x"])):
        _err(gx, rx, sx, f"dx{k}", acc)
    for key, (rv, sv) in ref["params"].items():
        _err(gparams[key], rv, sv, f"d{key}", acc)
    return Comparison(op, acc["scaled"], acc["rel"], acc["worst"])


def compare_loss(op: str, yhat: Array, y: Array) -> Comparison:
    """The trainer's loss value and gradient against the derivation (n samples, D outputs)."""
    from descentcheck.impl.losses import LOSSES

    n, D = yhat.shape
    _, f = _lambdified(op, D)
    args = [*(yhat[:, k] for k in range(D)), *(y[:, k] for k in range(D))]
    E_n = np.broadcast_to(f["y"](*args), (n,))
    grad = np.stack([np.broadcast_to(f[f"yhat{k}"](*args), (n,)) for k in range(D)], axis=1) / n
    if op == "mse":
        g_scale = (np.abs(yhat) + np.abs(y)) / n
        e_terms = (yhat - y) ** 2 / 2
    elif op != "softmax_cross_entropy":  # a plugin's: rowwise, against its largest entries
        g_scale = np.abs(grad) + np.abs(grad).max(axis=1, keepdims=True)
        e_terms = np.abs(E_n)
    else:
        shifted = yhat - yhat.max(axis=1, keepdims=True)
        p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        g_scale = (p * np.abs(y).sum(axis=1, keepdims=True) + np.abs(y)) / n
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        lse = yhat.max(axis=1, keepdims=True) + np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        # + 1: logsumexp is the log of a sum >= 1, so both sides round it to ~eps absolute,
        # however small the loss (yhat = (0, -11), y = (1, 0): E = 1.7e-5, both off by ~eps)
        e_terms = np.abs(y) * (np.abs(yhat) + np.abs(lse) + np.abs(logp) + 1.0)
    value, g = LOSSES[op].value_and_grad(yhat, y)
    acc = {"scaled": 0.0, "rel": 0.0, "worst": ""}
    _err(np.array([value]), np.array([E_n.sum() / n]), np.array([e_terms.sum() / n]), "E", acc)
    _err(g, grad, g_scale, "dyhat", acc)
    return Comparison(op, acc["scaled"], acc["rel"], acc["worst"])


def saturation_report(xs: Array | None = None) -> dict[str, float]:
    """Worst entrywise relative error of the trainer's activation derivatives against the
    derivation on a grid of inputs (default -40..40): large for ``y (1 - y)`` and ``1 - y^2``
    once the unit saturates. Reported, not asserted."""
    x = np.linspace(-40.0, 40.0, 801) if xs is None else np.asarray(xs, dtype=np.float64)
    out = {}
    for op in ("sigmoid", "tanh", "softplus"):
        c = compare_layer(op, [x[:, None]], {}, np.ones((len(x), 1)))
        out[op] = c.max_rel_error
    return out
