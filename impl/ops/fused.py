"""One pass instead of two to ten: the elementwise chains of large tanh, sigmoid and relu layers
(and of the Gaussian layer's matmul evaluation) as numba-compiled ufuncs and loops, where numba is
installed (the ``numba`` extra), with numpy's bits.

A large layer's activation is a chain of numpy calls, each a pass over the whole array; on a 512 x
256 array each pass reads its operands back from memory once the step's matrix products have pushed
them out of cache (on a Zen 2 machine with 512 KiB of L2 per core, 0.15 ms a pass against 0.03 ms
with the array in cache; machine F in tests/benchmarks/SPEED.md). Each kernel here fuses one chain
into a single ufunc loop that evaluates, entry by entry, **the same IEEE operations in the same
order** as the numpy chain it stands for; numba's default floating point is strict (no contraction
into fused multiply-adds, no reassociation), so the kernels give numpy's bits, signed zeros,
infinities and NaNs included (``tests/test_fused.py`` checks each against its chain, bit for bit, on
Hypothesis-drawn arrays; the choice never changes a result, only its speed; what can differ is a
warning: the ``*_from`` kernels raise no "invalid value", see :func:`call`; and where two NaNs meet,
which NaN's payload survives, which numpy itself does not fix: its SIMD and scalar loops keep
different operands' NaN):

=================  ========================================================================
kernel             the numpy chain (:mod:`.activations`)
=================  ========================================================================
tanh_from          ``copysign(where(|x| < 1/2, cephes(|x|), (1 - e) / (1 + e)), x)``, e = exp(-2|x|)
tanh_grad          ``(4 e / (1 + e)^2) * g``, tanh'(x) times the upstream gradient
sigmoid_from       ``where(x >= 0, 1, e) / (1 + e)``, e = exp(-|x|)
sigmoid_grad       ``(e / (1 + e)^2) * g``, sigmoid'(x) times the upstream gradient
relu               ``where(x > 0, x, 0)`` (numpy's form: ``fmax(x, 0) + 0``, two passes)
relu_grad          ``(x > 0).astype(float64) * g``, relu'(x) times the upstream gradient
=================  ========================================================================

The trainer's optimizer steps (:attr:`~descentcheck.impl.optim.base.FlatOptimizer.step` of gd,
momentum and Nesterov) are kernels too: the update and ``w += dw`` in one pass over the flat
vectors instead of two to five, taken only where a large layer has loaded the kernels already
(:func:`loaded_kernels`), so the optimizer never pays numba's import.

So is the elementwise work around the Gaussian layer's matrix products (its matmul evaluation,
:mod:`.gaussian`), each kernel one pass for two to eight numpy calls: ``column_stats`` (the
centroids' column maxima, minima and sums for the shift), ``gaussian_shift`` (x' and
x'^2), ``gaussian_centre`` (c', r^2 and r^2 c', per-connection radii),
``gaussian_excess`` (z = p - th and the places where the excess e is positive, without an e
array), ``gaussian_pairs`` (the direct z of the
near pairs, without gathering their rows), ``gaussian_near`` (the backward's direct sums of the
near pairs by unit and by sample, in the pairs' order, without (pairs, in) arrays),
``gaussian_grads`` (the centroid and radius gradients: their two sums, the near pairs' sums
added and the scaling, seven numpy passes, in one) and ``subtract_product`` (the input gradient,
the near pairs' sums subtracted); for per-unit radii ``gaussian_shift_sums`` (x' and numpy's
pairwise row sums of x'^2, without an x'^2 array) and ``subtract_row_product`` (the input
gradient); and its ``exp`` past underflow (``exp_stand_in``, ``exp_zero_below``:
:func:`.vector_math.exp_past_underflow`). About 0.6 ms of a 36 ms large_w256 ``loss_and_grad``
on machine F (A/B in one process, 40 paired steps, the median of the differences), before the
per-unit two and the sums.

And so are softmax cross-entropy's row reductions (:mod:`descentcheck.impl.losses`):
``shift_by_row_max`` (the logits less their rows' maxima), ``row_sums`` (numpy's pairwise sum of
each row, added to add's identity +0 as numpy adds it) and ``row_argmax``. numpy reduces an
(n, k) array along its short rows one row at a time, about 35 ns a row: the loss's
``value_and_grad`` on 8192 rows of 10 logits took 1.20 ms, and 0.73 ms with them (machine H,
tests/benchmarks/SPEED.md). Only a zero's sign in the shifted logits may differ from numpy's (its
maximum of two equal zeros depends on the row's length); it never reaches the value or the
gradient.

The ``exp`` itself stays :func:`.vector_math.exp` (numba's ``exp`` would be a scalar libm call:
PyPI's llvmlite has no SVML). Real float64 numpy arrays of :data:`MIN_SIZE` entries or more take
the kernels when numba imports and :data:`ENV` allows; numba is imported, and the kernels
compiled (once per machine, then loaded from numba's cache), on the first such call, so small
DAGs and the CLI's start never load it.
"""

