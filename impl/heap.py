"""Keep freed memory in the process heap while training (glibc only), for speed.

A training step allocates and frees tens of arrays of a few MiB (layer outputs, caches, gradients).
glibc serves blocks above its mmap threshold with fresh ``mmap`` calls and returns heap memory
above its trim threshold to the system at every ``free``; both thresholds adapt to the largest
block freed so far, so whether a step's arrays are recycled or page-faulted in anew (every page
zeroed by the kernel again) depends on what the process did before. On the large benchmark net
that difference was 5-30% of a step (CPU time, same process, A/B). :func:`keep_freed_memory` fixes
both thresholds (``mallopt``): blocks up to 32 MiB come from the heap, and up to 256 MiB of freed
heap stay in the process for the next step. Arithmetic is untouched (the same bits); the cost is
that the process keeps up to 256 MiB it no longer uses. Elsewhere than glibc (macOS, Windows,
musl) it does nothing; ``DESCENTCHECK_KEEP_FREED_MEMORY=0`` turns it off.
"""

from __future__ import annotations

import ctypes
import os

MMAP_THRESHOLD = 32 << 20
"""Blocks up to this many bytes come from the heap (glibc's largest allowed on 64-bit)."""
TRIM_THRESHOLD = 256 << 20
"""Up to this many bytes of freed heap stay in the process."""
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's <malloc.h> parameter numbers
_done: list[bool] = []


def keep_freed_memory() -> bool:
    """Set glibc's thresholds once per process (see the module docstring); True when they were
    set, now or by an earlier call."""
    if _done:
        return _done[0]
    ok = False
    if os.environ.get("DESCENTCHECK_KEEP_FREED_MEMORY", "1") != "0":
        try:
            mallopt = ctypes.CDLL(None).mallopt
            mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
            ok = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
        except (OSError, AttributeError):  # no C library by that name, or no mallopt in it
            ok = False
    _done.append(ok)
    return ok
