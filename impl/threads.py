"""One BLAS thread while descentcheck computes a result, so its bits do not depend on the core
count.

OpenBLAS splits a matrix product over its threads and adds the parts in another order, so the
same product rounds differently with 1 and 2 threads: a held-out audit trained digits_distance
under RMSProp to a final loss of 0.16392 with two threads and 0.16238 with one, and a sweep case
(whose workers already ran one thread) could not be reproduced by ``train`` on a two-core
machine. The trainer, the gradient check, the sweep's workers and the report all compute inside
:func:`one_blas_thread`; a user's own calls of ``Network.loss_and_grad`` use BLAS as configured.
It is also faster where it matters here: the report's matrices are small, and OpenBLAS's worker
threads competing with the ledger's processes for two cores made its experiments 4 to 10 times
slower.

The limit is process wide and reference counted (threads of one Dask worker running cases side by
side keep it until the last leaves), set through one cached ``threadpoolctl.ThreadpoolController``
(a fresh ``threadpool_limits`` scans the loaded libraries, 0.35 ms), and skipped where BLAS
already runs one thread: OpenBLAS's ``set_num_threads`` and its restore cost about 0.1 ms a
``train`` call (2% of a 50-step run of a small DAG), even from 1 to 1. Without threadpoolctl
(scikit-learn depends on it) nothing changes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_lock = threading.Lock()
_active = 0
_limit: Any = None
_controller: Any = None


def _start() -> Any:
    global _controller
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - scikit-learn depends on it
        return None
    if _controller is None:
        _controller = ThreadpoolController()
    if all(lib.num_threads == 1 for lib in _controller.lib_controllers):
        return None  # already one thread (OPENBLAS_NUM_THREADS=1): setting it again cost 0.1 ms
    return _controller.limit(limits=1)


def active() -> bool:
    """Whether BLAS is limited to one thread now (some thread is inside :func:`one_blas_thread`):
    :mod:`.ops.blas` takes MKL's products only then."""
    return _active > 0


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS limited to one thread inside the block (see the module docstring)."""
    global _active, _limit
    with _lock:
        if _active == 0:
            _limit = _start()
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0 and _limit is not None:
                _limit.restore_original_limits()
                _limit = None


def allowed_cpus() -> frozenset[int] | None:
    """The CPUs the calling thread may run on, or None where the platform has no affinity call."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    return frozenset(os.sched_getaffinity(0))


def run_on(cpus: frozenset[int] | None) -> None:
    """Put the calling thread (a worker process's, at its start) on ``cpus``, the parent's
    :func:`allowed_cpus` when it made the pool. Why: a worker forked after MKL's OpenMP runtime
    started is put back by the runtime's fork handler on the CPUs the parent had when that
    runtime started, not on the parent's CPUs now. Measured: a parent on one CPU, MKL used, the
    parent on two again, then two forked ledger workers both ran on the first CPU, at half
    speed each (the bench's in-process ledger, 195 s of wall time for 195 s of CPU time)."""
    if cpus is None or not hasattr(os, "sched_setaffinity"):
        return
    try:
        os.sched_setaffinity(0, cpus)
    except OSError:  # a CPU taken away since (a container's cgroup, say): keep what we have
        pass
