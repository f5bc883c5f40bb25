"""Gaussian distance layer (Kurbiel & Khaleghian 2017, arXiv:1708.01911: its distance unit).

With centroids ``c`` (units, in) and radii ``r`` (units, in) for ``radius="per_connection"`` or
(units,) for ``"per_unit"``::

    z_j = -1/2 * sum_i r_ji^2 (x_i - c_ji)^2        (gaussian_logits: y = z)
    y_j = exp(z_j)                                   (gaussian)

Squared distances only: no square root, so no singular derivative at ``x = c``; ``z <= 0`` for real
inputs, so ``exp`` never overflows however large the input (a large real ``z``'s ``exp`` is
:func:`.vector_math.exp`: MKL's where numpy's is a scalar loop and ``mkl_umath`` is installed).
With ``gz = dE/dz`` (``gy * y`` for gaussian, ``gy`` for logits)::

    dE/dc_ji = sum_n gz_nj r_ji^2 (x_ni - c_ji)
    dE/dr_ji = -sum_n gz_nj r_ji (x_ni - c_ji)^2     (per_unit: summed over i)
    dE/dx_ni = -sum_j gz_nj r_ji^2 (x_ni - c_ji)

Two evaluations of these formulas, chosen by the size ``n * units * in`` of the batch:

* **direct** (below :data:`MATMUL_MIN_SIZE`): the differences ``x_ni - c_ji`` are formed
  (an (n, units, in) array) and every sum above is taken term by term, as written (through small
  batched products, one per unit or sample). Each term of ``z`` is non-negative, so ``z`` is
  accurate to a few ulps relative, and ``z = 0`` exactly at ``x = c``. Small layers (the property
  tests, the cross-checks) always take this path.
* **matmul** (from :data:`MATMUL_MIN_SIZE` up): the squares are expanded so that every sum over
  samples or units is a matrix product. Inputs and centroids are first shifted by the mean of
  the centroids, ``mu_i = sum_j c_ji / units`` (:func:`_shift`; ``x - c`` does not change; a
  coordinate all centroids share is shifted by that value, so ``c' = 0`` exactly),
  ``x' = x - mu``, ``c' = c - mu``; with ``r2 = r^2``::

      q_nj = sum_i r2_ji x'_ni^2 = (x'^2 @ r2.T)_nj
      p_nj = sum_i r2_ji c'_ji x'_ni = (x' @ (r2 c').T)_nj
      s_j  = sum_i r2_ji c'_ji^2
      z_nj = p_nj - (q_nj + s_j) / 2

      G1 = gz.T @ x',   G2 = gz.T @ x'^2,   S_j = sum_n gz_nj,   D = G1 - c' S
      dE/dc_ji = r2_ji D_ji
      dE/dr_ji = -r_ji (G2_ji - c'_ji (G1_ji + D_ji))     (= G2 - 2 c' G1 + c'^2 S)
      dE/dx_ni = (gz @ (r2 c'))_ni - x'_ni (gz @ r2)_ni

  (per-unit radii need ``q_n = sum_i x'_ni^2`` and G2's row sums ``gz.T @ q`` only, so no
  x'^2 array is kept or multiplied: three matrix products and two matrix-vector products.)
  Six matrix products instead of ~10 passes over an (n, units, in) array (the elementwise work
  around them in one pass per array where numba is installed, :mod:`.fused`, with the same
  bits); but the expanded sums cancel: their rounding error is
  ``~ eps * sum |terms|`` with terms of size ``r2 (|x'|^2 + |c'|^2)`` instead of
  ``r2 (x' - c')^2``. The excess
  ``e_nj = (q_nj + s_j) / 2 + RHO z_nj`` (positive where the terms exceed :data:`RHO` = 8 times
  the squared distance ``-2 z_nj``) picks the *near* pairs, ``e > 0``, which the direct formula
  takes: their ``z`` (so a point at a centroid gets ``z = 0`` exactly) and their terms of every
  gradient. The backward's products take gz with the near pairs zeroed, and each near pair's
  direct terms ``gz r2 (x - c)`` and ``gz r (x - c)^2`` are added to its unit's and its
  sample's sums (:func:`_near_sums`, in the pairs' order). So each gradient entry sums far
  pairs' expanded terms, each at most RHO times its squared distance, and near pairs' direct
  ones: a relative error (against the size of its direct terms) within about ``RHO`` times the
  direct form's, unit by unit and sample by sample (the ledger's
  ``distance-layer-matmul-accurate`` claim checks it against exact sums). What is not
  guarded: one coordinate ``i`` of a unit that nearly coincides with the data while the unit's
  other coordinates do not -- that entry of ``dE/dc_ji``, ``dE/dr_ji`` carries the rounding of
  the whole unit's terms. (Until 2026-12-07 the backward handed whole units and samples back,
  those with ``sum |gz| e > 0``: on unstandardised data, a quarter of whose pairs are near,
  that built the direct formula's (n, units, in) arrays every step, and a step took 2.3-3.7
  times PyTorch eager's time; tests/benchmarks/SPEED.md.)

  Measured by ``tests/benchmarks/bench_accuracy.py`` (n = 512, 64 units on 64 inputs, errors
  against the direct formula in extended precision, in eps = 2^-52, relative to the sum of the
  magnitudes of the direct terms; worst over z and all gradients): standardised data with
  centroids at data rows, data offset 1e3 from the origin, data scaled by 1e3, 8 distinct rows
  repeated, 8 constant features, tight clusters (1e-3) around centroids at 1e3, each with
  per-unit radii and all but the third with per-connection ones: matmul <= 4.1, direct <= 2.4
  (normwise, relative to the largest value: matmul <= 8.7, 7.3 when whole units were handed
  back, direct <= 6.1); with the centroids' mid-range as the shift (before :func:`_shift`)
  matmul <= 5.6 (normwise 10.3). A seventh input, a distance layer's outputs at its start
  (each unit's own row at 1, the rest near exp(-1/2)), puts the pairs' terms nearest the
  guard's 8 times: matmul <= 13.2 on the logits' z (23.9 with the mid-range, which handed 99%
  of the pairs back), direct <= 2.0 (2026-12-07, the same draws). The unguarded case above,
  e.g. one sample at the origin, centroids (2^-8, 1) and (1, 1), unit radii: 14542 eps on
  ``dE/dr_00`` (the direct form 0.3), 0.2 eps normwise. The matmul path costs a 512 x 64 -> 64
  layer 11x less time than the direct one.

Initialisation: centroids are input rows of the training data drawn without replacement (with
replacement when there are fewer rows than units), or N(0, 1) draws when no data is given, which
matches standardised inputs. Radii are set per unit so that the median over the data of ``z_j`` is
``-1/2``: the median activation is ``exp(-1/2) ~ 0.61``, neither ~0 (no gradient through exp) nor
~1 (no information) -- the paper stresses that initialisation decides whether these nets train.
Without data the median squared distance of two N(0, I_d) points, ``~2d``, stands in. A unit whose
median over the data is below ``1e-8 d`` (data that coincide with its centroid) takes
``max(mean over every row and unit of |x - c|^2, 2d)`` instead.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..backend import namespace, to_host
from . import fused, vector_math
from .base import Array, Layer, iadd, imul, isub, same_kind
from .blas import matmul

if TYPE_CHECKING:
    from . import Factory

MATMUL_MIN_SIZE = 1 << 16
"""From this ``n * units * in`` on, the matmul evaluation is used (see the module docstring)."""
RHO = 8.0
"""The matmul evaluation hands a pair to the direct formula when the size of its terms exceeds
``RHO`` times its squared distance (see the module docstring)."""
_MINUS_HALF = np.array(-0.5)  # the direct form's -1/2 beside numpy arrays (activations' _ONE)


def _shift(c: Array) -> Array:
    """``mu``, the centroids' mean along each input (c is real), or the value they all share
    where they share one (then ``c' = 0`` exactly there); their mid-range where a mean's sum
    passes float64's range. The mean, not the mid-range: a few outlying centroids move the
    mid-range by half their distance from the rest and the mean by 1/units of it. A distance
    layer after another at its initialisation has such outliers in every input: each unit's
    output is exp(0) = 1 on its centroid's own row and about exp(-1/2) on every other, so
    shifted by the mid-range (about 0.8) every term was 18 times its squared distance and the
    guard handed 99% of the pairs to the direct formula (394 ms for a 16 ms step at 256 units
    on 256 inputs and 512 rows, tests/benchmarks/SPEED.md); shifted by the mean, 0.2%.
    (The mid-range is halved before the sum: centroids near 1e308 overflowed ``hi + lo``.)"""
    xp = namespace(c)
    # numpy sums a C-ordered c's columns row after row, but one column (or a column-ordered
    # c) as a contiguous run, by its blocked pairwise sum: the kernel takes the first kind only
    k = fused.kernels(c) if c.ndim == 2 and c.shape[1] > 1 and c.flags.c_contiguous else None
    if k is None:
        hi, lo = c.max(axis=0), c.min(axis=0)
        with np.errstate(over="ignore"):
            mu = xp.add.reduce(c, axis=0)
    else:  # the three reductions in one pass over c, with the same values
        hi, lo, mu = np.empty((3, c.shape[1]))  # mutants: numba only
        k.column_stats(c, hi, lo, mu)  # mutants: numba only
    mu /= c.shape[0]
    if not bool(xp.isfinite(mu).all()):  # inf or NaN centroids, or a sum past 1.8e308
        mu = 0.5 * hi + 0.5 * lo  # hi + lo can overflow too
    # + 0: a shared zero is +0 whichever zero max kept (numpy's and the kernel's may differ)
    return xp.where(hi == lo, hi + 0.0, mu)


def _shifted(x: Array, mu: Array) -> tuple[Array, Array]:
    """``x' = x - mu`` (mu by columns) and ``x'^2``: in one pass where :mod:`.fused` has kernels
    for x, with the same bits."""
    k = fused.kernels(x)
    if k is None:
        xs = x - mu
        return xs, xs * xs
    xs, xx = np.empty_like(x), np.empty_like(x)  # mutants: numba only
    k.gaussian_shift(x, mu, xs, xx)  # mutants: numba only
    return xs, xx  # mutants: numba only


def _shifted_row_sums(x: Array, mu: Array) -> tuple[Array, Array]:
    """``x' = x - mu`` and its rows' sums of squares ``q = add.reduce(x'^2, axis=1)``: in one
    pass, without an x'^2 array, where :mod:`.fused` has kernels for x, with the same bits."""
    k = fused.kernels(x)
    if k is None:
        xs = x - mu
        return xs, namespace(x).add.reduce(xs * xs, axis=1)
    xs, q = np.empty_like(x), np.empty(x.shape[0])  # mutants: numba only
    k.gaussian_shift_sums(x, mu, xs, q)  # mutants: numba only
    return xs, q  # mutants: numba only


def _pair_z(x: Array, c: Array, r2: Array, rows: Array, cols: Array) -> Array:
    """The direct ``z`` of the pairs ``(rows[k], cols[k])``, ``-1/2 sum_i r2_ji (x_ni - c_ji)^2``,
    each pair's terms summed as ``add.reduce`` sums a row (pairwise); r2 is (units, in) or
    (units, 1). In one pass, without (pairs, in) arrays, where :mod:`.fused` has kernels for the
    layer (with the same bits). Centroids start on data rows, so a layer hands back a pair per
    unit: the gathers and products were 4.2 of the 19 ms beyond the forward's products at 1024
    units on 1024 inputs and 512 rows, 27 of 67 ms at 2048 on 64 rows (machine H, SPEED.md)."""
    k = fused.kernels_for(x.shape[0] * c.size, x, c, r2)  # a layer on the matmul path
    if k is None:
        xp = namespace(x)
        dd = isub(xp.take(x, rows, axis=0), xp.take(c, cols, axis=0))
        dd *= dd
        dd = imul(dd, xp.take(r2, cols, axis=0))
        return xp.multiply(xp.add.reduce(dd, axis=1), -0.5)
    out = np.empty(len(rows))  # mutants: numba only
    k.gaussian_pairs(x, c, r2, rows, cols, out)  # mutants: numba only
    return out  # mutants: numba only


def _minus_row_product(a: Array, v: Array, xs: Array, near: _Near | None) -> Array:
    """``a - v[:, None] * xs``, into a, less the near pairs' sums on their samples' rows (one
    pass where :mod:`.fused` has kernels for a, xs)."""
    k = fused.kernels(a, xs)  # real a means gz and r are: v = gz @ r^2 is real float64 too
    if k is None:
        return _less_near(isub(a, v[:, None] * xs), near)
    k.subtract_row_product(a, v, xs, *_rows_of(near, a))  # mutants: numba only
    return a  # mutants: numba only


def _minus_product(a: Array, b: Array, xs: Array, near: _Near | None) -> Array:
    """``a - b * xs``, into a, less the near pairs' sums on their samples' rows (one pass where
    :mod:`.fused` has kernels for them)."""
    k = fused.kernels(a, b, xs)
    if k is None:
        return _less_near(isub(a, imul(b, xs)), near)
    k.subtract_product(a, b, xs, *_rows_of(near, a))  # mutants: numba only
    return a  # mutants: numba only


def _less_near(gx: Array, near: _Near | None) -> Array:
    """``gx`` less the near pairs' sums ``sum_j g r2_j d`` on their samples' rows."""
    if near is not None:
        rows = near.samples
        gx[rows] = isub(gx[rows], near.gx)
    return gx


def _units_of(near: _Near | None, g1: Array) -> tuple[Array, Array, Array]:
    """A kernel's view of the near sums by unit: each unit's place in them or -1, and them."""
    if near is None:
        return np.full(g1.shape[0], -1), *np.empty((2, 0, g1.shape[1]))  # mutants: numba only
    return near.unit_at, near.gd, near.sq  # mutants: numba only


def _rows_of(near: _Near | None, a: Array) -> tuple[Array, Array]:
    """A kernel's view of the near sums by sample: each row's place in them or -1, and them."""
    if near is None:
        return np.full(a.shape[0], -1), np.empty((0, a.shape[1]))  # mutants: numba only
    return near.sample_at, near.gx  # mutants: numba only


def _slots(keys: Array, size: int) -> tuple[Array, int]:
    """Each of ``range(size)``'s place among the distinct ``keys``, ascending (-1 where it is
    not one), and how many distinct keys there are (the kernels' ``_slots``)."""
    xp = namespace(keys)
    present = xp.bincount(keys, minlength=size) > 0
    places = xp.cumsum(present) - 1
    return xp.where(present, places, -1), int(to_host(places[-1:])[0]) + 1


def _in_order(v: Array, at: Array, groups: int, add_at: bool | None = None) -> Array:
    """``out[g] = sum of v[k] over the k with at[k] == g`` (every g in ``range(groups)`` has a
    row), each group's rows added one by one in k's order, from -0 (so the first adds exactly).
    numpy's ``add.at`` adds so, at about 3 ns an entry; on a device it adds repeats by atomics,
    in no fixed order. So a device, and numpy where a group has many rows (``add_at``: None
    chooses by the estimate below), takes rounds, each adding one row to every group it
    reaches: a round's groups are distinct, so a plain scatter adds them (about 11 us a round
    on machine H)."""
    xp = namespace(v)
    p = len(at)
    if groups == p:  # one row a group (-0 + v is v, -0 and +0 too)
        out = xp.empty((groups, *v.shape[1:]), dtype=v.dtype)
        out[at] = v
        return out
    fill = complex(-0.0, -0.0) if v.dtype.kind == "c" else -0.0
    out = xp.full((groups, *v.shape[1:]), fill, dtype=v.dtype)
    width = v.size // p
    if xp is np and add_at is not False:
        add_at = add_at or v.size < 5500 * int(np.bincount(at).max())
    if add_at:  # flat, whose add.at is numpy's fast one
        flat = (at[:, None] * width + np.arange(width)).reshape(-1)
        np.add.at(out.reshape(-1), flat, v.reshape(-1))
        return out
    k = xp.arange(p)
    order = xp.argsort(at * p + k)  # by group, then by k: distinct keys, so any sort agrees
    s = at[order]
    rank = k - xp.searchsorted(s, s)  # each row's place in its group
    by_rank = xp.argsort(rank * p + k)
    perm = order[by_rank]
    into, rows = at[perm], v[perm]  # gathered once, in the rounds' order
    bounds = np.cumsum([0, *to_host(xp.bincount(rank)).tolist()]).tolist()  # the rounds
    for lo, hi in itertools.pairwise(bounds):
        out[into[lo:hi]] += rows[lo:hi]
    return out


class _Near(NamedTuple):
    """The near pairs' direct sums (:func:`_near_sums`): ``unit_at``, each unit's row in ``gd``
    and ``sq`` (units with near pairs, in): its sums, or -1 where it has no near pair;
    ``sample_at`` and ``gx`` likewise by sample."""

    unit_at: Array
    sample_at: Array
    gd: Array
    sq: Array
    gx: Array

    @property
    def units(self) -> Array:
        """The units that have near pairs, ascending (their rows of gd and sq in order)."""
        return namespace(self.unit_at).flatnonzero(self.unit_at >= 0)

    @property
    def samples(self) -> Array:
        return namespace(self.sample_at).flatnonzero(self.sample_at >= 0)


def _near_sums(x: Array, c: Array, r2: Array, pairs: tuple[Array, Array], g: Array) -> _Near:
    """The direct terms of the near ``pairs`` (rows, units: row by row) with cotangents ``g``,
    summed by unit and by sample: with ``d = x_n - c_j`` and ``t = d g``, ``gd_j = sum t``,
    ``sq_j = sum t d`` over the unit's near pairs, ``gx_n = sum t r2_j`` over the sample's, each
    in the pairs' order (:func:`_in_order`). In one pass where :mod:`.fused` has kernels for
    the pairs (with the same bits)."""
    xp = namespace(x)
    rows, cols = pairs
    k = fused.kernels_for(x.shape[0] * c.size, x, c, r2, g)  # a layer on the matmul path
    if k is not None:
        return _Near(*k.gaussian_near(x, c, r2, rows, cols, g))  # mutants: numba only
    unit_at, units = _slots(cols, c.shape[0])
    sample_at, samples = _slots(rows, x.shape[0])
    at, at_rows = unit_at[cols], sample_at[rows]
    d = isub(xp.take(x, rows, axis=0), xp.take(c, cols, axis=0))
    t = imul(d.copy(), g[:, None])
    w = x.shape[1]  # gd's and sq's sums in one pass of rounds: (pairs, 2 in)
    both = _in_order(xp.concatenate([t, t * d], axis=1), at, units)
    gx = _in_order(t * xp.take(r2, cols, axis=0), at_rows, samples)
    return _Near(unit_at, sample_at, both[:, :w], both[:, w:], gx)


class Gaussian(Layer):
    writes_grads = True

    def __init__(
        self,
        name: str,
        inputs: tuple[str, ...],
        in_widths: tuple[int, ...],
        units: int,
        per_unit: bool,
        logits: bool,
    ) -> None:
        d = in_widths[0]
        shapes = {"centroids": (units, d), "radii": (units,) if per_unit else (units, d)}
        super().__init__(name, inputs, in_widths, units, shapes)
        self.per_unit = per_unit
        self.logits = logits

    def _r2(self, r: Array) -> Array:
        """``r^2`` shaped to multiply (units, in) arrays: (units, in) or (units, 1)."""
        return (r * r)[:, None] if self.per_unit else r * r

    def forward(
        self, params: dict[str, Array], xs: list[Array]
    ) -> tuple[Array, tuple[tuple, Array]]:
        x = xs[0]
        c = params[self.keys["centroids"]]
        r = params[self.keys["radii"]]
        if x.shape[0] * c.size >= MATMUL_MIN_SIZE:
            z, cache = self._z_matmul(x, c, r)
        else:
            z, cache = self._z_direct(x, c, r)
        y = z if self.logits else vector_math.exp_past_underflow(z)
        return y, (cache, y)

    def backward(
        self,
        params: dict[str, Array],
        cache: tuple[tuple, Array],
        gy: Array,
        out: dict[str, Array] | None = None,
    ) -> tuple[list[Array | None], dict[str, Array]]:
        inner, y = cache
        r = params[self.keys["radii"]]
        gz = gy if self.logits else gy * y
        gc = gr = None  # where dE/dc and dE/dr go: the trainer's views, or fresh arrays
        if out is not None and gz.dtype.kind != "c" and r.dtype.kind != "c":
            gc, gr = out[self.keys["centroids"]], out[self.keys["radii"]]
        if inner[0] == "matmul":  # gy * y is this call's own: its near pairs zeroed in place
            return self._backward_matmul(inner, r, gz, gc, gr, owned=not self.logits)
        return self._backward_direct(inner, r, gz, gc, gr)

    # ---- direct evaluation ---------------------------------------------------------------------

    def _z_direct(self, x: Array, c: Array, r: Array) -> tuple[Array, tuple]:
        xp = namespace(x)
        n, (u, d) = x.shape[0], c.shape
        # (n, units, in): x's rows repeated, then one subtraction over contiguous (units, in)
        # blocks, the same differences (x[:, None, :] - c broadcasts in runs of `in` entries:
        # 9.7 against 7.8 us at 24 x 16 -> 16 on machine F, tests/benchmarks/SPEED.md)
        diff = isub(xp.repeat(x, u, axis=0).reshape(n, u, d), c)
        sq = diff * diff
        if self.per_unit:  # r_j^2 sum_i (x_i - c_ji)^2
            z = imul((sq.reshape(n * u, d) @ xp.ones(d)).reshape(n, u), r * r)
        else:  # sum_i r_ji^2 (x_i - c_ji)^2 for every unit: one small product per unit
            z = xp.matmul(sq.transpose(1, 0, 2), (r * r)[:, :, None])[:, :, 0].T
        # a C-ordered result (z may be a transposed view)
        half = _MINUS_HALF if xp is np else -0.5
        return xp.multiply(z, half, out=xp.empty(z.shape, z.dtype)), ("direct", diff, sq)

    def _sums_direct(self, gz: Array, diff: Array, sq: Array) -> tuple[Array, Array]:
        """``sum_n gz_nj (x_ni - c_ji)`` and ``sum_n gz_nj (x_ni - c_ji)^2``, term by term (one
        small product per unit)."""
        xp = namespace(gz)
        gzt = gz.T[:, None, :]  # (units, 1, n)
        return (
            xp.matmul(gzt, diff.transpose(1, 0, 2))[:, 0, :],
            xp.matmul(gzt, sq.transpose(1, 0, 2))[:, 0, :],
        )

    def _gx_direct(self, gz: Array, r2: Array, diff: Array) -> Array:
        """``-sum_j gz_nj r2_ji (x_ni - c_ji)``, term by term (one small product per sample)."""
        xp = namespace(gz)
        if self.per_unit:
            gx = xp.matmul((gz * r2[:, 0])[:, None, :], diff)[:, 0, :]
        else:
            gx = xp.matmul(gz[:, None, :], r2 * diff)[:, 0, :]
        return xp.negative(gx, out=gx)

    def _backward_direct(
        self, inner: tuple, r: Array, gz: Array, gc: Array | None = None, gr: Array | None = None
    ) -> tuple[list[Array | None], dict[str, Array]]:
        """The direct rules; ``gc``, ``gr``: arrays to write dE/dc, dE/dr into, or None."""
        _, diff, sq = inner
        xp = namespace(gz)
        r2 = self._r2(r)
        gd, gsq = self._sums_direct(gz, diff, sq)
        gc = xp.multiply(r2, gd, out=gc)
        gr = xp.multiply(-r, xp.add.reduce(gsq, axis=1) if self.per_unit else gsq, out=gr)
        gx = self._gx_direct(gz, r2, diff) if self.input_grads else None
        return [gx], {"centroids": gc, "radii": gr}

    # ---- matmul evaluation ---------------------------------------------------------------------

    def _z_matmul(self, x: Array, c: Array, r: Array) -> tuple[Array, tuple]:
        xp = namespace(x)
        mu = _shift(c.real)
        if self.per_unit:  # only x'^2's row sums q are kept, numpy's pairwise sums (einsum's
            # running sums cost per-unit rows up to 1.5 eps, 3.7 -> 5.2)
            xs, xx = _shifted_row_sums(x, mu)
        else:
            xs, xx = _shifted(x, mu)  # x', c': the same differences, smaller magnitudes
        k = None if self.per_unit else fused.kernels(c, r)
        if k is None:
            cs = c - mu
            r2 = self._r2(r)  # (units, in) or (units, 1)
            rc = r2 * cs
        else:  # the same three arrays in one pass
            cs, r2, rc = (xp.empty_like(c) for _ in range(3))  # mutants: numba only
            k.gaussian_centre(c, mu, r, cs, r2, rc)  # mutants: numba only
        # th = q / 2, halved after the sums (exact, but for sums in the subnormal range or within
        # a factor 2 of float64's largest): no (units, in) array of r2 / 2 to write
        if self.per_unit:
            th = xx[:, None] * r2[:, 0]
        else:
            th = matmul(xx, r2.T)
        # s / 2 = sum_i (r2 c')_ji c'_ji / 2, halved after the sums as th, without an (units, in)
        # temporary for r2 c'
        s_half = xp.einsum("ud,ud->u", rc, cs)
        s_half *= 0.5
        # th = (q + s) / 2 >= 0, half the size of the terms; z = p - th
        z = matmul(xs, rc.T)
        kz = fused.kernels(z, th)  # z's kernel, read again where pairs are handed back
        # e > 0 where the terms exceed RHO times the squared distance: t > RHO * (-2 z)
        if kz is None:
            th *= 0.5
            th = iadd(th, s_half)
            z = isub(z, th)
            e = z.real * RHO
            e += th.real
            near = xp.flatnonzero(e > 0.0)  # flat places, row by row
        else:  # th halved, z into z, and the places where e > 0 in one pass (no e array)
            at = np.empty(z.size, np.intp)  # mutants: numba only
            near = at[: kz.gaussian_excess(z, th, s_half, at)]  # mutants: numba only
        pairs = None
        if len(near):
            pairs = xp.divmod(near, z.shape[1])  # (rows, cols), row by row
            z[pairs] = _pair_z(x, c, r2, *pairs)
        # xx: x'^2, or for per-unit radii its row sums q; pairs: what the backward takes directly
        return z, ("matmul", x, c, xs, cs, xx, r2, rc, pairs)

    def _backward_matmul(
        self,
        inner: tuple,
        r: Array,
        gz: Array,
        gc: Array | None = None,
        gr: Array | None = None,
        owned: bool = False,
    ) -> tuple[list[Array | None], dict[str, Array]]:
        """The matmul rules; ``gc``, ``gr``: arrays to write dE/dc, dE/dr into, or None; ``owned``:
        gz is this call's to write into. The expanded sums take the far pairs' cotangents only
        (gz with the forward's near pairs zeroed); the near pairs' direct sums are added to
        their units' and samples' (:func:`_near_sums`)."""
        _, x, c, xs, cs, xx, r2, rc, pairs = inner
        xp = namespace(gz)
        near = None
        if pairs is not None:
            near = _near_sums(x, c, r2, pairs, gz[pairs])
            gz = gz if owned else gz.copy()  # not the caller's
            gz[pairs] = 0.0
        gzt = gz.T
        S = xp.add.reduce(gz, axis=0)  # (units,)
        G1 = matmul(gzt, xs)
        gx = None
        if self.input_grads:
            if self.per_unit:
                gx = _minus_row_product(matmul(gz, rc), gz @ r2[:, 0], xs, near)
            else:
                gx = _minus_product(matmul(gz, rc), matmul(gz, r2), xs, near)
        k = None if self.per_unit else fused.kernels(G1, r)
        if k is None:
            gd, gsq = self._sums_matmul(gzt, G1, S, xx, cs)
            if near is not None:  # the near pairs' direct sums added to the far pairs'
                units = near.units
                gd[units] = iadd(gd[units], near.gd)
                nsq = xp.add.reduce(near.sq, axis=1) if self.per_unit else near.sq
                gsq[units] = iadd(gsq[units], nsq)
            gc = imul(gd, r2) if gc is None else xp.multiply(gd, r2, out=gc)
            gr = imul(gsq, r) if gr is None else xp.multiply(gsq, r, out=gr)
            gr = xp.negative(gr, out=gr)  # -(r gsq), sign exact
            return [gx], {"centroids": gc, "radii": gr}
        # the sums, the near pairs' added, and their scaling in one pass, into G1 and G2 or
        # the views given
        G2 = matmul(gzt, xx)  # mutants: numba only
        gc, gr = G1 if gc is None else gc, G2 if gr is None else gr  # mutants: numba only
        k.gaussian_grads(G1, G2, S, cs, r2, r, gc, gr, *_units_of(near, G1))  # mutants: numba only
        return [gx], {"centroids": gc, "radii": gr}  # mutants: numba only

    def _sums_matmul(
        self, gzt: Array, G1: Array, S: Array, xx: Array, cs: Array
    ) -> tuple[Array, Array]:
        """``gd = sum_n gz (x' - c') = G1 - c' S`` and ``sum_n gz (x' - c')^2 = G2 - 2 c' G1 +
        c'^2 S = G2 - c' (G1 + gd)``, (units, in) each; for per-unit radii the latter's row sums,
        whose ``sum_i G2_ji = sum_n gz_nj q_n`` is a product with ``q`` (``xx`` holds x'^2's row
        sums then), not with x'^2. G1 is overwritten."""
        xp = namespace(G1)
        G2 = gzt @ xx if self.per_unit else matmul(gzt, xx)
        t = cs * S[:, None]
        gd = xp.subtract(G1, t, out=t) if same_kind(t, G1) else G1 - t
        m = imul(iadd(G1, gd), cs)
        return gd, isub(G2, xp.add.reduce(m, axis=1) if self.per_unit else m)

    # ---- initialisation ------------------------------------------------------------------------

    def init(self, rng: np.random.Generator, xs: list[Array] | None) -> dict[str, Array]:
        """Centroids at data rows (N(0, 1) without data), radii so that the median of ``z_j`` over
        the data is -1/2 (the module docstring gives the rule and its fallbacks)."""
        units, d = self.param_shapes["centroids"]
        if xs is not None and len(xs[0]) > 0:
            x = np.asarray(xs[0], dtype=np.float64)
            rows = rng.choice(len(x), size=units, replace=len(x) < units)
            c = x[rows].copy()
            sqdist = ((x[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)  # (n, units)
            med = np.median(sqdist, axis=0)
            fallback = max(float(np.mean(sqdist)), 2.0 * d)
            # data that (nearly) coincide with the centroids would give huge radii, whose
            # squares overflow on the next perturbation; such units fall back to the no-data scale
            med = np.where(med > 1e-8 * d, med, fallback)
        else:
            c = rng.standard_normal((units, d))
            med = np.full(units, 2.0 * d)
        # median over the data of -1/2 r^2 |x - c|^2 is then -1/2
        r_unit = 1.0 / np.sqrt(med)
        r = r_unit if self.per_unit else np.repeat(r_unit[:, None], d, axis=1)
        return {"centroids": c, "radii": r}


def _make(logits: bool) -> Factory:
    def make(
        name: str, inputs: tuple[str, ...], in_widths: tuple[int, ...], node: Mapping[str, Any]
    ) -> Gaussian:
        per_unit = node.get("radius", "per_connection") == "per_unit"
        return Gaussian(name, inputs, in_widths, node["units"], per_unit, logits)

    return make


make_gaussian = _make(logits=False)
make_gaussian_logits = _make(logits=True)
