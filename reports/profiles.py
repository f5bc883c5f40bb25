"""Report profiles: how many cases, seeds, samples and steps each part of the report spends.

=========  =====================================================  ===============================
profile    used by                                                budget
=========  =====================================================  ===============================
smoke      the report's own tests: every section, tiny sizes      well under a minute
ci         ``descentcheck report`` (default), ``tox -e report``   < 5 minutes on 2 cores in all,
                                                                  the ``verify`` run included
thorough   ``descentcheck report --profile thorough``             long; shows progress
=========  =====================================================  ===============================

``verify`` names the properties profile the claims ledger runs (the ci report runs the
properties' fast profile, which still checks every claim; ``verify --profile ci`` alone takes
the whole 5-minute budget). ``claims`` limits the ledger to those claim ids (the smoke profile
runs two: one expected to hold, one expected to fail); None runs them all.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReportProfile:
    name: str
    verify: str  # properties profile of the claims ledger
    claims: tuple[str, ...] | None  # None: every claim
    region_cases: int  # generated cases per plane (adaptive; constant momentum)
    region_steps: int
    trajectory_steps: int
    ae_seeds: int
    ae_train: int  # digits used for training (the rest of the split is the test set)
    ae_test: int
    ae_steps: int
    distance_seeds: int
    distance_train: int
    distance_test: int
    distance_epochs: int
    distance_batch: int
    distance_lr_grid: int  # learning rates tried per optimizer (on seed 0) before the seeds
    hybrid_seeds: int
    vanishing_depths: tuple[int, ...]
    vanishing_seeds: int
    vanishing_rows: int


PROFILES: dict[str, ReportProfile] = {
    "smoke": ReportProfile(
        name="smoke",
        verify="fast",
        claims=("trainer-obeys-descent-lemma-gd", "gd-above-2-over-L-decreases"),
        region_cases=40,
        region_steps=10,
        trajectory_steps=40,
        ae_seeds=2,
        ae_train=150,
        ae_test=100,
        ae_steps=60,
        distance_seeds=2,
        distance_train=150,
        distance_test=100,
        distance_epochs=3,
        distance_batch=50,
        distance_lr_grid=1,
        hybrid_seeds=2,
        vanishing_depths=(1, 2, 4),
        vanishing_seeds=1,
        vanishing_rows=100,
    ),
    "ci": ReportProfile(
        name="ci",
        verify="fast",
        claims=None,
        region_cases=250,
        region_steps=30,
        trajectory_steps=300,
        ae_seeds=5,
        ae_train=500,
        ae_test=400,
        ae_steps=400,
        distance_seeds=5,
        distance_train=600,
        distance_test=400,
        distance_epochs=30,
        distance_batch=50,
        distance_lr_grid=9,
        hybrid_seeds=5,
        vanishing_depths=(1, 2, 4, 6, 8, 10),
        vanishing_seeds=3,
        vanishing_rows=400,
    ),
    "thorough": ReportProfile(
        name="thorough",
        verify="ci",
        claims=None,
        region_cases=1000,
        region_steps=60,
        trajectory_steps=1000,
        ae_seeds=10,
        ae_train=1200,
        ae_test=597,
        ae_steps=2000,
        distance_seeds=10,
        distance_train=1200,
        distance_test=597,
        distance_epochs=60,
        distance_batch=50,
        distance_lr_grid=9,
        hybrid_seeds=10,
        vanishing_depths=(1, 2, 4, 6, 8, 10, 12, 16),
        vanishing_seeds=10,
        vanishing_rows=1797,
    ),
}


def get_profile(name: str) -> ReportProfile:
    if name not in PROFILES:
        raise ValueError(f"unknown report profile {name!r}; known: {', '.join(PROFILES)}")
    return PROFILES[name]
