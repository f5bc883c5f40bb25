"""``exp`` of large real float64 numpy arrays: numpy's ufunc, or MKL's vectorised one where
numpy's is a scalar loop.

numpy evaluates float64 ``exp`` and ``tanh`` in SIMD loops only on x86-64 CPUs with AVX-512
(:data:`NUMPY_IS_SIMD`); elsewhere each entry is a scalar libm call, and on a 512 x 256 array
``np.exp`` costs about a third of a 512 x 256 x 256 matrix product (tests/benchmarks/SPEED.md).
There, if the optional ``mkl_umath`` is installed (``pip install -e ".[mkl]"`` in the checkout:
Intel's numpy ufuncs over MKL's Vector Math Library, in VML's default high-accuracy mode, on one
thread through ``mkl-service``), real float64 numpy arrays of :data:`MIN_SIZE` entries or more take
its ``exp``, an AVX2 loop up to four times as fast (measured within 0.52 ulp of exp, subnormal
results and inf/NaN as numpy gives them; tests/test_vector_math.py). Only ``exp``: MKL's float64
``tanh`` measured no faster than numpy's scalar loop (0.54 against 0.58 ms), so large tanh layers
keep the one-``exp`` form of :mod:`.activations`, whose ``exp`` is this one.

Which ufunc a process uses is fixed when it first needs one (:func:`provider`) and depends only
on the CPU, the installed packages and ``DESCENTCHECK_VECTOR_MATH``, so the same inputs give the
same bits on a machine; with and without ``mkl_umath`` the last bit of about one ``exp`` in 200
differs, as two machines' libm would. Smaller arrays (small DAGs), complex ones (the complex-step
oracle) and device arrays take their namespace's ``exp``; the CPU stand-in for CuPy takes this
one, so that it still gives the numpy backend's bits.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np

from ..backend import namespace
from ..errors import BackendError
from . import fused

MIN_SIZE = 1 << 15
"""Arrays of 32,768 entries or more may take MKL's ``exp``: ``mkl_umath`` itself calls VML only
above 8192 entries (below, a scalar loop with numpy's bits), and VML measured faster than numpy's
scalar loop from about 32,768 entries on (twice as fast there, four times at 131,072)."""

ENV = "DESCENTCHECK_VECTOR_MATH"
"""``numpy`` keeps numpy's ``exp`` even where ``mkl_umath`` is installed (to time or compare the
two on one machine); unset, or ``auto``, lets :func:`provider` choose."""


def _numpy_is_simd() -> bool:
    """numpy dispatches float64 tanh and exp to its AVX-512 (SKX) loops on this CPU (False
    where numpy does not say: a build without runtime dispatch)."""
    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # numpy 1.x
        from numpy.core import _multiarray_umath as umath
    return bool(getattr(umath, "__cpu_features__", {}).get("AVX512_SKX", False))


NUMPY_IS_SIMD = _numpy_is_simd()


def setting() -> str:
    """:data:`ENV`'s value, ``"auto"`` (unset or empty) or ``"numpy"``; any other is refused in
    one line (the CLI asks before any command runs, so a typo never passes unnoticed)."""
    choice = os.environ.get(ENV, "").strip().lower() or "auto"
    if choice not in ("auto", "numpy"):
        raise BackendError(f"{ENV} must be 'auto' or 'numpy', got {choice!r}")
    return choice


def _has_mkl_service() -> bool:
    """``mkl-service`` (the ``mkl`` extra) imports: :func:`_on_one_thread` needs it."""
    try:
        import mkl  # noqa: F401
    except ImportError:
        return False
    return True


def _on_one_thread(f: Any) -> Any:
    """``f`` (MKL's ``exp``) called with MKL on one thread for the calling thread, restored after.

    Why: with GNU OpenMP's ``libgomp.so.1`` loaded before MKL's Intel OpenMP (``import torch``
    first does it), MKL's threads resolve ``omp_get_thread_num`` to libgomp's, every thread takes
    the whole array, and an in-place ``exp`` (as the layers call it) exponentiates entries twice:
    a network's loss came out 1.79 instead of 3.01 (tests/test_vector_math.py). Per call and
    thread-local, because a process-wide setting does not last: threadpoolctl's restore (after
    :func:`~descentcheck.impl.threads.one_blas_thread`, or scikit-learn's) puts MKL's threads
    back. One thread is what descentcheck runs BLAS on too; VML's results do not depend on it.
    The two calls cost about 0.8 us, against 40 us or more for an ``exp`` of a large array."""
    import mkl

    def one_thread(x: Any, out: Any = None) -> Any:
        before = mkl.set_num_threads_local(1)
        try:
            return f(x, out=out)
        finally:
            mkl.set_num_threads_local(before)

    return one_thread


@functools.cache
def provider() -> str:
    """``"numpy"`` or ``"mkl_umath"``: whose ``exp`` large real arrays take in this process
    (``mkl_umath`` only where numpy's is scalar, it and ``mkl-service`` import and :data:`ENV`
    allows)."""
    choice = setting()
    if NUMPY_IS_SIMD or choice == "numpy":
        return "numpy"
    try:
        import mkl_umath  # noqa: F401
    except ImportError:
        return "numpy"
    return "mkl_umath" if _has_mkl_service() else "numpy"


@functools.cache
def _large_exp() -> Any:
    if provider() == "mkl_umath":
        import mkl_umath

        from . import mkl_runtime

        mkl_runtime.runtime()  # CNR before MKL's first computation, for .blas's products

        return _on_one_thread(mkl_umath.exp)
    return np.exp


def exp(x: Any, out: Any = None) -> Any:
    """``exp(x)``: a large real float64 numpy array's by :func:`provider`'s ufunc, any other
    array's by its namespace's."""
    if type(x) is not np.ndarray:
        return namespace(x).exp(x, out=out)
    # small DAGs call this on arrays of a few hundred entries, many times a step: two checks
    large = x.size >= MIN_SIZE and x.dtype == np.float64
    return (_large_exp() if large else np.exp)(x, out=out)


SLOW_BELOW = -700.0
"""Below it numpy's AVX-512 ``exp`` takes a slow path, entry by entry: on 569 x 256 entries,
12-20 ms where every result is subnormal (``x`` in [-745.1, -708.4]), 1.9 ms where every one
is 0, 0.10-0.15 ms for ``x`` in [-700, 0] (machine H, tests/benchmarks/SPEED.md)."""
ZERO_BELOW = -746.0
"""Below it ``exp(x) < 2^-1076``, under half the least subnormal: numpy's ``exp`` gives 0."""


def exp_past_underflow(x: Any) -> Any:
    """:func:`exp` of an ``x`` whose entries may lie far below :data:`SLOW_BELOW` (a distance
    layer's ``z``; once its radii grow in training, or on unstandardised data, half of them may),
    with :func:`exp`'s bits. Where numpy's ``exp`` is its AVX-512 loop and :mod:`.fused` has
    kernels, such entries take one compiled pass: the rest go through ``exp`` with a fast
    stand-in in their places, the entries below :data:`ZERO_BELOW` are 0 and those between take
    numpy's ``exp`` on them alone (numpy's SIMD ``exp`` treats each entry alone, so the bits are
    the whole array's). A distance layer on breast cancer data, radii grown: 1.3 -> 0.5 ms."""
    k = fused.kernels(x) if provider() == "numpy" and NUMPY_IS_SIMD else None
    if k is None or not x.flags.c_contiguous or not np.fmin.reduce(x, axis=None) < SLOW_BELOW:
        return exp(x)
    y = np.empty_like(x)  # mutants: numba only
    below = k.exp_stand_in(x, y, SLOW_BELOW)  # mutants: numba only
    np.exp(y, out=y)  # mutants: numba only
    at = np.empty(below, np.int64)  # mutants: numba only
    at = at[: k.exp_zero_below(x, y, SLOW_BELOW, ZERO_BELOW, at)]  # mutants: numba only
    np.put(y, at, np.exp(np.take(x, at)))  # mutants: numba only
    return y  # mutants: numba only
