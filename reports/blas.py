"""One BLAS thread: the report's matrices are small, and OpenBLAS's worker threads competing
with the ledger's processes for two cores made the experiments 4 to 10 times slower. One
thread also fixes the summation order, so the numbers do not depend on the core count."""

from __future__ import annotations

import contextlib


def single_threaded_blas() -> contextlib.AbstractContextManager[object]:
    """Limit BLAS (OpenBLAS, MKL, BLIS) to one thread inside the ``with`` block
    (threadpoolctl, which scikit-learn brings along; without it, nothing changes)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn depends on it
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)
