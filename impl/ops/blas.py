"""Matrix products of the layers: numpy's (OpenBLAS in numpy's wheels; ``np.dot`` for 2-D float64
arrays, :func:`numpy_matmul`), or MKL's ``cblas_dgemm`` for large float64 products on Intel CPUs;
and a dense layer's sum over the batch as a product (:func:`column_sums`).

Why: on machine E of tests/benchmarks/SPEED.md (an Intel Xeon; OpenBLAS on its SkylakeX kernels)
a large net's products took 0.62-0.90 of numpy's time through PyTorch, whose x86 wheels multiply
with MKL, a lead that descentcheck's step could not make up beyond its products. On AMD's Zen 4
(machine A) MKL's ``cblas_dgemm`` took 1.04-1.19 of OpenBLAS's time at widths 128 and 256
(0.95-0.98 at 384), so AMD CPUs keep numpy's.

Which a process uses is fixed when it first needs a large product (:func:`provider`): MKL where
``DESCENTCHECK_BLAS`` (:data:`ENV`) is ``mkl``, or is ``auto`` (unset) on a CPU whose vendor is
GenuineIntel, and the ``mkl`` extra is installed (``pip install -e ".[mkl]"``: mkl-service and
MKL's runtime); else numpy's. The same inputs give the same bits on a machine: MKL runs in CNR
mode (:mod:`.mkl_runtime`: run-to-run reproducible, unaligned data included) and on one thread
per call, set for the calling thread and restored after (with GNU OpenMP loaded first, ``import
torch``, MKL's threads are not to be trusted: :mod:`.vector_math`). The two BLAS round the same
sums differently, as two machines' would; ``tests/test_blas.py`` holds MKL's products to numpy's
within the rounding bound of a length-k dot product.

Only inside :func:`~descentcheck.impl.threads.one_blas_thread` (the trainer, the gradient check,
the sweep and the report compute there): a user's own ``Network.loss_and_grad`` call keeps
numpy's BLAS as configured, threads included. Only 2-D real float64 numpy arrays of
:data:`MIN_WORK` multiply-adds or more, each with unit stride along one axis (a transposed view
is passed as a transpose flag, not copied); every other product, small DAGs' included, is
numpy's (:func:`numpy_matmul`) or its namespace's ``@``.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import platform
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import threads
from ..backend import namespace
from ..errors import BackendError
from . import mkl_runtime

ENV = "DESCENTCHECK_BLAS"
"""``numpy`` keeps numpy's products everywhere, ``mkl`` takes MKL's on any CPU (to time or
compare the two on one machine); unset, or ``auto``, lets :func:`provider` choose."""

MIN_WORK = 1 << 20
"""Products of ``m * k * n`` >= 2^20 multiply-adds (about 0.1 ms) may take MKL's ``dgemm``: its
ctypes call costs a few microseconds, noise there and a loss on small DAGs' products."""

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112  # cblas.h
_INT_MAX = 2**31 - 1


def setting() -> str:
    """:data:`ENV`'s value: ``"auto"`` (unset or empty), ``"numpy"`` or ``"mkl"``; any other is
    refused in one line (the CLI asks before any command runs)."""
    choice = os.environ.get(ENV, "").strip().lower() or "auto"
    if choice not in ("auto", "numpy", "mkl"):
        raise BackendError(f"{ENV} must be 'auto', 'numpy' or 'mkl', got {choice!r}")
    return choice


