"""Running pending cases in this process or in local worker processes; the parent commits.

A *task* is ``(key, case_json)``; ``commit(key, outcome)`` is called in this (the parent)
process, in the calling thread, once per case that came back from :func:`.worker.run_case` (done
or failed). A case whose worker died (``BrokenProcessPool``: a process killed, out of memory,
...) or whose call raised instead of returning is *lost*: nothing is committed for it and it is
tried again, at most ``max_attempts`` times in all, after which it stays pending (the next run
tries it again). A broken pool is replaced by a fresh one; the cases that had finished before
the break are committed first.

Local workers are ``concurrent.futures.ProcessPoolExecutor`` processes started with ``spawn``
(no state inherited from the parent; the same on every platform), so a script calling this
needs the usual ``if __name__ == "__main__":`` guard. At most ``window`` (default twice the
workers) cases are submitted at a time, so an interruption discards little work. Workers ignore
Ctrl-C (it reaches the whole process group); on Ctrl-C or SIGTERM in the parent the pool is
cancelled and its processes terminated before the interrupt propagates; if
the parent is killed outright (SIGKILL), each worker notices (it watches the parent's sentinel)
and exits.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import threading
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from descentcheck.impl.errors import one_line
from descentcheck.impl.interrupts import ignore_interrupts, stop_pool
from descentcheck.impl.threads import one_blas_thread

from .worker import run_case

Task = tuple[str, str]
Commit = Callable[[str, Mapping[str, Any]], None]
MAX_ATTEMPTS = 3


@dataclass
class RunStats:
    """What happened to the tasks: lost attempts, pool restarts, and cases given up on."""

    lost: int = 0
    restarts: int = 0
    abandoned: list[str] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)
    #: why the last abandoned case's last attempt was lost, in one line
    reason: str = ""

    def requeue(
        self, task: Task, queue: deque[Task], max_attempts: int, why: BaseException | None = None
    ) -> None:
        """Count a lost attempt of ``task``; put it back at the front unless it used them all."""
        self.lost += 1
        self.attempts[task[0]] += 1
        if self.attempts[task[0]] < max_attempts:
            queue.appendleft(task)
        else:
            self.abandoned.append(task[0])
            self.reason = lost_reason(why)


def lost_reason(e: BaseException | None) -> str:
    """Why an attempt was lost, for the summary line: numpy's "Unable to allocate ..." for a
    case out of memory (a held-out user saw a 596 GiB net left pending with no reason given)."""
    if isinstance(e, MemoryError):
        return f"out of memory: {' '.join(str(e).split())}" if str(e) else "out of memory"
    if isinstance(e, BrokenProcessPool) or e is None:
        return "its worker process died (killed, or out of memory)"
    return one_line(e)


def run_serial(tasks: Sequence[Task], files: Mapping[str, str], commit: Commit) -> RunStats:
    """Every task in this process, in order (debugging, profiling; no fault isolation)."""
    with one_blas_thread():
        for key, text in tasks:
            commit(key, run_case(text, files))
    return RunStats()


def _exit_with_parent() -> None:
    """Pool initializer: leave Ctrl-C to the parent (it terminates the workers), and exit when
    the parent process dies (killed with SIGKILL, say), rather than linger; a spawned worker
    otherwise waits forever on a queue its siblings keep open."""
    ignore_interrupts()
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def run_local(
    tasks: Sequence[Task],
    files: Mapping[str, str],
    commit: Commit,
    workers: int,
    window: int | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> RunStats:
    """The tasks on ``workers`` spawned processes; see the module docstring."""
    stats = RunStats()
    queue: deque[Task] = deque(tasks)
    order = {key: i for i, (key, _) in enumerate(tasks)}  # lost tasks go back in this order
    window = window or 2 * workers
    ctx = multiprocessing.get_context("spawn")
    first = True
    while queue:
        if not first:
            stats.restarts += 1
        first = False
        pool = ProcessPoolExecutor(
            max_workers=min(workers, len(queue)), mp_context=ctx, initializer=_exit_with_parent
        )
        inflight: dict[Future[dict[str, Any]], Task] = {}
        broken = False
        try:
            while (queue or inflight) and not broken:
                while queue and len(inflight) < window:
                    task = queue.popleft()
                    try:
                        inflight[pool.submit(run_case, task[1], files)] = task
                    except BrokenProcessPool:
                        queue.appendleft(task)
                        broken = True
                        break
                if not inflight:
                    break
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                    broken = True
                    done, _ = wait(inflight)  # the rest fail too, or finished just before
                lost = []
                for fut in done:
                    task = inflight.pop(fut)
                    if fut.exception() is None:
                        commit(task[0], fut.result())
                    else:
                        lost.append((task, fut.exception()))
                for task, why in sorted(lost, key=lambda t: order[t[0][0]], reverse=True):
                    stats.requeue(task, queue, max_attempts, why)
        except BaseException:
            stop_pool(pool)
            raise
        if broken:
            stop_pool(pool)
        else:
            pool.shutdown(wait=True)
    return stats