from __future__ import annotations

import functools
import os
import warnings
from typing import Any

import numpy as np

from ..errors import BackendError

MIN_SIZE = 1 << 12
"""From this many entries on (a large tanh layer's one-``exp`` form starts there too), an
activation's tail is one kernel call: its ~5 us of call overhead against 4-10 numpy calls."""

ENV = "DESCENTCHECK_FUSED"
"""``numpy`` keeps numpy's chains even where numba is installed (to time the two on one
machine); unset, or ``auto``, takes the kernels where numba imports."""


def setting() -> str:
    """:data:`ENV`'s value, ``"auto"`` (unset or empty) or ``"numpy"``; any other is refused in
    one line (the CLI asks before any command runs)."""
    choice = os.environ.get(ENV, "").strip().lower() or "auto"
    if choice not in ("auto", "numpy"):
        raise BackendError(f"{ENV} must be 'auto' or 'numpy', got {choice!r}")
    return choice


@functools.cache
def provider() -> str:
    """``"numba"`` or ``"numpy"``: who evaluates large activations' tails in this process (numba
    where it imports and :data:`ENV` allows). Importing numba is what this costs (0.4 s), paid by
    the first large layer only."""
    if setting() == "numpy":
        return "numpy"
    try:
        import numba  # noqa: F401
    except ImportError:
        return "numpy"
    return "numba"


@functools.cache
def _kernels() -> Any:
    """The kernels module, or None where numba cannot compile or cache them here (a cache folder
    nobody can write, say): numpy's chains then do the work, with the same bits, and one warning
    says why."""
    try:
        from . import fused_kernels
    except Exception as e:  # numba's errors have no common base; any of them means "not here"
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        warnings.warn(
            f"numba's kernels could not be loaded ({reason}); numpy's chains are used instead "
            "(the same results, slower)",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return fused_kernels


def kernels(*arrays: Any) -> Any:
    """The compiled kernels (:mod:`.fused_kernels`) when every one of ``arrays`` is a real
    float64 numpy array of :data:`MIN_SIZE` entries or more and :func:`provider` is numba, else
    None (numpy's chain: small, complex or device arrays, or no numba)."""
    for a in arrays:
        if type(a) is not np.ndarray or a.size < MIN_SIZE or a.dtype != np.float64:
            return None
    return _kernels() if provider() == "numba" else None


def kernels_for(entries: int, *arrays: Any) -> Any:
    """:func:`kernels` for work the caller sizes at ``entries`` entries on ``arrays`` (real
    float64 numpy arrays of any size): a distance layer on its matmul path (n x units x in)
    takes them for its near pairs however few there are, and however small its input is."""
    if entries < MIN_SIZE:
        return None
    for a in arrays:
        if type(a) is not np.ndarray or a.dtype != np.float64:
            return None
    return _kernels() if provider() == "numba" else None


def loaded_kernels(*arrays: Any) -> Any:
    """:func:`kernels`, but only where a large layer has loaded them already: the optimizers'
    steps (one pass over the trainer's flat vectors instead of three to five, about 1% of a large
    step) never pay numba's import for a net whose layers do not."""
    first = arrays[0]  # a small DAG's vectors: one test, before the cache's
    if type(first) is not np.ndarray or first.size < MIN_SIZE:
        return None
    return kernels(*arrays) if _kernels.cache_info().currsize else None


def call(kernel: Any, *arrays: Any) -> Any:
    """``kernel(*arrays)`` for the kernels that compare x (``*_from``, ``relu``, ``relu_grad``),
    without numpy's "invalid value" flag: a compiled comparison raises it for a NaN entry where
    numpy's own comparisons do not. Nothing else in them can, but ``relu_grad``'s ``0 * inf``,
    which numpy's chain flags and this call does not. The ``tanh_grad`` and ``sigmoid_grad``
    kernels, which compare nothing, are called as they are: their flags are the chain's, inf * 0
    included."""
    with np.errstate(invalid="ignore"):
        return kernel(*arrays)
