"""The mutation run's test command: the claims ledger alone (the ``fast`` profile), stopping at
the first claim that misses its expectation.

Exit status 0 when every claim meets its expectation (the mutant survives), 1 otherwise: a
claim that misses, a claim that errors, an import that fails (the mutant is killed). It gives
the same verdict as ``descentcheck verify --profile fast`` (each claim is independent and
seeded), only sooner for a killed mutant: the claims that killed most mutants of the same file
earlier in the run go first (``MUTANTS_KILLS``, a JSON-lines log this runner appends to, and
``MUTANTS_FILE``, the mutated file, which :mod:`budget` sets), then the cheapest
(``Claim.cost`` ascending, ledger order among equals), and the run stops at the first miss.

Each run starts from a copy of the example database named by ``MUTANTS_SEED_DB`` when set (a
baseline run's, so the must-fail claims replay their known counterexample first, as a
developer's ``verify`` does), in a fresh temporary folder, so one mutant's failures never
reach another's run.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait


def _kills(path: str | None, mutated: str | None) -> Counter[str]:
    """How often each claim killed a mutant of the file ``mutated`` so far in this run (the
    JSON lines :func:`_record` appends to ``MUTANTS_KILLS``)."""
    counts: Counter[str] = Counter()
    if not path or not mutated or not os.path.isfile(path):
        return counts
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a line cut short by a stopped run
            if row.get("file") == mutated:
                counts[row.get("claim")] += 1
    return counts


def _record(path: str | None, mutated: str | None, claim: str) -> None:
    if path and mutated:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"file": mutated, "claim": claim}) + "\n")


def _order(kills: Counter[str] | None = None) -> list[str]:
    """The claims in the order they run: those that killed most mutants of the same file first
    (a mutant there is likeliest to die by them), then by cost, cheapest first. The order only
    changes how soon a killed mutant stops, never the verdict: every claim runs on a survivor."""
    from descentcheck.properties.claims import CLAIMS

    kills = kills or Counter()
    ranked = sorted(CLAIMS, key=lambda c: (-kills.get(c.id, 0), c.cost))
    return [c.id for c in ranked]


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
    kills_file, mutated = os.environ.get("MUTANTS_KILLS"), os.environ.get("MUTANTS_FILE")
    pool = ProcessPoolExecutor(max_workers=profile.jobs)
    try:
        order = _order(_kills(kills_file, mutated))
        pending = {pool.submit(_run_one, i, profile): i for i in order}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                claim = pending.pop(f)
                entry = f.result()
                if not entry["meets_expectation"]:
                    print(f"killed by {claim}: {entry['outcome']}", flush=True)
                    _record(kills_file, mutated, claim)
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
