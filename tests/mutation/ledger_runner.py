"""The mutation run's test command: the claims ledger alone (the ``fast`` profile), stopping at
the first claim that misses its expectation.

Exit status 0 when every claim meets its expectation (the mutant survives), 1 otherwise: a
claim that misses, a claim that errors, an import that fails (the mutant is killed). It gives
the same verdict as ``descentcheck verify --profile fast`` (each claim is independent and
seeded), only sooner for a killed mutant: the cheapest claims run first (``Claim.cost``
ascending, ledger order among equals) and the run stops at the first miss.

Each run starts from a copy of the example database named by ``MUTANTS_SEED_DB`` when set (a
baseline run's, so the must-fail claims replay their known counterexample first, as a
developer's ``verify`` does), in a fresh temporary folder, so one mutant's failures never
reach another's run.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait


def _order() -> list[str]:
    from descentcheck.properties.claims import CLAIMS

    return [c.id for c in sorted(CLAIMS, key=lambda c: c.cost)]


def _fresh_database() -> str:
    db = tempfile.mkdtemp(prefix="mutants-db-")
    seed_db = os.environ.get("MUTANTS_SEED_DB")
    if seed_db and os.path.isdir(seed_db):
        shutil.copytree(seed_db, db, dirs_exist_ok=True)
    return db


def run(profile_name: str = "fast") -> int:
    """0 when every claim meets its expectation, 1 at the first that does not."""
    from descentcheck.properties.ledger import _run_one
    from descentcheck.properties.profiles import get_profile

    db = _fresh_database()
    os.environ["DESCENTCHECK_HYPOTHESIS_DB"] = db
    profile = get_profile(profile_name)
    pool = ProcessPoolExecutor(max_workers=profile.jobs)
    try:
        pending = {pool.submit(_run_one, i, profile): i for i in _order()}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                claim = pending.pop(f)
                entry = f.result()
                if not entry["meets_expectation"]:
                    print(f"killed by {claim}: {entry['outcome']}", flush=True)
                    return 1
        print("every claim met its expectation", flush=True)
        return 0
    finally:
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.kill()  # a stopped run must not leave its workers computing
        pool.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(db, ignore_errors=True)


def main() -> None:
    try:
        code = run(os.environ.get("MUTANTS_PROFILE", "fast"))
    except BaseException as e:  # a crash under a mutant kills it: report, exit 1
        print(f"killed by a crash: {type(e).__name__}: {str(e).splitlines()[:1]}", flush=True)
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
