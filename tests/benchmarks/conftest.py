"""Benchmark setup: thread limits, import paths, and the machine description in the JSON.

Run with ``pytest tests/benchmarks -o python_files='bench_*.py' --benchmark-json=FILE`` (the
files are ``bench_*.py`` so the default test run never collects them; see ``tox -e bench``).

``DESCENTCHECK_BENCH_THREADS`` (default 1) caps the BLAS threads of numpy (threadpoolctl), torch's
intra-op threads and XLA's CPU threads alike, so every side computes on the same cores and a
shared machine gives repeatable numbers; ``0`` leaves every library at its default. The process
is also pinned to that many CPUs (every thread of it, at configure time, before any library
starts a pool): XLA's flags alone did not hold (jax 0.10 computed on 1.5-1.9 cores of 2, jax
0.11 on 8.5 of 16), and a library's pool cannot outrun the CPUs it may run on. ``test_ratio`` records
each side's CPU time over wall time, so a side that still computes on more cores shows. The
ledger's benchmark starts worker processes, and runs them on every CPU (``all_cpus``).
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
THREADS = int(os.environ.get("DESCENTCHECK_BENCH_THREADS", "1"))


def _benchmarks_collected(config) -> bool:
    return any(pattern.startswith("bench") for pattern in config.getini("python_files"))


def pytest_configure(config):
    """Only when the bench files are collected (the default test run loads this file too, and
    must see none of it): import paths, and XLA's thread flags before jax is imported."""
    if not _benchmarks_collected(config):
        return
    for path in (HERE, HERE.parent):  # nets.py & co.; tests/torch_reference.py
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    if THREADS:
        config._bench_pinned = pin_to_cpus(THREADS)
        os.environ.setdefault(
            "XLA_FLAGS",
            f"--xla_cpu_multi_thread_eigen={'false' if THREADS == 1 else 'true'} "
            f"intra_op_parallelism_threads={THREADS}",
        )


ALL_CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
"""The CPUs this process could run on before the bench pinned it."""


def pin_to_cpus(n: int) -> list[int] | None:
    """Pin every thread of this process to the last ``n`` CPUs it may run on; those CPUs, or
    None where the platform has no affinity call (the thread limits then stand alone). The last,
    not the first: CPU 0 of a virtual machine tends to serve its interrupts (a run pinned to CPU
    0 on a 16-CPU Intel VM was 30-80% slower on every side than an unpinned run there, its
    ratios unchanged; why was not established)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))[-n:]
    for tid in os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else ["0"]:
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:  # a thread that ended since the listing
            pass
    return cpus


@contextlib.contextmanager
def unpinned():
    """The calling thread, and so the processes it starts, on every CPU the bench found, for the
    block's duration; pinned again after (where the bench pins at all)."""
    pinned = bool(THREADS) and ALL_CPUS is not None
    if pinned:
        os.sched_setaffinity(0, ALL_CPUS)
    try:
        yield ALL_CPUS
    finally:
        if pinned:
            pin_to_cpus(THREADS)


@pytest.fixture
def all_cpus():
    """:func:`unpinned` for a benchmark that starts worker processes (the ledger's: pinned, two
    would share one CPU, and its wall time against its goal would double)."""
    with unpinned() as cpus:
        yield cpus


@pytest.fixture(scope="session", autouse=True)
def thread_limits():
    """Cap BLAS and torch threads for the whole session (see the module docstring)."""
    if not THREADS:
        yield
        return
    from threadpoolctl import threadpool_limits

    from descentcheck.impl.ops import blas, vector_math

    vector_math.provider()  # loads MKL where it will be used, so that the limits reach it
    blas.provider()
    with threadpool_limits(limits=THREADS):
        try:
            import torch

            torch.set_num_threads(THREADS)
        except ImportError:
            pass
        yield


def _lscpu() -> dict[str, str]:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    keep = (
        "Model name",
        "CPU(s)",
        "Thread(s) per core",
        "Core(s) per socket",
        "L2 cache",
        "L3 cache",
    )
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in keep:
            out[key.strip()] = value.strip()
    return out


def _versions() -> dict[str, Any]:
    import numpy as np
    from threadpoolctl import threadpool_info

    info: dict[str, Any] = {"python": platform.python_version(), "numpy": np.__version__}
    info["blas"] = [
        {k: d.get(k) for k in ("internal_api", "version", "architecture")}
        for d in threadpool_info()
        if d.get("user_api") == "blas"
    ]
    for name in ("torch", "jax", "jaxlib", "sympy", "numba"):
        try:
            info[name] = __import__(name).__version__
        except ImportError:
            info[name] = None
    # what makes a machine's elementwise work fast or slow, and how a run emulated another
    # machine (NPY_DISABLE_CPU_FEATURES, ATEN_CPU_CAPABILITY, OPENBLAS_CORETYPE: tox passes them)
    from descentcheck.impl.ops import blas, fused, mkl_runtime, vector_math

    info["numpy_tanh_exp_simd"] = vector_math.NUMPY_IS_SIMD
    info["large_exp"] = vector_math.provider()
    info["fused"] = fused.provider()
    info["cpu_vendor"] = blas.cpu_vendor()
    info["large_products"] = blas.provider()
    if info["large_products"] == "mkl":
        info["mkl"] = mkl_runtime.runtime().version
    if info["torch"]:
        import torch

        info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    info["emulation"] = {
        k: os.environ[k]
        for k in (
            "NPY_DISABLE_CPU_FEATURES",
            "ATEN_CPU_CAPABILITY",
            "OPENBLAS_CORETYPE",
            "MKL_ENABLE_INSTRUCTIONS",
            "DESCENTCHECK_VECTOR_MATH",
            "DESCENTCHECK_BLAS",
            "DESCENTCHECK_FUSED",
            "MKL_CBWR",
        )
        if os.environ.get(k)
    }
    return info


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["lscpu"] = _lscpu()
    machine_info["bench_threads"] = THREADS or "library defaults"
    machine_info["pinned_cpus"] = getattr(config, "_bench_pinned", None)
    machine_info["versions"] = _versions()
