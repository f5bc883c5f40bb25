"""Running pending cases on an existing Dask distributed cluster (``--scheduler tcp://H:P``).

Dask is optional (``pip install -e '.[dask]'`` in the checkout) and imported here only. The parent
connects a ``distributed.Client``, submits :func:`.worker.run_case` for at most ``window`` cases
at a time (default twice the cluster's worker threads), and commits each result as it comes
back, in this process: workers never see the database. Every worker needs descentcheck
installed (the same version, for the same bits) and, for sweeps over ``.npz`` files, the files
at the same paths.

Task keys are ``descentcheck-sweep-<case key>-<attempt>``. A case whose worker died (Dask
retries such a task itself before raising ``KilledWorker``) or that raised instead of returning
is *lost*, as with local workers (:mod:`.execute`): nothing is committed, it is tried again up
to ``max_attempts`` times in all, then left pending. On an interrupt the futures in flight are
cancelled and the client closed; the cluster keeps running.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import SweepError
from .execute import MAX_ATTEMPTS, Commit, RunStats, Task
from .worker import run_case

INSTALL_HINT = "its extra: pip install -e '.[dask]' in descentcheck's checkout"
CONNECT_TIMEOUT = "20s"


def require_dask(address: str) -> None:
    """Raise a one-line :class:`SweepError` naming the install command when Dask's
    distributed scheduler cannot be imported."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise SweepError(
            f"--scheduler {address} needs Dask's distributed scheduler, which is not installed: "
            f"{INSTALL_HINT}"
        ) from None


def client_for(address: str) -> Any:
    """A ``distributed.Client`` connected to ``address``, or a one-line :class:`SweepError`."""
    require_dask(address)
    from distributed import Client
    from distributed.comm.addressing import parse_address, parse_host_port

    try:  # before Client(): a Client that fails on a malformed address hangs when collected
        scheme, location = parse_address(address, strict=True)
        if scheme in ("tcp", "tls"):
            parse_host_port(location)
    except ValueError as e:
        raise SweepError(f"bad Dask scheduler address {address!r}: {e}") from None
    try:
        return Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as e:
        msg = " ".join(str(e).split()) or type(e).__name__
        raise SweepError(f"cannot reach the Dask scheduler at {address}: {msg}") from None
    except ValueError as e:
        raise SweepError(f"bad Dask scheduler address {address!r}: {e}") from None


def run_dask(
    tasks: Sequence[Task],
    files: Mapping[str, str],
    commit: Commit,
    client: Any,
    window: int | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> RunStats:
    """The tasks on the cluster of ``client`` (from :func:`client_for`; the caller closes it);
    see the module docstring."""
    from distributed import as_completed

    stats = RunStats()
    queue: deque[Task] = deque(tasks)
    inflight: dict[str, tuple[Task, Any]] = {}
    try:
        threads = sum(client.nthreads().values()) or 1
        window = window or 2 * threads

        def submit() -> Any:
            task = queue.popleft()
            attempt = stats.attempts[task[0]]
            fut = client.submit(
                run_case,
                task[1],
                dict(files),
                key=f"descentcheck-sweep-{task[0]}-{attempt}",
                pure=False,
            )
            inflight[fut.key] = (task, fut)
            return fut

        first = [submit() for _ in range(min(window, len(queue)))]
        futures = as_completed(first, loop=client.loop)
        for fut in futures:
            task, _ = inflight.pop(fut.key)
            if fut.status == "finished":
                commit(task[0], fut.result())
            else:
                stats.requeue(task, queue, max_attempts, _why(fut))
            fut.release()
            while queue and len(inflight) < window:
                futures.add(submit())
    finally:
        if inflight:
            try:
                client.cancel([f for _, f in inflight.values()])
            except Exception:  # the interrupt matters more than a failed cancel
                pass
    return stats


def _why(fut: Any) -> BaseException | None:
    """The exception a lost future holds (a cancelled one holds none)."""
    try:
        return fut.exception(timeout=0)
    except Exception:
        return None
