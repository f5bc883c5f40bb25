"""Ctrl-C around work that must not be cut in half (``impl.interrupts``), signal by signal."""

from __future__ import annotations

import os
import signal

import pytest

from descentcheck.impl.interrupts import deferred_interrupts, interrupt_once


def _ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def test_a_deferred_ctrl_c_lets_the_block_finish_then_interrupts():
    done = []
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts():
            _ctrl_c()
            _ctrl_c()
            done.append("the whole block")
    assert done == ["the whole block"]
    assert signal.getsignal(signal.SIGINT) is before


def test_only_the_first_ctrl_c_interrupts_and_the_cleanup_runs_to_its_end():
    cleaned = []
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with interrupt_once():
            try:
                _ctrl_c()
                pytest.fail("the first Ctrl-C did not interrupt")
            finally:
                _ctrl_c()  # pressed again during the cleanup: ignored
                cleaned.append("all of it")
    assert cleaned == ["all of it"]
    assert signal.getsignal(signal.SIGINT) is before


def test_a_block_without_signals_changes_nothing():
    before = signal.getsignal(signal.SIGINT)
    with deferred_interrupts(), interrupt_once():
        pass
    assert signal.getsignal(signal.SIGINT) is before


POOL_SCRIPT = """
import os, time
from concurrent.futures import ProcessPoolExecutor
from descentcheck.impl.interrupts import ignore_interrupts

def pid():
    time.sleep(0.2)
    return os.getpid()

if __name__ == "__main__":
    pool = ProcessPoolExecutor(2, initializer=ignore_interrupts)
    print(" ".join(str(p) for p in {f.result() for f in [pool.submit(pid) for _ in range(4)]}), flush=True)
    time.sleep(120)
"""


def _gone(pid: int, grace: float = 10.0) -> bool:
    """No such process, or a zombie (dead, waiting for a reaper), within ``grace`` seconds."""
    import time
    from pathlib import Path

    end = time.monotonic() + grace
    while time.monotonic() < end:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc to see workers")
def test_pool_workers_end_when_their_parent_is_killed(tmp_path):
    """SIGKILL gives a parent no chance to stop its workers: a killed verify left its pool's
    two workers blocked on a pipe for good (held-out crash audit). They now end with it."""
    import subprocess
    import sys

    script = tmp_path / "pool.py"
    script.write_text(POOL_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        workers = [int(p) for p in proc.stdout.readline().split()]
        assert workers, "the pool started no worker"
        proc.kill()
        proc.wait()
        assert all(_gone(p) for p in workers), workers
    finally:
        for p in workers if "workers" in locals() else []:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
