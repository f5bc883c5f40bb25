"""The claims ledger for the report: ``descentcheck verify`` run beside the experiments.

:class:`VerifyRun` starts ``descentcheck.properties.run_verify`` in a child process (it spends
its own worker processes), so the ledger and the report's experiments share the machine's
cores instead of running one after the other. The child writes the ledger JSON
(``DESIGN.md``'s format) into the report folder.

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
import tempfile
import traceback
from pathlib import Path
from typing import Any


def _child(profile: str, claims: list[str] | None, json_path: str, seed: int) -> None:
    """Run verify and write its ledger, or an error record, to ``json_path``. It ends with the
    report (``die_with_parent``), says nothing on stderr (its failures go in the record: a
    Ctrl-C to the group printed its tracebacks under the parent's one line), and an interrupt
    ends it without a record (the parent, interrupted too, reports)."""
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
            return
        except BaseException as e:  # the report shows the failure instead of the ledger
            record = {
                "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc(),
                "profile": profile,
            }
            try:
                Path(json_path).write_text(json.dumps(record, indent=1))
            except OSError:  # the report removed its staging folder: it has stopped
                pass


class VerifyRun:
    """``run_verify(profile, claims)`` in a child process; :meth:`result` waits for it."""

    def __init__(self, profile: str, claims: tuple[str, ...] | None, json_path: Path, seed: int):
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
        """The ledger dict, or ``{"error": ...}`` if verify failed. The ledger file is
        rewritten with the database entry naming no temporary path (same seed, same file)."""
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
    """A ledger JSON file, or an error record saying why there is none."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        return {"error": f"verify wrote no ledger (exit code {exitcode}): {e}"}
    if not isinstance(data, dict) or ("claims" not in data and "error" not in data):
        return {"error": f"{path} is not a ledger"}
    return data
