"""The numba ufuncs of :mod:`.fused`: each line is one numpy call of the chain it fuses, in the
chain's order (see :mod:`.activations` for the chains and their accuracy); imported only when
numba is installed and a large layer first needs them. Compiled at import for float64 inputs,
cached by numba (beside this module, or in its user cache where that is read-only)."""

from __future__ import annotations

import math

import numba
import numpy as np

from .activations import _TANH_P, _TANH_Q, _TANH_SMALL
from .base import Array
from .gaussian import RHO

P0, P1, P2 = _TANH_P
Q0, Q1, Q2 = _TANH_Q
SMALL = _TANH_SMALL
SIGNATURE = ["float64(float64, float64)"]
ONE = ["float64(float64)"]


@numba.vectorize(ONE, cache=True)
def neg_abs(x: float) -> float:  # pragma: no cover - compiled
    """``-|x|``: numpy's ``abs`` then ``negative`` (sigmoid's ``exp`` argument)."""
    return -abs(x)


@numba.vectorize(ONE, cache=True)
def neg_2abs(x: float) -> float:  # pragma: no cover - compiled
    """``|x| * -2``: numpy's ``abs`` then a multiply by -2 (tanh's ``exp`` argument)."""
    return abs(x) * -2.0


@numba.vectorize(SIGNATURE, cache=True)
def tanh_from(x: float, e: float) -> float:  # pragma: no cover - compiled
    """tanh(x) from ``e = exp(-2|x|)``: Cephes' rational for ``|x| < 1/2``, else
    ``(1 - e) / (1 + e)``; the sign from x. Both branches are evaluated (so that the loop
    vectorises), the rational on 0 where it is not used: on |x| itself, ``|x|^2`` would overflow
    far out and raise a flag numpy's chain, which evaluates it on small entries only, never does."""
    a = abs(x)
    b = a if a < SMALL else 0.0
    s2 = b * b
    p = s2 * P0
    p = p + P1
    p = p * s2
    p = p + P2
    q = s2 + Q0
    q = q * s2
    q = q + Q1
    q = q * s2
    q = q + Q2
    p = p / q
    p = p * s2
    p = p * b
    p = p + b
    y = (1.0 - e) / (1.0 + e)
    return math.copysign(p if a < SMALL else y, x)


@numba.vectorize(SIGNATURE, cache=True)
def tanh_grad(e: float, g: float) -> float:  # pragma: no cover - compiled
    """``4 e / (1 + e)^2 * g``: tanh'(x) for ``e = exp(-2|x|)``, times g."""
    d = 1.0 + e
    d = d * d
    return e / d * 4.0 * g


@numba.vectorize(SIGNATURE, cache=True)
def sigmoid_from(x: float, e: float) -> float:  # pragma: no cover - compiled
    """sigmoid(x) from ``e = exp(-|x|)``: ``where(x >= 0, 1, e) / (1 + e)``."""
    return (1.0 if x >= 0.0 else e) / (1.0 + e)


@numba.vectorize(SIGNATURE, cache=True)
def sigmoid_grad(e: float, g: float) -> float:  # pragma: no cover - compiled
    """``e / (1 + e)^2 * g``: sigmoid'(x) for ``e = exp(-|x|)``, times g."""
    d = 1.0 + e
    d = d * d
    return e / d * g


@numba.vectorize(ONE, cache=True)
def relu(x: float) -> float:  # pragma: no cover - compiled
    """``where(x > 0, x, 0)``: x where it is positive, +0 elsewhere (-0 and NaN included)."""
    return x if x > 0.0 else 0.0


@numba.vectorize(SIGNATURE, cache=True)
def relu_grad(x: float, g: float) -> float:  # pragma: no cover - compiled
    """``(x > 0).astype(float64) * g``: relu'(x) (0 at 0, torch's value), times g."""
    return (1.0 if x > 0.0 else 0.0) * g


# ---- optimizer steps over the trainer's flat vectors (impl/optim): update and apply in one pass
LOOP = {"cache": True, "error_model": "numpy", "boundscheck": False}


@numba.njit(**LOOP)
def exp_stand_in(x: Array, y: Array, low: float) -> int:  # pragma: no cover - compiled
    """``y = x``, but ``low`` where ``x < low``; returns how many (``vector_math``'s
    ``exp_past_underflow``; x and y C-contiguous)."""
    xs, ys, n = x.reshape(-1), y.reshape(-1), 0
    for i in range(xs.size):
        v = xs[i]
        if v < low:
            v = low
            n += 1
        ys[i] = v
    return n


