"""Gradient descent with adaptive momentum, as in the convergence papers.

Wu et al. (2008, one hidden layer) and Agarwal, Klobusicky & Schonfeld (2021, DAGs with skip
connections; arXiv 1705.07404) train with::

    dw_k = -lr * g_k + alpha_k * dw_{k-1},    w_{k+1} = w_k + dw_k,    dw_{-1} = 0
    alpha_k = tau * ||g_k|| / ||dw_{k-1}||   if dw_{k-1} != 0, else 0

so from k = 1 on (in each group whose previous step is not 0) the momentum term has length
``tau * ||g_k||`` (at k = 0 it is 0: the first step is gradient descent's): it vanishes with the
gradient, which is what allows a decrease at every step (the step is at most
``(lr + tau) ||g_k||`` long). The papers attach a separate coefficient to each group of weights
(each weight vector of the network), with norms taken over that group. ``group`` chooses the
grouping:

* ``"array"`` (default): one coefficient per parameter array (``h1.W``, ``h1.b``, ...), the finest
  grouping and the closest to the papers' per-weight-vector coefficients;
* ``"unit"``: one per unit, its incoming weights and its bias together (the form of Wu et al.,
  one weight vector per hidden unit): for dense ``NAME.W`` (in, units) and ``NAME.b`` (units,),
  column j of W with b[j]; for distance layers row j of ``NAME.centroids`` with row j (or entry
  j, per-unit radius) of ``NAME.radii``. Any other array's unit is its first index (its row);
* ``"node"``: one per spec node (a layer's weights and bias together);
* ``"global"``: one for all parameters, norms over the whole parameter vector.

The exact descent region ``tau < min(lr, 2/L - lr)`` (``descentcheck.theory.descent``) holds for
every grouping, since each group's momentum term has length ``tau * ||g_G||`` and the squared
lengths add up to ``tau^2 ||g_k||^2``; where a group's term is 0 (k = 0, or its previous step
0) the term is shorter and the region is sufficient, not exact. It is exact for a free direction
of ``dw_{k-1}``; along one run that direction comes from the same loss's history, and there too
it is sufficient (``theory.descent``'s region words give the PEPit number).

Squared norms are summed per parameter array first (``numpy.add.reduceat`` over the arrays laid
end to end, the same call in the dict and the flat form, so both give the same bits), then per
group in parameter order. The sums come to the host (one number per array) and the coefficients
are computed there, in numpy, whatever the arrays' backend. On another backend each array's sum
is its own reduction: CuPy's ``add.reduceat`` takes differences of a running sum, which would
lose the relative accuracy of a small array's norm next to a large one's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from descentcheck.registry.optimizers import ADAPTIVE_GROUPINGS as GROUPINGS

from ..backend import namespace, to_host
from ..errors import HyperparameterError
from .base import (
    Array,
    FlatOptimizer,
    Layout,
    Optimizer,
    Params,
    StepInfo,
    check_number,
    zeros_like,
)


def group_of(key: str, group: str) -> str:
    if group == "array":
        return key
    if group == "node":
        return key.rsplit(".", 1)[0]
    return "*"


def sumsq_per_array(v: Array, starts: Array, sizes: Array) -> Array:
    """``sum(a * a)`` of each array ``a = v[start:start + size]`` of the flat vector ``v`` (on
    the host; ``starts`` and ``sizes`` are numpy arrays)."""
    xp = namespace(v)
    sq = v * v
    if xp is not np:
        bounds = zip(starts.tolist(), (starts + sizes).tolist())
        return to_host(xp.stack([sq[a:b].sum() for a, b in bounds])) if len(starts) else np.zeros(0)
    nonempty = sizes > 0
    if nonempty.all():
        return np.add.reduceat(sq, starts)
    out = np.zeros(len(sizes))
    if nonempty.any():
        out[nonempty] = np.add.reduceat(sq, starts[nonempty])
    return out


def _coefficients(tau: float, g2: Array, d2: Array) -> Array:
    """``alpha_G = tau * sqrt(g2_G) / sqrt(d2_G)``, and 0 where ``d2_G = 0``."""
    num = np.sqrt(g2)
    num *= tau
    return np.divide(num, np.sqrt(d2), out=np.zeros(len(g2)), where=d2 > 0.0)


#: a sum of squares outside [_LOW, _HIGH] may have lost entries to underflow, or overflowed
_LOW, _HIGH = 2.0**-960, 2.0**960
#: a coefficient below this may have underflowed (``_factors``)
_NORMAL = float(np.finfo(np.float64).tiny)


def _rescued(
    alpha: Array, tau: float, g2: Array, d2: Array, g: Array, d: Array, of_entry: Array
) -> Array:
    """``alpha`` with each group whose sum of squares left ``[_LOW, _HIGH]`` recomputed from
    norms scaled by the group's largest entry (as LAPACK's ``nrm2``): a held-out review saw a
    previous step of entries ~1e-170 (squares 0) lose its momentum term, ``alpha = 0``, and
    gradients ~1e160 (squares inf) give NaN, where the formula's step is finite. ``g``, ``d``:
    the flat vectors; ``of_entry``: each entry's group. The other groups keep their bits."""
    bad = ~((g2 >= _LOW) & (g2 <= _HIGH) & (d2 >= _LOW) & (d2 <= _HIGH))
    if not bad.any():
        return alpha
    n = len(alpha)
    norm_g, norm_d = _scaled_norms(to_host(g), of_entry, n), _scaled_norms(to_host(d), of_entry, n)
    with np.errstate(over="ignore"):
        fixed = np.divide(tau * norm_g, norm_d, out=np.zeros(n), where=norm_d > 0.0)
    out = np.array(alpha, dtype=np.float64)
    out[bad] = fixed[bad]
    return out


