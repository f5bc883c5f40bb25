"""``run_sweep``: read the sweep file, expand it, open its database, run what is pending.

Where cases run (``scheduler``):

* ``None`` or ``"local"``: ``workers`` spawned local processes (default: every core);
* ``"serial"``: one by one in this process (debugging and profiling; no fault isolation);
* an address with ``://`` (``tcp://HOST:PORT``): an existing Dask distributed cluster;
  ``workers`` then caps the cases in flight (default twice the cluster's threads).

Every finished case is committed at once (:mod:`.store`); re-running a finished sweep opens the
database, finds nothing pending and returns. Ctrl-C or SIGTERM stops the workers and raises
:class:`SweepInterrupted` (a ``KeyboardInterrupt``) whose message says how much is committed
(further signals are ignored until then: a second Ctrl-C cannot cut that cleanup short);
running the same command again resumes. The progress bar (tqdm, on stderr) shows cases done,
the rate and the time left; ``progress=None`` shows it only on a terminal.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from descentcheck.impl.interrupts import interrupt_once

from .config import load_config
from .errors import SweepError, SweepInterrupted
from .execute import RunStats, run_local, run_serial
from .expand import Plan, expand
from .store import SweepStore

MAX_WORKERS_PER_CORE = 8  # each is a Python process of ~100 MB; more only thrash


@dataclass(frozen=True)
class SweepSummary:
    """The state of a sweep after a run.

    ``done``/``failed``/``pending``: the database's counts now (``failed``: the case raised; its
    error is stored). ``already``: finished before this run. ``ran``: committed in this run.
    ``lost``: attempts whose worker died or raised (retried); ``restarts``: local pools
    replaced; ``abandoned``: keys left pending after their last attempt, ``reason`` why the last
    of them was lost."""

    db_path: Path
    name: str
    config_hash: str
    total: int
    done: int
    failed: int
    pending: int
    already: int
    ran: int
    lost: int
    restarts: int
    abandoned: tuple[str, ...]
    reason: str
    unfit_pairs: int
    seconds: float
    where: str

    @property
    def complete(self) -> bool:
        return self.pending == 0

    def format(self) -> str:
        """One line for the command line."""
        if self.ran == 0 and self.complete:
            head = f"sweep {self.name!r}: all {self.total} cases already done, nothing to run"
        else:
            head = (
                f"sweep {self.name!r}: {self.ran} case{'' if self.ran == 1 else 's'} run on "
                f"{self.where} in "
                f"{self.seconds:.1f} s; {self.done + self.failed} of {self.total} finished"
            )
        parts = [head]
        if self.failed:
            parts.append(f"{self.failed} failed (errors stored; see the report)")
        if self.lost:
            parts.append(f"{self.lost} worker losses retried")
        if self.abandoned:
            n = len(self.abandoned)
            parts.append(
                f"{n} case{'s' if n > 1 else ''} given up after every attempt was lost "
                f"(last: {self.reason})"
            )
        if self.pending:
            parts.append(f"{self.pending} still pending (run again to resume)")
        return "; ".join(parts) + f" [{self.db_path}]"


def _local(n: int) -> str:
    return f"{n} local process{'es' if n > 1 else ''}"


def _backend(scheduler: str | None, workers: int | None) -> tuple[str, str]:
    """(kind, description) for a scheduler argument; validates ``workers``."""
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise SweepError(f"workers must be a positive integer, got {workers!r}")
    if scheduler in (None, "", "local"):
        n = workers or os.cpu_count() or 1
        if n > MAX_WORKERS_PER_CORE * (os.cpu_count() or 1):
            raise SweepError(
                f"{n} local worker processes on {os.cpu_count() or 1} cores is more than "
                f"{MAX_WORKERS_PER_CORE} per core; a Dask cluster (--scheduler) spreads further"
            )
        return "local", _local(n)
    if scheduler == "serial":
        return "serial", "this process"
    if "://" in scheduler:
        return "dask", f"Dask at {scheduler}"
    raise SweepError(
        f"unknown scheduler {scheduler!r}: use tcp://HOST:PORT for a Dask cluster, "
        "'local' (the default) or 'serial'"
    )


def run_sweep(
    config_path: str | os.PathLike[str],
    db_path: str | os.PathLike[str],
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool | None = None,
) -> SweepSummary:
    """Run (or resume) the sweep in ``config_path`` against the database ``db_path``.

    Raises ``SweepConfigError`` (bad sweep file), ``SweepDbError`` (a file that is not this
    sweep's database), ``SweepError`` (scheduler problems) or :class:`SweepInterrupted`."""
    kind, where = _backend(scheduler, workers)
    t0 = time.perf_counter()
    plan = expand(load_config(config_path))
    client = None
    if kind == "dask":
        from .cluster import client_for

        assert scheduler is not None
        client = client_for(scheduler)  # before the database file is created
    try:
        return _run(plan, db_path, kind, where, client, workers, progress, t0)
    finally:
        if client is not None:
            client.close()


def _bar(name: str, total: int, pending: int, progress: bool | None) -> Any:
    """A tqdm bar over the cases (on a terminal only when ``progress`` is None), or None."""
    if progress is False or not pending:
        return None
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=total - pending,
        unit="case",
        desc=f"sweep {name}",
        disable=None if progress is None else False,
        dynamic_ncols=True,
        smoothing=0.1,
    )


