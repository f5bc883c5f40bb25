"""The benchmarks' one-core rule holds (``tests/benchmarks/conftest.py``): pinning confines every
thread of the process, threads started before the pin too, and the table says how many cores
each side computed on. XLA's thread flags alone let jax compute on 1.5-8.5 cores ("threads per
library: 1" was then untrue of the JAX column). And the table shows what a partial run timed."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent / "benchmarks"

needs_two_cpus = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="pinning is shown by confining threads that would otherwise use two or more CPUs",
)

# Two threads spin in pure numpy (the GIL is released in large ufunc loops) before and after the
# pin; the process's CPU time over wall time is the number of cores they computed on.
BUSY = """
import os, sys, threading, time
import numpy as np
sys.path.insert(0, sys.argv[1])
from conftest import pin_to_cpus

def spin(stop):
    x = np.ones(1 << 18)
    while not stop.is_set():
        np.sqrt(x, out=x)

def cores(seconds=0.6):
    stop = threading.Event()
    ts = [threading.Thread(target=spin, args=(stop,)) for _ in range(2)]
    for t in ts:
        t.start()
    w0, c0 = time.perf_counter(), time.process_time()
    time.sleep(seconds)
    w1, c1 = time.perf_counter(), time.process_time()
    stop.set()
    for t in ts:
        t.join()
    return (c1 - c0) / (w1 - w0)

early = threading.Event()
t = threading.Thread(target=early.wait)  # started before the pin: must be confined too
t.start()
before = cores()
cpus = pin_to_cpus(1)
tids = os.listdir("/proc/self/task")
confined = all(len(os.sched_getaffinity(int(tid))) == 1 for tid in tids)
after = cores()
early.set()
t.join()
print(before, after, cpus, confined)
"""


@needs_two_cpus
def test_pinning_confines_every_thread_to_one_core():
    out = subprocess.run(
        [sys.executable, "-c", BUSY, str(BENCH)], capture_output=True, text=True, check=True
    ).stdout.split()
    after = float(out[1])
    # each thread's affinity is the check that cannot depend on load; the cores measured after
    # the pin back it up (unpinned, the same two threads use about 2 on an idle machine, out[0])
    assert out[3] == "True", "a thread started before the pin may still run on other CPUs"
    assert out[2] == f"[{sorted(os.sched_getaffinity(0))[-1]}]"
    assert after <= 1.05, f"pinned, the process still computed on {after:.2f} cores"


def _render_table():
    spec = importlib.util.spec_from_file_location("render_table", BENCH / "render_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_table_says_how_many_cores_each_side_used():
    ratio = {
        "extra_info": {"b": "jax", "cores_a": 1.0, "cores_b": 1.54, "faults_a": 0.0, "faults_b": 30}
    }
    line = _render_table()._cores_used({("large_w256", "jax"): ratio})[0]
    assert "descentcheck 1.00 cores, 0 faults" in line
    assert "JAX jit 1.54 cores, 30 faults" in line
    assert _render_table()._cores_used({("w", "jax"): {"extra_info": {"b": "jax"}}}) == []


def _ratio(case: str, other: str, value: float, goal: float | None) -> dict:
    info = {"kind": "ratio", "case": case, "a": "descentcheck", "b": other, "goal": goal}
    info |= {"median_ratio": value, "ratio_of_minima": value, "rounds": 10}
    return {"extra_info": info}


def test_a_run_of_the_ratios_alone_still_shows_their_goals():
    """``tox -e bench -- -k test_ratio`` times no side on its own; its goals were left out."""
    data = {
        "benchmarks": [
            _ratio("large_w256", "floor", 1.40, 1.2),
            _ratio("large_w256", "torch", 0.90, 1.0),
            _ratio("large_w256", "jax", 1.12, None),
            _ratio("mixed_w16", "torch", 0.35, 0.33),
        ]
    }
    goals = _render_table().render(data).split("## Goals")[1]
    rows = [line for line in goals.splitlines() if line.startswith("| large") or "mixed" in line]
    assert len(rows) == 3, goals
    assert "large_w256: descentcheck / BLAS floor per step | 1.400" in rows[0]
    assert rows[0].endswith("| **not met**: 17% over |")
    assert "| <= 1 | met |" in rows[1]
    assert "mixed_w16: descentcheck / PyTorch eager per step | 0.350" in rows[2]
    assert "<= 0.33" in rows[2]


UNPIN = """
import os, subprocess, sys
sys.path.insert(0, sys.argv[1])
import conftest
from conftest import pin_to_cpus, unpinned

CHILD = [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"]
conftest.THREADS = 1
pin_to_cpus(1)
with unpinned():
    inside = subprocess.run(CHILD, capture_output=True, text=True).stdout.strip()
after = subprocess.run(CHILD, capture_output=True, text=True).stdout.strip()
print(inside, after, sorted(os.sched_getaffinity(0)), sep="|")
"""


@needs_two_cpus
def test_worker_processes_of_an_unpinned_block_get_every_cpu():
    """The ledger's workers run on every CPU (pinned, two would share one); after the block the
    bench is pinned again."""
    out = subprocess.run(
        [sys.executable, "-c", UNPIN, str(BENCH)], capture_output=True, text=True, check=True
    ).stdout
    inside, after, main = (json.loads(part) for part in out.strip().split("|"))
    every = sorted(os.sched_getaffinity(0))
    assert inside == every
    assert after == main == every[-1:]


def test_the_step_breakdown_runs_and_adds_up(monkeypatch):
    """``tox -e bench``'s per-layer breakdown, on a small net with one repeat: it calls the
    trainer's internals (``_Run``), whose signature changed once under it and failed only the
    bench (2026-12-06: ``update`` had gained the step number)."""
    monkeypatch.syspath_prepend(str(BENCH))
    from breakdown import step_breakdown
    from nets import problem

    from descentcheck.impl.network import Network

    pb = problem("mixed_w16")
    out = step_breakdown(Network.from_spec(pb.spec), pb.params, pb.x, pb.y, 0.01, 0.5, repeats=1)
    assert [r["layer"] for r in out["layers"]] == [n["name"] for n in pb.spec["nodes"]]
    assert out["trainer"] > 0 and out["products"] > 0
    assert out["step"] == out["loss_and_grad"] + out["trainer"]