def _factors(
    alpha: Array, tau: float, g: Array, d: Array, of_entry: Array
) -> tuple[Array, Array | None]:
    """What multiplies each group's previous step: ``(alpha, None)``, or where ``alpha``
    overflowed to inf or fell below the smallest normal (0 included) though the momentum term
    ``alpha dw_{k-1,G}`` (of norm ``tau ||g_G||``) is finite and not 0 -- a previous step of
    entries near 2^-1023 under a gradient of 1, found by Hypothesis, or a gradient of 2^-1000
    under a previous step of 2^500, found by adaptive-update-from-drawn-state-equals-rule, where
    alpha = 2^-1500 is 0 and the term, 2^-1000 in size, was lost -- ``tau ||g_G||`` with divisors
    ``||dw_{k-1,G}||`` (1 elsewhere): the step is divided by its norm first, so the term is the
    same vector, rounded twice instead of once, instead of inf * 0 = NaN in its zero entries or
    nothing. ``g``, ``d``: the flat vectors; ``of_entry``: each entry's group. Groups with a
    finite, normal ``alpha`` keep their bits."""
    over = np.isinf(alpha) | (np.abs(alpha) < _NORMAL)
    if tau == 0.0 or not over.any():  # tau = 0: every term is 0, alpha = 0 is exact
        return alpha, None
    n = len(alpha)
    norm_g, norm_d = _scaled_norms(to_host(g), of_entry, n), _scaled_norms(to_host(d), of_entry, n)
    with np.errstate(over="ignore"):
        num = tau * norm_g
    over &= np.isfinite(num) & (num > 0.0) & (norm_d > 0.0)
    if not over.any():
        return alpha, None
    mult, div = np.array(alpha, dtype=np.float64), np.ones(n)
    mult[over], div[over] = num[over], norm_d[over]
    return mult, div


def _divided(layout: Layout, d: Array, by: Array) -> dict[str, Array]:
    """``d / by`` (flat, ``by`` per entry on the host) as arrays laid out by ``layout``."""
    q = d / namespace(d).asarray(by)
    return {
        k: q[a:b].reshape(shape)
        for k, a, b, shape in zip(layout.names, layout.starts, layout.stops, layout.shapes)
    }


def _scaled_norms(v: Array, of_entry: Array, n: int) -> Array:
    """Each group's 2-norm, ``m_G sqrt(sum (v / m_G)^2)`` with ``m_G = max |v_G|``."""
    m = np.zeros(n)
    np.maximum.at(m, of_entry, np.abs(v))
    scale = m[of_entry]
    u = np.divide(v, scale, out=np.zeros(len(v)), where=scale > 0.0)
    return m * np.sqrt(np.bincount(of_entry, weights=u * u, minlength=n))