@numba.njit(**LOOP)
def exp_zero_below(  # pragma: no cover - compiled
    x: Array, y: Array, low: float, zero: float, at: Array
) -> int:
    """Of the entries with ``x < low``: ``y = 0`` where ``x < zero``, and the others' flat
    indices into ``at``, in order; returns how many those are."""
    xs, ys, n = x.reshape(-1), y.reshape(-1), 0
    for i in range(xs.size):
        v = xs[i]
        if v < low:
            if v < zero:
                ys[i] = 0.0
            else:
                at[n] = i
                n += 1
    return n


@numba.njit(**LOOP)
def gd_step(g: Array, v: Array, neg_lr: float) -> None:  # pragma: no cover - compiled
    """``g *= -lr`` (the step ``dw``, into g) and ``v += dw``."""
    for i in range(g.size):
        d = g[i] * neg_lr
        g[i] = d
        v[i] = v[i] + d


@numba.njit(**LOOP)
def momentum_step(  # pragma: no cover - compiled
    g: Array, buf: Array, v: Array, beta: float, neg_lr: float, nesterov: bool
) -> None:
    """``buf *= beta; buf += g``; then ``dw = buf * -lr`` (heavy ball) or, ``nesterov``,
    ``g += beta * buf; dw = g * -lr``; dw into g, and ``v += dw``."""
    for i in range(g.size):
        b = buf[i] * beta
        b = b + g[i]
        buf[i] = b
        d = g[i] + beta * b if nesterov else b
        d = d * neg_lr
        g[i] = d
        v[i] = v[i] + d


# ---- the Gaussian layer's matmul evaluation (impl/ops/gaussian.py): the elementwise work around
# its products, several numpy passes over (n, in), (units, in) or (n, units) arrays in one each


@numba.njit(**LOOP)
def gaussian_shift(  # pragma: no cover - compiled
    x: Array, mu: Array, xs: Array, xx: Array
) -> None:
    """``xs = x - mu`` (mu by columns) and ``xx = xs * xs``."""
    n, d = x.shape
    for i in range(n):
        for j in range(d):
            s = x[i, j] - mu[j]
            xs[i, j] = s
            xx[i, j] = s * s


@numba.njit(**LOOP)
def _block_sum(a: Array, lo: int, n: int) -> float:  # pragma: no cover - compiled
    """numpy's sum of a block of at most 128 entries ``a[lo:lo + n]``: under 8 one running sum;
    else eight running sums over blocks of eight, added in pairs, then the rest one by one."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - n % 8:
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@numba.njit(**LOOP)
def _pairwise_sum(  # pragma: no cover - compiled
    a: Array, n: int, nodes: Array, sums: Array
) -> float:
    """numpy's sum of ``a[:n]`` as ``np.add.reduce`` takes it along a contiguous row
    (``pairwise_sum`` in numpy/_core/src/umath/loops_utils.h.src): up to 128 entries
    :func:`_block_sum`; above, the sums of the two halves (the first a multiple of 8 long),
    added. numpy recurses; this walks the same tree with a stack (numba's cache cannot hold a
    recursive function: loading one crashed the process): ``nodes`` (3, 64) integers and
    ``sums`` (64,), the caller's scratch, allocated once for all rows. Callers sum rows of up to
    128 by :func:`_block_sum` itself: this call cost ~40 ns a row (0.4 ms on 8192 rows of 10)."""
    if n <= 128:
        return _block_sum(a, 0, n)
    los, ns, state = nodes[0], nodes[1], nodes[2]
    top, done = 0, 0  # nodes on the stack; finished sums waiting for their sibling
    los[0], ns[0], state[0] = 0, n, 0
    while top >= 0:
        lo, m = los[top], ns[top]
        if m <= 128:
            sums[done] = _block_sum(a, lo, m)
            done += 1
            top -= 1
            continue
        half = m // 2
        half -= half % 8
        if state[top] == 0:  # the first half next
            state[top] = 1
            top += 1
            los[top], ns[top], state[top] = lo, half, 0
        elif state[top] == 1:  # then the second
            state[top] = 2
            top += 1
            los[top], ns[top], state[top] = lo + half, m - half, 0
        else:  # both summed: first + second
            done -= 1
            sums[done - 1] = sums[done - 1] + sums[done]
            top -= 1
    return sums[0]


@numba.njit(**LOOP)
def gaussian_shift_sums(  # pragma: no cover - compiled
    x: Array, mu: Array, xs: Array, q: Array
) -> None:
    """``xs = x - mu`` (mu by columns) and ``q = np.add.reduce(xs * xs, axis=1)``, numpy's
    pairwise sums of each row's squares (per-unit radii)."""
    n, d = x.shape
    row, nodes, sums = np.empty(d), np.empty((3, 64), np.int64), np.empty(64)
    for i in range(n):
        for j in range(d):
            s = x[i, j] - mu[j]
            xs[i, j] = s
            row[j] = s * s
        q[i] = _block_sum(row, 0, d) if d <= 128 else _pairwise_sum(row, d, nodes, sums)


