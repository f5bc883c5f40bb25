"""A command under test run in its own process group, as a terminal runs it, and what is left of
that group afterwards (a worker that outlived its parent)."""

from __future__ import annotations

import os
import signal
import subprocess
import time


def group_alive(proc: subprocess.Popen, grace: float = 5.0) -> bool:
    """Whether any process of ``proc``'s group is still there ``grace`` seconds on (signal 0
    probes, sends nothing). A terminated worker can stay a zombie until init reaps it, moments
    after its parent exits; one that was never stopped is still there."""
    end = time.monotonic() + grace
    while True:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return False
        if time.monotonic() > end:
            return True
        time.sleep(0.05)


def kill_group(proc: subprocess.Popen) -> None:
    """Whatever is left of ``proc``'s group (nothing, normally), then ``proc`` reaped."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
