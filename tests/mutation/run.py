"""``tox -e mutants``: the whole mutation run, then its results file.

1. The ledger once on the unmutated tree (it must be green), into a fresh example database
   that every mutant's run starts from (``MUTANTS_SEED_DB``, see :mod:`ledger_runner`).
2. ``mutmut run`` (configuration in ``pyproject.toml``'s ``[tool.mutmut]``; the hook in
   :mod:`mutmut_config` skips what :mod:`filters` does not try). mutmut mutates the files in
   place and restores each one, so run this in a clone nobody else is testing in.
3. :mod:`collect` writes ``reports/mutants.json`` (commit, seconds, sample, every tried
   mutant with its status and each survivor's triage from ``triage.json``).

``MUTANTS_SAMPLE`` / ``MUTANTS_SEED`` pick a reproducible sample (default: every mutant).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    root = HERE.parent.parent
    commit = (
        subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False
        ).stdout.strip()
        or "unknown"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    seed_db = tempfile.mkdtemp(prefix="mutants-seed-db-")
    base = subprocess.run(
        ["descentcheck", "verify", "--profile", "fast"],
        cwd=root,
        env={**env, "DESCENTCHECK_HYPOTHESIS_DB": seed_db},
        check=False,
    )
    if base.returncode != 0:
        print("the ledger is not green on the unmutated tree; no mutation run", file=sys.stderr)
        return 1
    env["MUTANTS_SEED_DB"] = seed_db
    t0 = time.perf_counter()
    # mutmut's exit status is a bit mask of what it saw (survivors included): not a failure
    subprocess.run(["mutmut", "run", "--no-progress", "--simple-output"], cwd=root, env=env)
    seconds = time.perf_counter() - t0
    rate, seed = env.get("MUTANTS_SAMPLE", "1"), env.get("MUTANTS_SEED", "0")
    return subprocess.run(
        [
            sys.executable,
            str(HERE / "collect.py"),
            "--commit",
            commit,
            "--seconds",
            f"{seconds:.0f}",
            "--rate",
            rate,
            "--seed",
            seed,
            "--out",
            str(root / "reports" / "mutants.json"),
        ],
        cwd=root,
        env=env,
        check=False,
    ).returncode


if __name__ == "__main__":
    sys.exit(main())