@numba.njit(**LOOP)
def gaussian_pairs(  # pragma: no cover - compiled
    x: Array, c: Array, r2: Array, rows: Array, cols: Array, out: Array
) -> None:
    """``out[k] = np.add.reduce(((x[rows] - c[cols]) ** 2) * r2[cols], axis=1)[k] * -0.5``: the
    direct ``z`` of each handed-back pair, its terms summed as numpy sums a row (pairwise),
    without the (pairs, in) arrays; r2 is (units, in), or (units, 1) for per-unit radii."""
    d, per_unit = x.shape[1], r2.shape[1] == 1
    row, nodes, sums = np.empty(d), np.empty((3, 64), np.int64), np.empty(64)
    for k in range(rows.size):
        i, j = rows[k], cols[k]
        for m in range(d):
            t = x[i, m] - c[j, m]
            t = t * t
            row[m] = t * r2[j, 0 if per_unit else m]
        # the terms are >= 0 or NaN, so add's identity +0 changes no sum: it is left out
        s = _block_sum(row, 0, d) if d <= 128 else _pairwise_sum(row, d, nodes, sums)
        out[k] = s * -0.5


@numba.njit(**LOOP)
def _slots(keys: Array, size: int) -> tuple[Array, int]:  # pragma: no cover - compiled
    """Each of ``range(size)``'s place among the distinct ``keys``, ascending (-1 where it is not
    one), and how many distinct keys there are: ``gaussian._slots``."""
    at = np.full(size, -1)
    for k in keys:
        at[k] = 0
    count = 0
    for i in range(size):
        if at[i] == 0:
            at[i] = count
            count += 1
    return at, count


@numba.njit(**LOOP)
def gaussian_near(  # pragma: no cover - compiled
    x: Array, c: Array, r2: Array, rows: Array, cols: Array, g: Array
) -> tuple[Array, Array, Array, Array, Array]:
    """The near pairs' direct sums of ``gaussian._near_sums`` (its ``_Near``, in order): each
    unit's and each sample's place among those that have near pairs (or -1), and the sums,
    added pair by pair from -0 into gd, sq (by unit) and gx (by sample):
    ``t = (x_n - c_j) g_k``, ``gd += t``, ``sq += t d``, ``gx += t r2_j``; r2 is (units, in), or
    (units, 1)."""
    d, per_unit = x.shape[1], r2.shape[1] == 1
    unit_at, units = _slots(cols, c.shape[0])
    sample_at, samples = _slots(rows, x.shape[0])
    gd, sq, gx = np.full((units, d), -0.0), np.full((units, d), -0.0), np.full((samples, d), -0.0)
    for k in range(rows.size):
        i, j, gk = rows[k], cols[k], g[k]
        u, s = unit_at[j], sample_at[i]
        for m in range(d):
            e = x[i, m] - c[j, m]
            t = e * gk
            gd[u, m] = gd[u, m] + t
            sq[u, m] = sq[u, m] + t * e
            gx[s, m] = gx[s, m] + t * r2[j, 0 if per_unit else m]
    return unit_at, sample_at, gd, sq, gx


@numba.njit(**LOOP)
def gaussian_centre(  # pragma: no cover - compiled
    c: Array, mu: Array, r: Array, cs: Array, r2: Array, rc: Array
) -> None:
    """``cs = c - mu``, ``r2 = r * r`` and ``rc = r2 * cs`` (per-connection radii: r is
    (units, in))."""
    u, d = c.shape
    for i in range(u):
        for j in range(d):
            s = c[i, j] - mu[j]
            q = r[i, j] * r[i, j]
            cs[i, j] = s
            r2[i, j] = q
            rc[i, j] = q * s


@numba.njit(**LOOP)
def gaussian_excess(  # pragma: no cover - compiled
    p: Array, th: Array, s_half: Array, at: Array
) -> int:
    """``z = p - (th * 0.5 + s_half)`` (s_half by columns) into p, and the flat places, in row
    order, where ``e = z * RHO + (th * 0.5 + s_half)`` is positive into ``at`` (n * units
    long); their count. th is left as it is."""
    n, u = p.shape
    k = 0
    for i in range(n):
        for j in range(u):
            t = th[i, j] * 0.5 + s_half[j]
            z = p[i, j] - t
            p[i, j] = z
            if z * RHO + t > 0.0:
                at[k] = i * u + j
                k += 1
    return k


@numba.njit(**LOOP)
def column_stats(  # pragma: no cover - compiled
    c: Array, hi: Array, lo: Array, s: Array
) -> None:
    """Each column's largest and smallest entry (a NaN wins, as numpy's max and min) and its
    sum, the rows added in order to +0: numpy's ``add.reduce(c, axis=0)`` for a C-ordered c of
    two columns or more (-0 sums to +0; one column numpy sums pairwise)."""
    n, d = c.shape
    for j in range(d):
        v = c[0, j]
        hi[j] = v
        lo[j] = v
        s[j] = 0.0 + v
    for i in range(1, n):
        for j in range(d):
            v = c[i, j]
            if v > hi[j] or v != v:
                hi[j] = v
            if v < lo[j] or v != v:
                lo[j] = v
            s[j] = s[j] + v


