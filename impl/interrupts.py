"""Ctrl-C and SIGTERM around work that must not be cut in half.

A user who presses Ctrl-C twice (the first seems slow) must still get the cleanup the first one
started: workers terminated, the count of what was committed, one line and an exit status, not
a second traceback nor a process that hangs at exit waiting on orphaned workers. And a group of
renames that must land together (a run's parameters beside its trajectory, a report's files) is
never left half done. Both hold in the main thread only (the only one Python delivers signals
to); elsewhere these are no-ops.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as an interrupt, so every cleanup Ctrl-C gets (temporary files removed,
    workers stopped, renames held off) runs for it too; the command line exits 143 for it."""


def _raised(signum: int) -> KeyboardInterrupt:
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def _handlers(handler: Any) -> Iterator[None]:
    old = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, h in old.items():  # None: a handler set outside Python; the default then
            signal.signal(s, h if h is not None else signal.SIG_DFL)


@contextmanager
def interrupt_once() -> Iterator[None]:
    """Inside, the first SIGINT or SIGTERM raises ``KeyboardInterrupt`` and every later one is
    ignored until the block is left, so the cleanup the first one starts runs to its end."""
    if not _main_thread():
        yield
        return

    def first(signum: int, frame: Any) -> None:
        for s in SIGNALS:
            signal.signal(s, signal.SIG_IGN)
        raise _raised(signum)

    with _handlers(first):
        yield


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """SIGINT and SIGTERM inside are held until the block ends, then raised as one
    ``KeyboardInterrupt``: the block itself always runs to its end."""
    if not _main_thread():
        yield
        return
    caught: list[int] = []
    with _handlers(lambda signum, frame: caught.append(signum)):
        yield
    if caught:
        raise _raised(caught[0])


def die_with_parent() -> None:
    """Have the kernel end this process (SIGTERM) when its parent dies, even by SIGKILL, which
    leaves the parent no chance to stop its children: a killed ``verify`` left its pool's
    workers blocked on a pipe for good, a killed ``report`` its verify child running (held-out
    crash audit). Linux's ``PR_SET_PDEATHSIG``; elsewhere a no-op. A parent already gone
    before the call ends this process at once."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import multiprocessing

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:
        os.kill(os.getpid(), signal.SIGTERM)


def ignore_interrupts() -> None:
    """For a worker process: Ctrl-C reaches the whole process group, but only the parent
    decides what stops (it terminates its workers itself, with SIGTERM, which must then end a
    worker even if it was forked inside :func:`interrupt_once` and inherited its handler); and
    the worker ends with its parent (:func:`die_with_parent`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent()


def stop_pool(pool: Any) -> None:
    """Cancel what a ``ProcessPoolExecutor`` has queued and terminate its workers now, not after
    their current task (``shutdown`` alone waits for them: a claim or a case may run for
    minutes)."""
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14: all of it
    if terminate is not None:
        terminate()
        return
    # taken before shutdown, which forgets them (pool._processes = None)
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            p.terminate()
    for p in processes:
        p.join(timeout=5)
