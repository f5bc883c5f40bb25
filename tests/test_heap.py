"""impl/heap.py: glibc's malloc thresholds fixed once per process, opt-out by environment."""

from __future__ import annotations

import ctypes
import platform

import numpy as np
import pytest

from descentcheck.impl import heap

GLIBC = platform.libc_ver()[0] == "glibc"


_MALLINFO2 = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO2.split()]


def _mmapped_while_allocated(nbytes: int) -> bool:
    """Whether glibc serves an array of ``nbytes`` by mmap (its mmapped total grows by it)."""
    try:
        info = ctypes.CDLL(None).mallinfo2
    except AttributeError:
        pytest.skip("glibc before 2.33 has no mallinfo2")
    info.restype = _Mallinfo2
    before = info().hblkhd
    a = np.empty(nbytes // 8)
    grown = info().hblkhd - before
    del a
    return grown >= nbytes


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_arrays_up_to_32_mib_come_from_the_heap(monkeypatch):
    """24 MiB is served from the heap with the thresholds set; with a 1 MiB mmap threshold (a
    mutant of the constant) it is mmapped, so the check can fail."""
    real = heap.MMAP_THRESHOLD
    monkeypatch.setattr(heap, "_done", [])
    monkeypatch.setattr(heap, "MMAP_THRESHOLD", 1 << 20)
    assert heap.keep_freed_memory() is True
    assert _mmapped_while_allocated(24 << 20)
    monkeypatch.setattr(heap, "_done", [])
    monkeypatch.setattr(heap, "MMAP_THRESHOLD", real)
    assert heap.keep_freed_memory() is True
    assert not _mmapped_while_allocated(24 << 20)
    assert heap.keep_freed_memory() is True  # once per process, remembered


def test_opt_out(monkeypatch):
    monkeypatch.setattr(heap, "_done", [])
    monkeypatch.setenv("DESCENTCHECK_KEEP_FREED_MEMORY", "0")
    assert heap.keep_freed_memory() is False
