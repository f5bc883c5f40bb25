"""The forward rule of one unit of every op in architecture spec v1, as a SymPy expression.

Each op is written for *one unit with D inputs* (``dim = D``), with the symbol names of the JSON
contract in DESIGN.md (plain SymPy symbols, no assumptions, so that ``sympify`` of a printed
expression gives back the very same expression):

=========================  =================================================================
op                         output
=========================  =================================================================
dense                      y = sum_i w_i x_i + b
gaussian                   y = exp(-1/2 sum_i r_i^2 (x_i - c_i)^2)   (per connection radius)
gaussian_per_unit          y = exp(-1/2 r^2 sum_i (x_i - c_i)^2)     (one radius per unit)
gaussian_logits[_per_unit] z = -1/2 sum_i r_i^2 (x_i - c_i)^2        (the same without exp)
sigmoid, tanh, softplus,   y_i = phi(x_i), i < D, a column vector (elementwise, no parameters)
relu, identity
add                        y = x_0 + ... + x_{D-1}      (D incoming branches of width 1)
concat                     y = (x_0, ..., x_{D-1})      (D incoming branches of width 1)
mse                        E = 1/2 sum_k (yhat_k - y_k)^2                   (n = 1 sample)
softmax_cross_entropy      E = -sum_k y_k log softmax(yhat)_k
                             = -sum_k y_k (yhat_k - log sum_m exp(yhat_m))  (n = 1 sample)
=========================  =================================================================

The Gaussian unit is Kurbiel & Khaleghian's distance unit (arXiv:1708.01911), with squared
distances; the losses are DESIGN.md's with n = 1 (for n samples both are the mean of
per-sample terms, and mse's 1/(2n) becomes 1/2). relu is ``Piecewise((x, x > 0), (0, True))``:
it is not differentiable at 0; SymPy differentiates the branches, giving 0 at x = 0, torch's
convention.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

import sympy as sp

from descentcheck.registry import ops as registry

from .errors import DeriveError

Expr = sp.Expr
MAX_DIM = 32


@dataclass(frozen=True)
class Unit:
    """One unit of an op: its symbols by role and its output.

    ``inputs`` are what backward passes gradients to, ``params`` what it keeps gradients for,
    ``labels`` data the loss reads (targets, not differentiated). ``output`` is a scalar
    expression, or a column ``sp.ImmutableMatrix`` for the elementwise ops and concat."""

    op: str
    dim: int
    inputs: tuple[sp.Symbol, ...]
    params: tuple[sp.Symbol, ...]
    output: Expr | sp.ImmutableMatrix
    labels: tuple[sp.Symbol, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def symbols(self) -> tuple[sp.Symbol, ...]:
        """Every symbol in the contract's order: inputs, then parameters, then labels."""
        return (*self.inputs, *self.params, *self.labels)

    @property
    def wrt(self) -> tuple[sp.Symbol, ...]:
        """The symbols the gradient is taken with respect to: parameters, then inputs."""
        return (*self.params, *self.inputs)

    @property
    def is_vector(self) -> bool:
        return isinstance(self.output, sp.MatrixBase)


def vec(prefix: str, dim: int) -> tuple[sp.Symbol, ...]:
    """``prefix0 .. prefix{dim-1}``."""
    return tuple(sp.Symbol(f"{prefix}{i}") for i in range(dim))


def sigmoid(x: Expr) -> Expr:
    """The logistic function 1 / (1 + exp(-x))."""
    return 1 / (1 + sp.exp(-x))


def softplus(x: Expr) -> Expr:
    """log(1 + exp(x))."""
    return sp.log(1 + sp.exp(x))


def relu(x: Expr) -> Expr:
    """max(x, 0) as a Piecewise whose derivative is 0 at x = 0 (torch's convention)."""
    return sp.Piecewise((x, x > 0), (0, True))


def identity(x: Expr) -> Expr:
    return x


#: the built-in activations' forward rules; a plugin's is its ``sympy`` (:func:`activation`)
ACTIVATIONS: dict[str, Callable[[Expr], Expr]] = {
    "sigmoid": sigmoid,
    "tanh": sp.tanh,
    "softplus": softplus,
    "relu": relu,
    "identity": identity,
}


