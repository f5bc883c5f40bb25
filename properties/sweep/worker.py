"""What a worker runs for one case (a local process, a Dask worker, or this process).

:func:`run_case` takes the case's canonical JSON and returns a small dict for the parent to
commit; it never touches the database. A case that raises (a ``DescentcheckError`` or any other
``Exception``, both deterministic for a pure function) comes back as ``status = "failed"`` with
its one-line error; ``MemoryError`` and interrupts propagate, so that case is left pending.

BLAS runs on one thread while a case runs (``impl.threads.one_blas_thread``: a reduction split
over threads would round differently, and the sweep already runs cases in parallel), as it does
in ``train``, so a case gives ``train``'s bits.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Mapping
from typing import Any

from descentcheck.impl.errors import one_line
from descentcheck.impl.threads import one_blas_thread

from .canonical import canonical_json


def worker_id() -> str:
    """``HOST:PID``, or the Dask worker's address when this runs on one."""
    if "distributed" in sys.modules:
        try:
            from distributed import get_worker

            return str(get_worker().address)
        except (ImportError, ValueError):
            pass
    return f"{socket.gethostname()}:{os.getpid()}"


def run_case(case_text: str, files: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Evaluate one case; returns ``{"status": "done" | "failed", "results_json", "error",
    "worker", "started", "seconds"}`` (``results_json`` canonical JSON, or None)."""
    from .case import evaluate

    started = time.time()
    t0 = time.perf_counter()
    results_json: str | None = None
    error: str | None = None
    with one_blas_thread():
        try:
            results_json = canonical_json(evaluate(json.loads(case_text), files))
            status = "done"
        except (MemoryError, KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:
            status, error = "failed", one_line(e)
    return {
        "status": status,
        "results_json": results_json,
        "error": error,
        "worker": worker_id(),
        "started": started,
        "seconds": time.perf_counter() - t0,
    }
