"""MKL's runtime library (``libmkl_rt``, from the ``mkl`` extra), loaded once per process and put
in strict Conditional Numerical Reproducibility mode before anything computes with it.

Why strict CNR: without it, MKL may take another code path for the same inputs at another
memory alignment, and numpy aligns arrays to 16 bytes, not to MKL's 64, so the same product
could round differently from run to run. ``MKL_CBWR_AUTO | MKL_CBWR_STRICT`` keeps the CPU's
fastest branch and makes ``?gemm`` independent of alignment and thread count (oneMKL Developer
Guide, "Obtaining Numerically Reproducible Results": strict CNR mode). The mode
can only be set before MKL's first computation (it returns ``MKL_CBWR_ERR_MODE_CHANGE_FAILURE``
after), so both of descentcheck's MKL users, :mod:`.vector_math` and :mod:`.blas`, call
:func:`runtime` before their first call into MKL. Where something else computed with MKL first
and the mode is not already strict (``MKL_CBWR=AUTO,STRICT`` in the environment sets it), the
products stay numpy's (:mod:`.blas` says why).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from dataclasses import dataclass

CBWR_AUTO = 2  # mkl_cbwr.h
CBWR_STRICT = 0x10000
CBWR_ALL = ~0
STRICT_AUTO = CBWR_AUTO | CBWR_STRICT
SONAMES = ("libmkl_rt.so.3", "libmkl_rt.so.2", "mkl_rt.2.dll", "libmkl_rt.2.dylib")


@dataclass(frozen=True)
class Runtime:
    """The loaded ``libmkl_rt``; ``reproducible``: strict CNR is on (else ``why`` not)."""

    lib: ctypes.CDLL
    version: str
    reproducible: bool
    why: str = ""


def _load() -> ctypes.CDLL | None:
    # mkl-service links libmkl_rt: once it is imported, dlopen finds the loaded library by name
    import mkl  # noqa: F401

    for name in (*SONAMES, ctypes.util.find_library("mkl_rt")):
        if name:
            try:
                return ctypes.CDLL(name)
            except OSError:
                continue
    return None


@functools.cache
def runtime() -> Runtime | None:
    """The process's MKL runtime with strict CNR set, or None where the ``mkl`` extra (mkl-service
    and MKL's runtime library) is not installed."""
    try:
        lib = _load()
    except ImportError:
        return None
    if lib is None:
        return None
    buf = ctypes.create_string_buffer(256)
    lib.MKL_Get_Version_String(buf, len(buf))
    version = buf.value.decode(errors="replace").split(" for ")[0]
    set_status = lib.MKL_CBWR_Set(STRICT_AUTO)
    mode = lib.MKL_CBWR_Get(CBWR_ALL)
    if mode & CBWR_STRICT and mode & 0xFFFF == CBWR_AUTO:
        return Runtime(lib, version, True)
    why = (
        f"MKL computed before descentcheck could set strict CNR mode (MKL_CBWR_Set returned "
        f"{set_status}, mode {mode}); set MKL_CBWR=AUTO,STRICT to have it from the start"
    )
    return Runtime(lib, version, False, why)