def _run(
    plan: Plan,
    db_path: str | os.PathLike[str],
    kind: str,
    where: str,
    client: Any,
    workers: int | None,
    progress: bool | None,
    t0: float,
) -> SweepSummary:
    with interrupt_once(), SweepStore.open(db_path, plan) as store:
        before = store.counts()
        tasks = store.pending()
        total = len(plan.cases)
        ran = 0

        bar = _bar(plan.config.name, total, len(tasks), progress)

        def commit(key: str, outcome: Mapping[str, Any]) -> None:
            nonlocal ran
            if store.commit(key, outcome):
                ran += 1
                if bar is not None:
                    bar.update(1)

        stats = RunStats()
        try:
            if not tasks:
                pass
            elif kind == "serial":
                stats = run_serial(tasks, plan.files, commit)
            elif kind == "local":
                n = min(workers or os.cpu_count() or 1, len(tasks))  # no more than the cases
                where = _local(n)  # the summary said "1 case run on 2 local processes"
                stats = run_local(tasks, plan.files, commit, n)
            else:
                from .cluster import run_dask

                stats = run_dask(tasks, plan.files, commit, client, window=workers)
            after = store.counts()
        except KeyboardInterrupt as interrupt:
            c = store.counts()  # later signals are ignored (interrupt_once): this runs
            # from the database, not ``ran``: a Ctrl-C between a commit and its ``ran += 1``
            # said "3 of 24 committed (2 in this run)" on a fresh database (a CI run under load)
            committed = c["done"] + c["failed"]
            this_run = committed - before["done"] - before["failed"]
            from descentcheck.impl.interrupts import Terminated

            stopped = SweepInterrupted(
                f"interrupted: {committed} of {total} cases committed ({this_run} in "
                f"this run), nothing lost; run the same command again to resume"
            )
            stopped.terminated = isinstance(interrupt, Terminated)  # SIGTERM: status 143
            raise stopped from None
        finally:
            if bar is not None:
                bar.close()
    return SweepSummary(
        db_path=Path(db_path),
        name=plan.config.name,
        config_hash=plan.config_hash,
        total=total,
        done=after["done"],
        failed=after["failed"],
        pending=after["pending"],
        already=before["done"] + before["failed"],
        ran=ran,
        lost=stats.lost,
        restarts=stats.restarts,
        abandoned=tuple(stats.abandoned),
        reason=stats.reason,
        unfit_pairs=plan.unfit_pairs,
        seconds=time.perf_counter() - t0,
        where=where,
    )
