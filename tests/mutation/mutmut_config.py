"""mutmut 2's hook file (found on ``PYTHONPATH``; ``tox -e mutants`` puts this folder there):
skip the mutants :mod:`filters` does not try, so they are counted as skipped, never run."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from filters import filter_reason, sample_from_env, sampled


def pre_mutation(context) -> None:
    """Mark the mutant skipped when it is filtered or outside the seeded sample."""
    import mutmut

    mid = context.mutation_id
    rate, seed = sample_from_env()
    if not sampled(context.filename, mid.line_number, mid.index, rate, seed):
        context.skip = True
        return
    probe = mutmut.Context(mutation_id=mid, filename=context.filename)
    mutated, _ = mutmut.mutate(probe)
    if filter_reason(probe.source, mutated, context.filename) is not None:
        context.skip = True