@numba.njit(**LOOP)
def gaussian_grads(  # pragma: no cover - compiled
    g1: Array,
    g2: Array,
    s: Array,
    cs: Array,
    r2: Array,
    r: Array,
    gc: Array,
    gr: Array,
    at: Array,
    ngd: Array,
    nsq: Array,
) -> None:
    """``gd = g1 - cs * s`` (s by rows) and ``gsq = g2 - (g1 + gd) * cs``, a unit's near sums
    added where it has them (``ngd[at[i]]``, ``nsq[at[i]]``; ``at[i] = -1``: none), then
    ``gd * r2`` into gc and ``-(gsq * r)`` into gr (per-connection radii; gc, gr may be g1, g2
    themselves, or the trainer's flat gradient's views): numpy's seven passes in one."""
    u, d = g1.shape
    for i in range(u):
        k = at[i]
        for j in range(d):
            c = cs[i, j]
            a = g1[i, j]
            g = a - c * s[i]
            q = g2[i, j] - (a + g) * c
            if k >= 0:
                g = g + ngd[k, j]
                q = q + nsq[k, j]
            gc[i, j] = g * r2[i, j]
            gr[i, j] = -(q * r[i, j])


@numba.njit(**LOOP)
def subtract_product(  # pragma: no cover - compiled
    a: Array, b: Array, xs: Array, at: Array, n: Array
) -> None:
    """``a - b * xs`` into a, then less ``n[at[i]]`` on the rows that have one (``at[i] >= 0``)."""
    rows, d = a.shape
    for i in range(rows):
        k = at[i]
        for j in range(d):
            v = a[i, j] - b[i, j] * xs[i, j]
            a[i, j] = v - n[k, j] if k >= 0 else v


@numba.njit(**LOOP)
def subtract_row_product(  # pragma: no cover - compiled
    a: Array, v: Array, xs: Array, at: Array, n: Array
) -> None:
    """``a - v[:, None] * xs`` into a (v by rows; per-unit radii), then less ``n[at[i]]`` on the
    rows that have one."""
    rows, d = a.shape
    for i in range(rows):
        k = at[i]
        for j in range(d):
            w = a[i, j] - v[i] * xs[i, j]
            a[i, j] = w - n[k, j] if k >= 0 else w


# ---- softmax cross-entropy's row reductions (impl/losses.py): numpy reduces an (n, k) array
# along its rows one row at a time, ~35 ns a row (0.3 ms for a row maximum over 8192 rows of 10)


@numba.njit(**LOOP)
def shift_by_row_max(z: Array, out: Array) -> None:  # pragma: no cover - compiled
    """``z - z.max(axis=1, keepdims=True)`` into out: a row holding a NaN has the maximum NaN, as
    numpy's; of equal zeros either may be the maximum (numpy's choice depends on the row's
    length), which only decides the sign of a zero ``0 - 0`` (:mod:`impl.losses`)."""
    n, k = z.shape
    for i in range(n):
        m = z[i, 0]
        for j in range(1, k):
            v = z[i, j]
            if v > m or v != v:  # the first NaN stays: NaN > v and v > NaN are both False
                m = v if m == m else m
        for j in range(k):
            out[i, j] = z[i, j] - m


@numba.njit(**LOOP)
def row_sums(a: Array, out: Array) -> None:  # pragma: no cover - compiled
    """``np.add.reduce(a, axis=1)`` into out (n,): numpy's pairwise sum of each row added to
    add's identity +0 (a row of -0 sums to +0), a C-ordered; rows of up to 128 summed in place
    in the flat array (a row's view costs more than its sum)."""
    n, k = a.shape
    if k <= 128:
        flat = a.reshape(n * k)
        for i in range(n):
            out[i] = 0.0 + _block_sum(flat, i * k, k)
        return
    nodes, sums = np.empty((3, 64), np.int64), np.empty(64)
    for i in range(n):
        out[i] = 0.0 + _pairwise_sum(a[i], k, nodes, sums)


@numba.njit(**LOOP)
def row_argmax(z: Array, out: Array) -> None:  # pragma: no cover - compiled
    """``z.argmax(axis=1)`` into out (n,) integers: the first largest entry, or the first NaN."""
    n, k = z.shape
    for i in range(n):
        at, m = 0, z[i, 0]
        for j in range(1, k):
            if m != m:
                break
            v = z[i, j]
            if v > m or v != v:
                at, m = j, v
        out[i] = at
