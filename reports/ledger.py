"""The claims ledger for the report: ``descentcheck verify`` run beside the experiments.

:class:`VerifyRun` starts ``descentcheck.properties.run_verify`` in a child process (it spends
its own worker processes), so the ledger and the report's experiments share the machine's
cores instead of running one after the other. The child writes the ledger JSON
(``DESIGN.md``'s format) into the report folder.

A verify that does not finish (it raised, was killed, was interrupted alone) leaves no ledger:
the build then stops with one line naming why, before anything is published, so the earlier
report stays whole (a killed verify was published as a report with no claims, beside the
earlier run's ``ledger.json``).

Same seed, same numbers: the child searches with a fixed Hypothesis seed (the report's seed,
through ``DESCENTCHECK_SEED``) and a fresh, empty example database in a temporary folder, so a
counterexample saved by an earlier run cannot change what this run finds. BLAS runs with one
thread in the child and its workers (``OPENBLAS_NUM_THREADS`` and friends, set before numpy
loads), as in the build itself.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any


def _child(profile: str, claims: list[str] | None, json_path: str, seed: int) -> None:
    """Run verify and write its ledger to ``json_path``, or exit non-zero: 1 with an error
    record there when verify raised, 130 when interrupted. It ends with the report
    (``die_with_parent``) and says nothing on stderr (a Ctrl-C to the group printed its
    tracebacks under the parent's one line)."""
    from descentcheck.impl.interrupts import die_with_parent

    die_with_parent()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    with tempfile.TemporaryDirectory(prefix="descentcheck-report-hypothesis-") as db:
        os.environ["DESCENTCHECK_HYPOTHESIS_DB"] = db
        os.environ["DESCENTCHECK_SEED"] = str(seed)
        try:
            from descentcheck.impl.threads import one_blas_thread
            from descentcheck.properties import run_verify

            with one_blas_thread():
                run_verify(profile, json_path, stats=False, progress=False, claims=claims)
        except KeyboardInterrupt:
            sys.exit(130)
        except BaseException as e:  # the parent names it
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            record = {"error": f"{type(e).__name__}: {first}" if first else type(e).__name__}
            try:
                Path(json_path).write_text(json.dumps(record))
            except OSError:  # the report removed its staging folder: it has stopped
                pass
            sys.exit(1)


class VerifyRun:
    """``run_verify(profile, claims)`` in a child process; :meth:`result` waits for it."""

    def __init__(
        self, profile: str, claims: tuple[str, ...] | None, json_path: Path, seed: int
    ) -> None:
        self.json_path = Path(json_path)
        self.json_path.unlink(missing_ok=True)
        ctx = multiprocessing.get_context("spawn")
        self.process = ctx.Process(
            target=_child,
            args=(profile, list(claims) if claims else None, str(self.json_path), seed),
            name="descentcheck-verify",
        )
        self.process.start()

    def done(self) -> bool:
        return not self.process.is_alive()

    def result(self) -> dict[str, Any]:
        """The ledger dict; a verify that did not finish raises a one-line
        :class:`~descentcheck.impl.errors.DescentcheckError`. The ledger file is rewritten with
        the database entry naming no temporary path (same seed, same file)."""
        self.process.join()
        data = load_ledger(self.json_path, self.process.exitcode)
        if "hypothesis_database" in data:
            data["hypothesis_database"] = "a fresh temporary folder, removed after the run"
            self.json_path.write_text(json.dumps(data, indent=1) + "\n")
        return data

    def stop(self) -> None:
        """End the child (and so its workers) when the build is interrupted."""
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)


def load_ledger(path: Path, exitcode: int | None = 0) -> dict[str, Any]:
    """The ledger JSON file verify wrote, exiting with ``exitcode``; anything else raises a
    one-line :class:`~descentcheck.impl.errors.DescentcheckError` saying why there is none."""
    from descentcheck.impl.errors import DescentcheckError

    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        data = None
    if exitcode == 0 and isinstance(data, dict) and "claims" in data:
        return data
    if isinstance(data, dict) and "error" in data:  # descentcheck verify shows it whole
        why = f"verify failed: {data['error']}"
    elif exitcode is not None and exitcode < 0:
        why = f"verify was killed by signal {signal.Signals(-exitcode).name}"
    elif exitcode == 130:
        why = "verify was interrupted"
    else:
        why = f"verify stopped without a ledger (exit code {exitcode})"
    raise DescentcheckError(f"{why}; nothing was published (an earlier report is left as it was)")