def cpu_vendor() -> str:
    """The CPU's vendor string (``GenuineIntel``, ``AuthenticAMD``), or ``""`` where unknown."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return "GenuineIntel" if "GenuineIntel" in platform.processor() else ""


@functools.cache
def provider() -> str:
    """``"numpy"`` or ``"mkl"``: whose products large float64 arrays take in this process.
    :data:`ENV` = ``mkl`` without a usable MKL is refused in one line, naming what is missing."""
    choice = setting()
    if choice == "numpy" or (choice == "auto" and cpu_vendor() != "GenuineIntel"):
        return "numpy"
    rt = mkl_runtime.runtime()
    problem = (
        "the mkl extra (mkl-service and MKL's runtime) is not installed" if rt is None else rt.why
    )
    if not problem:
        return "mkl"
    if choice == "mkl":
        raise BackendError(f"{ENV}=mkl cannot be used: {problem}")
    return "numpy"


@functools.cache
def _dgemm() -> tuple[Any, Any]:
    lib = mkl_runtime.runtime().lib  # type: ignore[union-attr]
    f = lib.cblas_dgemm
    i, d, p = ctypes.c_int, ctypes.c_double, ctypes.c_void_p
    f.argtypes = [i, i, i, i, i, i, d, p, i, p, i, d, p, i]
    f.restype = None
    local = lib.MKL_Set_Num_Threads_Local
    local.argtypes, local.restype = [i], i
    return f, local


def _operand(a: np.ndarray) -> tuple[int, int] | None:
    """``(transpose flag, leading dimension)`` of a row-major operand, or None where neither
    axis has unit stride (a copy is numpy's business)."""
    s0, s1 = a.strides
    if s1 == 8 and s0 >= 8 * max(a.shape[1], 1) and s0 % 8 == 0:
        return _NO_TRANS, s0 // 8
    if s0 == 8 and s1 >= 8 * max(a.shape[0], 1) and s1 % 8 == 0:
        return _TRANS, s1 // 8
    return None


def mkl_product(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray | None:
    """``a @ b`` of 2-D float64 arrays by MKL's ``dgemm`` on one thread, into ``out`` (a fresh
    C-ordered array, or the given one, which must be C-ordered, of the product's shape and share
    no memory with ``a`` or ``b``); None where an operand has no unit stride or a size exceeds
    MKL's 32-bit integers. Needs :func:`provider` ``"mkl"`` (the bench's BLAS floor calls it)."""
    (m, k), n = a.shape, b.shape[1]
    ta, tb = _operand(a), _operand(b)
    if ta is None or tb is None or max(m, n, k, ta[1], tb[1]) > _INT_MAX:
        return None
    out = np.empty((m, n)) if out is None else out
    dgemm, local = _dgemm()
    before = local(1)
    try:
        dgemm(_ROW_MAJOR, ta[0], tb[0], m, n, k, 1.0, a.ctypes.data, ta[1],
              b.ctypes.data, tb[1], 0.0, out.ctypes.data, n)  # fmt: skip
    finally:
        local(before)
    return out


def _large(a: Any, b: Any, out: Any = None) -> Any:
    if (
        type(a) is np.ndarray
        and type(b) is np.ndarray
        and a.ndim == b.ndim == 2
        and a.dtype == b.dtype == np.float64
        and a.shape[1] == b.shape[0]
        and threads.active()
        and provider() == "mkl"
    ):
        product = mkl_product(a, b, out)
        if product is not None:
            return product
    return a @ b if out is None else np.matmul(a, b, out=out)


_F64, _NDARRAY, _DOT = np.dtype(np.float64), np.ndarray, np.dot


def numpy_matmul(a: Any, b: Any) -> Any:
    """``a @ b``, through ``np.dot`` for 2-D float64 numpy operands, without the matmul ufunc's
    dispatch, which costs a fifth of a small DAG's 24 x 16 @ 16 x 16 product (0.2 of 1.1 us).
    Wherever ``@`` calls BLAS (each operand with unit stride along one axis, as every array the
    layers multiply), np.dot makes the same call, so the same bits (tests/test_blas.py). Where
    ``@`` runs its own loop instead (an operand with no unit stride, say a user's
    ``x[:, ::2]``) or ``syrk`` (a sliced array times its own transpose), np.dot multiplies a
    contiguous copy by ``gemm``: the same product to rounding. Complex operands keep ``@``."""
    # 2-D float64 numpy arrays (native byte order: numpy's one float64 dtype), tested inline
    # on module names: a call and attribute lookups would cost half of what np.dot saves
    if type(a) is _NDARRAY is type(b) and a.dtype is _F64 is b.dtype and a.ndim == 2 == b.ndim:
        return _DOT(a, b)
    return a @ b


@functools.lru_cache(maxsize=64)
def _numpy_ones(n: int) -> np.ndarray:
    ones = np.ones(n)
    ones.flags.writeable = False  # shared by every call for n rows
    return ones


def column_sums(a: Any, out: Any = None) -> Any:
    """``sum_n a_n``, the sum of a 2-D array's rows, as ``ones(n) @ a``: one BLAS ``gemv``, 0.47
    against ``add.reduce(a, axis=0)``'s 1.0 us at 24 x 16 and 12 against 20 us at 512 x 256 (a
    dense layer's bias gradient). The same sum to rounding: the kernel adds in blocks of rows
    where ``add.reduce`` adds row by row, an order fixed by the shape, not by where the arrays
    lie in memory (tests/test_blas.py moves them). On every backend alike, so the device path
    keeps the numpy path's bits; ``out``: a C-ordered array to write the sums into."""
    xp = namespace(a)
    ones = _numpy_ones(a.shape[0]) if xp is np else xp.ones(a.shape[0])
    return xp.dot(ones, a, out=out)


def _dispatching_matmul(a: Any, b: Any) -> Any:
    """``a @ b``: MKL's ``dgemm`` for a large 2-D float64 numpy product where :func:`provider`
    chose it (see the module docstring), else :func:`numpy_matmul`."""
    # small DAGs multiply tiny matrices many times a step: one size test before anything else
    if a.size * b.shape[-1] < MIN_WORK:
        return numpy_matmul(a, b)
    return _large(a, b)


def _may_take_mkl() -> bool:
    """Whether :func:`provider` could choose MKL in this process: ``mkl`` asked for (or a value
    :func:`setting` will refuse), or ``auto`` on an Intel CPU with mkl-service installed."""
    choice = os.environ.get(ENV, "").strip().lower()
    if choice in ("", "auto"):
        return cpu_vendor() == "GenuineIntel" and importlib.util.find_spec("mkl") is not None
    return choice != "numpy"


_MAY_TAKE_MKL = _may_take_mkl()
matmul: Callable[[Any, Any], Any] = _dispatching_matmul if _MAY_TAKE_MKL else numpy_matmul
"""The layers' product, bound when this module is first imported: where MKL cannot be chosen
(numpy asked for, an AMD CPU, no ``mkl`` extra) :func:`numpy_matmul`, without the size test a
small DAG's tiny products would otherwise pay 15-20% on."""


def matmul_into(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``a @ b`` of 2-D float64 numpy arrays written into ``out`` (C-ordered, of the product's
    shape, sharing no memory with ``a`` or ``b``: a view of the trainer's flat gradient, so no
    copy gathers it): the product :data:`matmul` takes, by the same BLAS call, so the same bits
    (numpy's ``matmul`` hands a C-ordered ``out`` to ``dgemm`` as it does its own result)."""
    if _MAY_TAKE_MKL and a.size * b.shape[-1] >= MIN_WORK:
        return _large(a, b, out)
    if type(a) is _NDARRAY is type(b) and a.dtype is _F64 is b.dtype and a.ndim == 2 == b.ndim:
        return _DOT(a, b, out=out)  # numpy_matmul's np.dot, so its bits
    return np.matmul(a, b, out=out)