def log_softmax(z: tuple[Expr, ...], k: int) -> Expr:
    """log softmax(z)_k = z_k - log sum_m exp(z_m)."""
    return z[k] - sp.log(sp.Add(*[sp.exp(zm) for zm in z]))


def softmax(z: tuple[Expr, ...], k: int) -> Expr:
    """softmax(z)_k = exp(z_k) / sum_m exp(z_m)."""
    return sp.exp(z[k]) / sp.Add(*[sp.exp(zm) for zm in z])


def _dense(dim: int) -> Unit:
    x, w, b = vec("x", dim), vec("w", dim), sp.Symbol("b")
    y = sp.Add(*[wi * xi for wi, xi in zip(w, x)]) + b
    return Unit("dense", dim, x, (*w, b), y)


def _distance(op: str, dim: int, per_unit: bool, logits: bool) -> Unit:
    x, c = vec("x", dim), vec("c", dim)
    r: tuple[sp.Symbol, ...] = (sp.Symbol("r"),) if per_unit else vec("r", dim)
    radius = [r[0]] * dim if per_unit else list(r)
    z = -sp.Rational(1, 2) * sp.Add(*[ri**2 * (xi - ci) ** 2 for ri, xi, ci in zip(radius, x, c)])
    notes = (
        "squared distances: no square root, so the unit is smooth everywhere, also at x = c",
        "Kurbiel & Khaleghian's distance unit, arXiv:1708.01911"
        + ("; the output layer drops the exp and feeds softmax" if logits else ""),
    )
    return Unit(op, dim, x, (*c, *r), z if logits else sp.exp(z), notes=notes)


def activation(op: str) -> Callable[[Expr], Expr] | None:
    """The forward rule phi of an elementwise op: built in, or its plugin's; None if neither."""
    info = registry.get(op)
    if info is not None and info.plugin is not None:
        return info.plugin.phi
    return ACTIVATIONS.get(op)


def _is_kink(f: Any) -> bool:
    """``f`` is a plugin rule's |u| or sign(u) (``registry.op_plugins.analytic``)."""
    return type(f).__name__ in ("abs_c", "sign_re") or isinstance(f, (sp.Abs, sp.sign))


def _elementwise(op: str, dim: int) -> Unit:
    x = vec("x", dim)
    phi = activation(op)
    assert phi is not None, op
    notes: tuple[str, ...] = (
        f"elementwise: y_i = {op}(x_i); the Jacobian is diagonal, grad[x_i] is its i-th column",
    )
    info = registry.get(op)
    if info is not None and info.plugin is not None:
        notes += (f"from {info.plugin.who}", *info.plugin.notes)
        kinks = sorted(
            {str(k.args[0]) for k in phi(sp.Symbol("x_i")).atoms(sp.Function) if _is_kink(k)}
        )
        if kinks:
            notes += (
                f"not differentiable where {', '.join(kinks)} = 0 (|u| and sign(u) in its rule); "
                "the derivative there uses sign(0) = 0 (torch's convention)",
            )
    if op == "relu":
        notes += (
            "relu is not differentiable at 0 (one-sided derivatives 0 and 1); the derivative is "
            "taken as 0 there (torch's convention), as the Piecewise below says; relu is outside "
            "the convergence theorem, which needs bounded first and second derivatives",
        )
    return Unit(op, dim, x, (), sp.ImmutableMatrix([phi(xi) for xi in x]), notes=notes)


def _add(dim: int) -> Unit:
    x = vec("x", dim)
    return Unit("add", dim, x, (), sp.Add(*x), notes=("D incoming branches of width 1",))


def _concat(dim: int) -> Unit:
    x = vec("x", dim)
    return Unit(
        "concat",
        dim,
        x,
        (),
        sp.ImmutableMatrix(list(x)),
        notes=("D incoming branches of width 1, stacked in the listed order",),
    )


def _mse(dim: int) -> Unit:
    yhat, y = vec("yhat", dim), vec("y", dim)
    E = sp.Rational(1, 2) * sp.Add(*[(a - t) ** 2 for a, t in zip(yhat, y)])
    return Unit(
        "mse",
        dim,
        yhat,
        (),
        E,
        labels=y,
        notes=("n = 1 sample; for n samples E is the mean, and each gradient is divided by n",),
    )


