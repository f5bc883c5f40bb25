"""The first round's descent regions, kept only as a comparison for the report.

They bounded the two terms of the descent lemma separately, ``g.m >= -|g| |m|`` and
``|d| <= lr |g| + |m|``, which no single momentum direction attains at once, so they are
sufficient but loose: ``s + L (lr + s)^2 / 2 < lr``, i.e.
``s < (sqrt(1 + 4 L lr) - 1 - L lr) / L``, peaking at ``1/(4L)`` at ``lr = 3/(4L)``. The exact
region :func:`.descent.max_tau` = ``min(lr, 2/L - lr)`` contains it (proved in
:mod:`.descent_smt`, obligation ``cauchy-schwarz-inside-exact``) and has three times its area in
the ``(lr L, s L)`` plane (1 against 1/3, :mod:`.descent_proofs`).
"""

from __future__ import annotations

import math

__all__ = ["cs_guaranteed", "cs_max_tau"]


def cs_max_tau(lr: float, L: float) -> float:
    """``(sqrt(1 + 4 L lr) - 1 - L lr) / L`` in its cancellation-free form
    ``lr (3 - q) / (1 + q)``, ``q = sqrt(1 + 4 L lr)``; ``lr`` when L = 0."""
    q = math.sqrt(1.0 + 4.0 * L * lr)
    return lr * (3.0 - q) / (1.0 + q)


def cs_guaranteed(lr: float, s: float, L: float) -> bool:
    """The first round's region for a step with momentum length ``s |g|``."""
    return s + L * (lr + s) ** 2 / 2.0 < lr
