"""``tox -e mutants``: the whole mutation run, then its results file.

1. The ledger once on the unmutated tree (it must be green), into a fresh example database
   that every mutant's run starts from (``MUTANTS_SEED_DB``, see :mod:`ledger_runner`).
2. ``mutmut run`` (configuration in ``pyproject.toml``'s ``[tool.mutmut]``; the hook in
   :mod:`mutmut_config` skips what :mod:`filters` does not try). mutmut mutates the files in
   place and restores each one, so run this in a clone nobody else is testing in.
3. :mod:`collect` writes ``reports/mutants.json`` (commit, seconds, sample, every tried
   mutant with its status and each survivor's triage from ``triage.json``).

``MUTANTS_SAMPLE`` / ``MUTANTS_SEED`` pick a reproducible sample (default: every mutant);
``MUTANTS_BUDGET_S`` runs that sample in :mod:`budget`'s hash order and stops starting mutants
after so many seconds, which leaves the same seeded sample at a smaller rate.
"""

from __future__ import annotations

import json
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
    env.setdefault("MUTANTS_KILLS", str(root / "mutants-kills.jsonl"))  # see ledger_runner
    t0 = time.perf_counter()
    rate, seed = env.get("MUTANTS_SAMPLE", "1"), env.get("MUTANTS_SEED", "0")
    budget = env.get("MUTANTS_BUDGET_S")
    # mutmut's exit status is a bit mask of what it saw (survivors included): not a failure
    mutmut = ["mutmut", "run", "--no-progress", "--simple-output"]
    if budget:
        # fill the cache (baseline, every mutant skipped), then the sample in hash order
        subprocess.run(mutmut, cwd=root, env={**env, "MUTANTS_SAMPLE": "0"})
        cmd = [sys.executable, str(HERE / "budget.py"), "--seconds", budget]
        subprocess.run([*cmd, "--rate", rate, "--seed", seed], cwd=root, env=env, check=True)
        rate = str(json.loads((root / "budget.json").read_text())["rate"])
    else:
        subprocess.run(mutmut, cwd=root, env=env)
    seconds = time.perf_counter() - t0
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