def unit_index(names: Sequence[str], shapes: Sequence[tuple[int, ...]]) -> tuple[list[str], Array]:
    """The ``"unit"`` grouping of arrays laid end to end (row-major): the units' labels
    ``NODE[j]`` in order of first appearance, and each entry's unit number."""
    labels: dict[str, int] = {}
    parts = []
    for key, shape in zip(names, shapes):
        node, param = key.rsplit(".", 1) if "." in key else (key, "")
        size = int(np.prod(shape))
        if param == "W" and len(shape) == 2:  # (in, units): column j is unit j
            unit = np.tile(np.arange(shape[1]), shape[0])
        elif len(shape) >= 1 and shape[0] > 0:  # (units, ...): row j is unit j
            unit = np.repeat(np.arange(shape[0]), size // shape[0])
        else:
            unit = np.zeros(size, dtype=np.intp)
        ids = [
            labels.setdefault(f"{node}[{j}]", len(labels))
            for j in range(int(unit.max(initial=-1)) + 1)
        ]
        parts.append(np.asarray(ids, dtype=np.intp)[unit] if size else np.zeros(0, dtype=np.intp))
    return list(labels), np.concatenate(parts) if parts else np.zeros(0, dtype=np.intp)


class _Groups:
    """The grouping of a fixed list of parameter arrays: which group each array belongs to (for
    ``"unit"``: which group each entry belongs to, ``of_entry``)."""

    def __init__(
        self,
        names: Sequence[str],
        group: str,
        shapes: Sequence[tuple[int, ...]],
    ) -> None:
        self.of_entry: Array | None = None
        if group == "unit":
            units, self.of_entry = unit_index(names, shapes)
            self.names = tuple(units)
            self.of_array = []
            self.identity = False
            return
        labels = [group_of(k, group) for k in names]
        self.names = tuple(dict.fromkeys(labels))
        index = {G: i for i, G in enumerate(self.names)}
        self.of_array = [index[G] for G in labels]
        self.identity = group == "array"

    def entry_groups(self, sizes: Sequence[int] | Array) -> Array:
        """Each flat entry's group number."""
        if self.of_entry is not None:
            return self.of_entry
        return np.repeat(np.asarray(self.of_array, dtype=np.intp), sizes)

    def entry_sums(self, v: Array) -> Array:
        """Per-unit sums of ``v * v`` over the flat vector ``v`` (on the host, entries added in
        order by ``numpy.bincount``)."""
        sq = to_host(v * v)
        return np.bincount(self.of_entry, weights=sq, minlength=len(self.names))

    def sums(self, per_array: Array) -> Array:
        """Per-group sums of per-array values, added in parameter order as Python floats."""
        if self.identity:
            return per_array
        out = [0.0] * len(self.names)
        for i, v in zip(self.of_array, per_array.tolist()):
            out[i] += v
        return np.array(out)


def adaptive_momentum(lr: float, tau: float, group: str = "array") -> Optimizer:
    """``dw_k = -lr * g_k + alpha_k * dw_{k-1}``, ``alpha_k = tau * ||g_G|| / ||dw_{k-1,G}||`` per
    group G (0 where ``dw_{k-1,G} = 0``, so ``dw_0 = -lr * g_0``); lr > 0, tau >= 0, ``group``
    one of ``GROUPINGS`` (the module docstring)."""
    lr = check_number("learning rate", lr, low_open=True)
    tau = check_number("tau", tau)
    if group not in GROUPINGS:
        raise HyperparameterError(
            f"unknown momentum grouping {group!r}; known: {', '.join(GROUPINGS)}"
        )

    def init(params: Mapping[str, Array]) -> Params:
        return zeros_like(params)  # dw_{-1} = 0

    def update(
        grads: Mapping[str, Array], prev: Mapping[str, Array], params: Mapping[str, Array]
    ) -> tuple[Params, Params, StepInfo]:
        names = list(grads)
        layout = Layout.of(grads)
        starts = np.asarray(layout.starts, dtype=np.intp)
        sizes = np.asarray(layout.stops, dtype=np.intp) - starts
        groups = _Groups(names, group, layout.shapes)
        if groups.of_entry is not None:
            g_flat, d_flat = layout.flatten(grads), layout.flatten(prev)
            g2, d2 = groups.entry_sums(g_flat), groups.entry_sums(d_flat)
            alpha_v = _coefficients(tau, g2, d2)
            alpha_v = _rescued(alpha_v, tau, g2, d2, g_flat, d_flat, groups.of_entry)
            mult, div = _factors(alpha_v, tau, g_flat, d_flat, groups.of_entry)
            coef = mult[groups.of_entry]
            if div is not None:
                prev = _divided(layout, d_flat, div[groups.of_entry])
            dw = {
                k: -(lr * grads[k])
                + namespace(grads[k]).asarray(coef[a:b]).reshape(grads[k].shape) * prev[k]
                for k, a, b in zip(names, layout.starts, layout.stops)
            }
            return dw, dw, StepInfo(max(alpha_v.tolist(), default=0.0))
        g_flat, d_flat = layout.flatten(grads), layout.flatten(prev)
        g2 = groups.sums(sumsq_per_array(g_flat, starts, sizes))
        d2 = groups.sums(sumsq_per_array(d_flat, starts, sizes))
        alpha_a = _coefficients(tau, g2, d2)
        of_entry = groups.entry_groups(sizes)
        alpha_r = _rescued(alpha_a, tau, g2, d2, g_flat, d_flat, of_entry)
        mult, div = _factors(alpha_r, tau, g_flat, d_flat, of_entry)
        if div is not None:
            prev = _divided(layout, d_flat, div[of_entry])
        alpha, mult = alpha_r.tolist(), mult.tolist()
        a_of = {k: mult[groups.of_array[i]] for i, k in enumerate(names)}
        dw = {k: -(lr * g) + a_of[k] * prev[k] for k, g in grads.items()}
        # the trajectory reports one number: the coefficient itself when there is one group,
        # else the largest over the groups
        shown = max(alpha) if alpha else 0.0
        return dw, dw, StepInfo(shown)

    return Optimizer(
        "adaptive_momentum",
        {"lr": lr, "tau": tau, "group": group},
        init,
        update,
        lambda layout: _flat_form(lr, tau, group, layout),
    )


def _flat_form(lr: float, tau: float, group: str, layout: Layout) -> FlatOptimizer:
    """The flat form: the same arithmetic on the trainer's one vector, updated in place."""
    starts = np.asarray(layout.starts, dtype=np.intp)
    sizes = np.asarray(layout.stops, dtype=np.intp) - starts
    groups = _Groups(layout.names, group, layout.shapes)
    of_array = np.asarray(groups.of_array, dtype=np.intp)

    reduceat = np.add.reduceat if len(starts) and sizes.all() else None
    size_list = sizes.tolist()

    def flat_update(g: Array, prev: Array, w: Array) -> tuple[Array, Array, float]:
        xp = namespace(g)
        if groups.of_entry is not None:  # one coefficient per unit
            g2, d2 = groups.entry_sums(g), groups.entry_sums(prev)
            alpha = _rescued(_coefficients(tau, g2, d2), tau, g2, d2, g, prev, groups.of_entry)
            mult, div = _factors(alpha, tau, g, prev, groups.of_entry)
            if div is not None:
                prev /= xp.asarray(div[groups.of_entry])
            prev *= xp.asarray(mult[groups.of_entry])
            prev += xp.multiply(g, -lr, out=g)
            return prev, prev, max(alpha.tolist(), default=0.0)
        if reduceat is not None and xp is np:  # the same call as sumsq_per_array's
            g2 = groups.sums(reduceat(g * g, starts))
            d2 = groups.sums(reduceat(prev * prev, starts))
        else:
            g2 = groups.sums(sumsq_per_array(g, starts, sizes))
            d2 = groups.sums(sumsq_per_array(prev, starts, sizes))
        alpha = _coefficients(tau, g2, d2)
        of_entry = groups.entry_groups(size_list)
        alpha = _rescued(alpha, tau, g2, d2, g, prev, of_entry)
        mult, div = _factors(alpha, tau, g, prev, of_entry)
        if div is not None:
            prev /= xp.asarray(div[of_entry])
        # dw_k = -(lr g_k) + alpha prev, written over prev (which it replaces)
        if len(mult) == 1:
            prev *= float(mult[0])
        else:
            prev *= xp.repeat(xp.asarray(mult[of_array]), size_list)
        prev += xp.multiply(g, -lr, out=g)
        return prev, prev, max(alpha.tolist(), default=0.0)

    return FlatOptimizer(lambda w: namespace(w).zeros_like(w), flat_update)
