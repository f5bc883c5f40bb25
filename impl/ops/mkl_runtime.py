"""MKL's runtime library (``libmkl_rt``, from the ``mkl`` extra), loaded once per process and put
in Conditional Numerical Reproducibility mode (CNR, ``MKL_CBWR_AUTO``) before anything computes
with it.

Why CNR: without it (MKL's default, ``MKL_CBWR_BRANCH_OFF``) MKL may choose its code path at run
time, so the same product need not round the same way from run to run. With ``MKL_CBWR_AUTO``
MKL keeps the CPU's fastest branch and its results are bitwise reproducible from run to run for
a fixed number of threads, unaligned input and output included (oneMKL Developer Guide,
"Obtaining Numerically Reproducible Results": "Reproducibility Conditions"; numpy aligns arrays to
16 bytes, not to MKL's 64). descentcheck calls MKL on one thread, always (:mod:`.blas`,
:mod:`.vector_math`), so strict CNR (``| MKL_CBWR_STRICT``: the same bits at any thread count)
would add nothing it uses, and it cost: on machine H of tests/benchmarks/SPEED.md (an Intel Xeon
with AVX-512) strict mode made a width-96 net's products 6-8% slower and a 10-column product
(a distance layer's head) 30-75% slower, and PyTorch eager (its own MKL: the same products on
the same arrays in 4-16% less time there) drew ahead of descentcheck at widths 64 and 96.
``MKL_CBWR_AUTO | MKL_CBWR_STRICT`` (``MKL_CBWR=AUTO,STRICT`` in the environment) is accepted as
it is: it keeps every guarantee above.

The mode can only be set before MKL's first computation (it returns
``MKL_CBWR_ERR_MODE_CHANGE_FAILURE`` after), so both of descentcheck's MKL users,
:mod:`.vector_math` and :mod:`.blas`, call :func:`runtime` before their first call into MKL.
Where something else computed with MKL first and the mode is not CNR's AUTO branch
(``MKL_CBWR=AUTO`` in the environment sets it), the products stay numpy's (:mod:`.blas` says
why).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from dataclasses import dataclass

CBWR_AUTO = 2  # mkl_cbwr.h
CBWR_STRICT = 0x10000
CBWR_ALL = ~0
SONAMES = ("libmkl_rt.so.3", "libmkl_rt.so.2", "mkl_rt.2.dll", "libmkl_rt.2.dylib")


@dataclass(frozen=True)
class Runtime:
    """The loaded ``libmkl_rt``; ``reproducible``: CNR's AUTO branch is on (else ``why`` not)."""

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
    """The process's MKL runtime with CNR's AUTO branch set, or None where the ``mkl`` extra
    (mkl-service and MKL's runtime library) is not installed."""
    try:
        lib = _load()
    except ImportError:
        return None
    if lib is None:
        return None
    buf = ctypes.create_string_buffer(256)
    lib.MKL_Get_Version_String(buf, len(buf))
    version = buf.value.decode(errors="replace").split(" for ")[0]
    set_status = lib.MKL_CBWR_Set(CBWR_AUTO)
    mode = lib.MKL_CBWR_Get(CBWR_ALL)
    if mode & ~CBWR_STRICT == CBWR_AUTO:  # strict or not: run-to-run reproducible on one thread
        return Runtime(lib, version, True)
    why = (
        f"MKL computed before descentcheck could set CNR mode (MKL_CBWR_Set returned "
        f"{set_status}, mode {mode}); set MKL_CBWR=AUTO to have it from the start"
    )
    return Runtime(lib, version, False, why)
