"""``python -m descentcheck.theory``: run every derivation, proof and check; print a summary.

Exit status 0 when everything held, 1 when anything failed. ``-v`` prints every detail line.
"""

from __future__ import annotations

import argparse
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m descentcheck.theory",
        description="Run every derivation, proof and check of descentcheck.theory (plugins "
        "included) and print a summary; exit status 1 when anything failed.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print every detail line")
    verbose = parser.parse_args(argv).verbose
    from .checks import NOT_RUN, NUMERIC, PROVED, SMT, run_all

    t0 = time.perf_counter()
    results = run_all()
    for kind, title in (
        (PROVED, "Proved symbolically (SymPy; exact rationals)"),
        (SMT, "Proved over the reals by an SMT solver (z3); every obligation listed"),
        (NUMERIC, "Checked numerically"),
        (NOT_RUN, "Not run"),
    ):
        if kind == NOT_RUN and not any(r.kind == NOT_RUN for r in results):
            continue
        print(f"== {title}")
        for r in (r for r in results if r.kind == kind):
            mark = "ok  " if r.ok else "FAIL"
            print(f"[{mark}] {r.name}  ({r.seconds:.1f} s)")
            print(f"       {r.summary}")
            shown = (
                r.details
                if (verbose or not r.ok or kind == SMT)
                else [d for d in r.details if d.startswith(("finding", "DESIGN", "tanh/", "relu:"))]
            )
            for d in shown:
                print(f"       - {d}")
    failed = [r for r in results if not r.ok]
    total = time.perf_counter() - t0
    counted = ((PROVED, "symbolic"), (SMT, "SMT"), (NUMERIC, "numeric"), (NOT_RUN, "not run"))
    tally = {k: sum(r.kind == k for r in results) for k, _ in counted}
    kinds = [f"{tally[k]} {word}" for k, word in counted if tally[k] or k != NOT_RUN]
    print(
        f"theory: {len(results) - len(failed)} passed, {len(failed)} failed "
        f"({', '.join(kinds)}) in {total:.1f} s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
