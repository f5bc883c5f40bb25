"""impl/heap.py: glibc's malloc thresholds fixed once per process, opt-out by environment."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from descentcheck.impl import heap

# a fresh interpreter (its heap has no 24 MiB free block yet) sets the thresholds, with the mmap
# threshold given, and says whether glibc then serves a 24 MiB array by mmap (mallinfo2's
# mmapped total grows by it)
_PROBE = """
import ctypes, sys
import numpy as np
from descentcheck.impl import heap
heap.MMAP_THRESHOLD = int(sys.argv[1])
assert heap.keep_freed_memory()
names = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in names]
info = ctypes.CDLL(None).mallinfo2
info.restype = Info
before = info().hblkhd
a = np.empty(3 << 20)
print(info().hblkhd - before >= a.nbytes)
"""


def _mmapped(threshold: int) -> bool:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(threshold)], capture_output=True, text=True, check=True
    )
    return out.stdout.strip() == "True"


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_arrays_up_to_32_mib_come_from_the_heap():
    """24 MiB is served from the heap with the thresholds set; with a 1 MiB mmap threshold (a
    mutant of the constant) it is mmapped, so the check can fail."""
    assert not _mmapped(heap.MMAP_THRESHOLD)
    assert _mmapped(1 << 20)


def test_once_per_process_and_opt_out(monkeypatch):
    monkeypatch.setattr(heap, "_done", [])
    monkeypatch.setenv("DESCENTCHECK_KEEP_FREED_MEMORY", "0")
    assert heap.keep_freed_memory() is False
    monkeypatch.delenv("DESCENTCHECK_KEEP_FREED_MEMORY")
    assert heap.keep_freed_memory() is False  # remembered: set once per process
