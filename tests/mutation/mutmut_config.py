"""mutmut 2's hook file (found on ``PYTHONPATH``; ``tox -e mutants`` puts this folder there):
skip the mutants :mod:`filters` does not try, so they are counted as skipped, never run."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from filters import filter_reason, sample_from_env, sampled

# numba's fused kernels and their dispatch: the mutants env installs no numba, so the ledger
# never runs them (numpy's chains do the work there); tests/test_fused.py holds each kernel to
# its chain bit for bit, and its hand-planted mutants are in that test's history
NOT_RUN_BY_THE_LEDGER = {"fused.py", "fused_kernels.py"}


def pre_mutation(context) -> None:
    """Mark the mutant skipped when it is filtered, outside the seeded sample, or in code the
    ledger does not run here."""
    import mutmut

    if Path(context.filename).name in NOT_RUN_BY_THE_LEDGER:
        context.skip = True
        return
    mid = context.mutation_id
    rate, seed = sample_from_env()
    if not sampled(context.filename, mid.line_number, mid.index, rate, seed):
        context.skip = True
        return
    probe = mutmut.Context(mutation_id=mid, filename=context.filename)
    mutated, _ = mutmut.mutate(probe)
    if filter_reason(probe.source, mutated) is not None:
        context.skip = True
