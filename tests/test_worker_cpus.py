"""The ledger's forked workers run on the CPUs their parent has when it starts them.

MKL's OpenMP runtime records the CPUs its process has when it starts; a process forked later is
put back on those by the runtime's fork handler. The bench pins itself to one CPU, uses MKL,
then gives the ledger both CPUs: its two workers ran on one, each at half speed, until
``properties.ledger.start_worker`` put them back on the parent's CPUs (``impl.threads.run_on``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from descentcheck.impl.ops import mkl_runtime

SCRIPT = """
import json, os
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from descentcheck.impl import threads
from descentcheck.impl.ops import blas
from descentcheck.properties.ledger import start_worker

def cpus(_=None):
    return sorted(os.sched_getaffinity(0))

if __name__ == "__main__":
    everything = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {max(everything)})  # as the bench pins itself
    with threads.one_blas_thread():  # MKL's runtime starts on that one CPU
        a = np.ones((512, 512))
        assert blas.mkl_product(a, a) is not None
    os.sched_setaffinity(0, everything)
    # (with ignore_interrupts alone as the initializer, both workers ran on the one CPU)
    with ProcessPoolExecutor(2, initializer=start_worker, initargs=(threads.allowed_cpus(),)) as pool:
        got = list(pool.map(cpus, range(2)))
    print(json.dumps([sorted(everything), got]))
"""


@pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs CPU affinity calls and at least two CPUs",
)
@pytest.mark.skipif(
    mkl_runtime.runtime() is None, reason="MKL's runtime (the mkl extra) is not installed"
)
def test_ledger_workers_run_on_their_parents_cpus_after_mkl_started_on_fewer():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    parent, workers = json.loads(out.stdout)
    assert all(w == parent for w in workers), (parent, workers)