def _softmax_cross_entropy(dim: int) -> Unit:
    yhat, y = vec("yhat", dim), vec("y", dim)
    E = -sp.Add(*[y[k] * log_softmax(yhat, k) for k in range(dim)])
    notes = (
        "n = 1 sample; for n samples E is the mean, and each gradient is divided by n",
        "for a general label vector y: dE/dyhat_k = softmax(yhat)_k * (y_0 + ... + y_{D-1}) - y_k",
        "this is softmax(yhat)_k - y_k exactly when y_0 + ... + y_{D-1} = 1 (one-hot rows, or "
        "any probability vector); the difference is (sum_m y_m - 1) softmax(yhat)_k",
    )
    return Unit("softmax_cross_entropy", dim, yhat, (), E, labels=y, notes=notes)


#: the built-in ops' builders by derivation name (a plugin's: :func:`builder`)
_BUILDERS: dict[str, Callable[[int], Unit]] = {
    "dense": _dense,
    "gaussian": lambda d: _distance("gaussian", d, per_unit=False, logits=False),
    "gaussian_per_unit": lambda d: _distance("gaussian_per_unit", d, per_unit=True, logits=False),
    "gaussian_logits": lambda d: _distance("gaussian_logits", d, per_unit=False, logits=True),
    "gaussian_logits_per_unit": lambda d: _distance(
        "gaussian_logits_per_unit", d, per_unit=True, logits=True
    ),
    **{op: (lambda d, op=op: _elementwise(op, d)) for op in ACTIVATIONS},
    "add": _add,
    "concat": _concat,
    "mse": _mse,
    "softmax_cross_entropy": _softmax_cross_entropy,
}


def builder(op: str) -> Callable[[int], Unit] | None:
    """The forward rule's builder of a derivation name, or None (not registered, or no rule)."""
    found = registry.variant(op)
    if found is None:
        return None
    info, _ = found
    if info.plugin is not None and info.kind == "loss":
        return lambda d: _plugin_loss(info.plugin, d)
    if info.plugin is not None:
        return lambda d: _elementwise(op, d)
    return _BUILDERS.get(op)


def _plugin_loss(plugin: object, dim: int) -> Unit:
    """A plugin's loss of one sample, ``E(yhat, y)`` from its ``sympy`` rule."""
    yhat, y = vec("yhat", dim), vec("y", dim)
    E = plugin.expression(yhat, y)  # type: ignore[attr-defined]
    notes = (
        "n = 1 sample; for n samples E is the mean, and each gradient is divided by n",
        f"from {plugin.who}",  # type: ignore[attr-defined]
        *plugin.notes,  # type: ignore[attr-defined]
    )
    return Unit(plugin.name, dim, yhat, (), E, labels=y, notes=notes)  # type: ignore[attr-defined]


def min_dim(op: str) -> int:
    """The least number of inputs D of ``op``'s one-unit derivation (the op registry's)."""
    found = registry.variant(op)
    return found[0].min_dim if found is not None else 1


def check_request(op: str, dim: object) -> int:
    """Validate ``op`` and ``dim``; return dim as an int or raise a one-line DeriveError."""
    known = ", ".join(registry.derive_names())
    if not isinstance(op, str) or builder(op) is None:
        from descentcheck.registry import optimizers

        updates = ", ".join(optimizers.names())
        from descentcheck.registry.plugins import stray_groups

        raise DeriveError(
            f"unknown op {op!r}; known ops: {known}; optimizers: {updates}{stray_groups()}"
        )
    lo = min_dim(op)
    if isinstance(dim, bool) or not isinstance(dim, Integral) or not lo <= dim <= MAX_DIM:
        raise DeriveError(f"dim for {op} must be an integer from {lo} to {MAX_DIM}, got {dim!r}")
    return int(dim)


def unit(op: str, dim: int = 3) -> Unit:
    """The forward rule of one unit of ``op`` with ``dim`` inputs."""
    dim = check_request(op, dim)
    return builder(op)(dim)  # type: ignore[misc]
