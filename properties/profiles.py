"""Profiles: how hard ``verify`` searches, and where Hypothesis keeps its examples.

=========  ==========================================================  ==========================
profile    used by                                                     budget
=========  ==========================================================  ==========================
fast       the pytest suite: every claim still checked, small counts   ~1 minute on 2 cores
ci         ``descentcheck verify --profile ci``                         < 150 s on 2 cores
thorough   ``tox -e properties`` / ``verify --profile thorough``         far more; may take long
=========  ==========================================================  ==========================

Environment: ``DESCENTCHECK_HYPOTHESIS_DB`` sets the example database folder (default
``.hypothesis/`` in the working directory, Hypothesis's own default place);
``DESCENTCHECK_JOBS`` the number of worker processes (default: up to 2, the budget's cores);
``DESCENTCHECK_SEED`` the Hypothesis seed (fast and ci use a fixed seed, so a run is repeatable;
thorough draws a fresh one each run).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

from .local_constants import ignore_local_constants
from .strategies import Limits

DEFAULT_DATABASE = ".hypothesis"

# Hypothesis settings profiles for the pytest suite, registered here and nowhere else: tests
# take ``hypothesis_settings(NAME)`` instead of a literal ``max_examples``. Each name is a cost
# tier (what one example costs), its count scaled by the active profile (``DESCENTCHECK_PROFILE``:
# fast 1x, the pytest default; ci 3x; thorough 10x). The property profiles keep the example
# database (a failure found once is replayed first; Hypothesis refuses a database beside
# derandomize); the survey profile, whose tests measure what a strategy generates, is
# derandomized (a fixed seed per test) instead, and not scaled (its shares are calibrated at 300).
TEST_PROFILE = "descentcheck-tests"  # an example is cheap (array ops, one small network)
TEST_PROFILE_MANY = "descentcheck-tests-many"  # an example is a formula evaluated in floats
TEST_PROFILE_MEDIUM = "descentcheck-tests-medium"  # an example backprops or encloses a few nets
TEST_PROFILE_SLOW = "descentcheck-tests-slow"  # an example trains a network or runs SymPy
TEST_PROFILE_HEAVY = "descentcheck-tests-heavy"  # an example runs Arb/mpmath or finite differences
TEST_PROFILE_EXACT = "descentcheck-tests-exact"  # an example differentiates in 50-digit mpmath
TEST_PROFILE_SURVEY = "descentcheck-tests-survey"  # tests measuring what a strategy generates

# examples per tier at scale 1 (the fast profile)
TEST_EXAMPLES: dict[str, int] = {
    TEST_PROFILE: 60,
    TEST_PROFILE_MANY: 100,
    TEST_PROFILE_MEDIUM: 40,
    TEST_PROFILE_SLOW: 30,
    TEST_PROFILE_HEAVY: 10,
    TEST_PROFILE_EXACT: 4,
}
TEST_SCALE: dict[str, int] = {"fast": 1, "ci": 3, "thorough": 10}


def examples_scale() -> int:
    """How many times the tiers' example counts the active profile runs (unknown names: 1; the
    profile name itself is checked where it is used, by :func:`get_profile`)."""
    return TEST_SCALE.get(os.environ.get("DESCENTCHECK_PROFILE", "fast"), 1)


def _register() -> None:
    ignore_local_constants()  # the same cases from a checkout as from a wheel
    db = DirectoryBasedExampleDatabase(
        os.environ.get("DESCENTCHECK_HYPOTHESIS_DB") or DEFAULT_DATABASE
    )
    scale = examples_scale()
    for name, n in TEST_EXAMPLES.items():
        settings.register_profile(name, max_examples=n * scale, deadline=None, database=db)
    settings.register_profile(
        TEST_PROFILE_SURVEY, max_examples=300, deadline=None, database=None, derandomize=True
    )


_register()


def hypothesis_settings(name: str = TEST_PROFILE, **overrides: object) -> settings:
    """The registered profile ``name`` (optionally with overrides), for a test's decorator."""
    return settings(settings.get_profile(name), **overrides)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Profile:
    """Search effort for one ``verify`` run."""

    name: str
    examples: int  # Hypothesis examples for each claim expected to hold
    falsify_examples: int  # the most examples spent looking for a counterexample
    steps: int  # updates per trajectory in the per-step descent claims
    convergence_steps: int  # updates per trajectory in the weight-path claim
    metamorphic_steps: int  # updates compared in the metamorphic claims
    distance_seeds: int  # paired seeds in the RMSProp-vs-SGD experiment (see PROFILES["ci"])
    distance_steps: int  # updates per run there
    # the first evaluation seed of that experiment: thorough's window is disjoint from the
    # others', so a thorough run replicates the ci verdict on fresh seeds (a held-out
    # statistician found 2000-2299 overlapping ci's 2000-2079)
    distance_seed0: int = 2000
    limits: Limits = field(default_factory=Limits)
    seed: int | None = 0  # Hypothesis seed; None draws a fresh one
    jobs: int = 2
    database: str = DEFAULT_DATABASE


PROFILES: dict[str, Profile] = {
    "fast": Profile(
        name="fast",
        examples=50,
        # 200, not 150: after the generator's changes of 1 Dec, apriori-adaptive-momentum-c1
        # held over 150 cases (Hypothesis plans its phases from this budget); at 200 it fell on
        # its 31st case, at 300 its 52nd (measured). The other must-fail claims fall within 11.
        falsify_examples=200,
        steps=8,
        convergence_steps=20,
        metamorphic_steps=3,
        distance_seeds=80,  # the power analysis in PROFILES["ci"]
        distance_steps=150,
    ),
    "ci": Profile(
        name="ci",
        examples=400,
        falsify_examples=1000,
        steps=12,
        convergence_steps=30,
        metamorphic_steps=5,
        # 80, fixed before the run it judges (2026-12-03): with every optimizer tuned on a grid
        # of quarter decades (a held-out review found the former half-decade grid handicapped
        # momentum), a pilot on seeds 0-29 gave RMSProp 28 wins against SGD and 21 (70%)
        # against momentum, p = 0.02, short of ALPHA = 0.01. At a win rate of 0.7 the one-sided
        # sign test at 0.01 needs 51 wins of 80 and has power 0.91 (binomial; 0.43 at 30, 0.68
        # at 50). The evaluation seeds are fresh (distance_seed0 on), not the pilot's.
        distance_seeds=80,
        distance_steps=300,
    ),
    "thorough": Profile(
        name="thorough",
        examples=4000,
        falsify_examples=10000,
        steps=25,
        convergence_steps=100,
        metamorphic_steps=10,
        distance_seeds=300,
        distance_steps=600,
        distance_seed0=3000,
        limits=Limits(max_blocks=6, max_width=6, max_inputs=4, max_rows=16),
        seed=None,
    ),
}


def _env_int(name: str, least: int) -> int | None:
    """The environment's integer ``name`` (None when unset or empty), else a one-line error."""
    from descentcheck.impl.errors import DescentcheckError

    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < least:
        raise DescentcheckError(f"{name}={text!r}: expected an integer >= {least}")
    return value


def _env_database() -> str | None:
    """``DESCENTCHECK_HYPOTHESIS_DB``, refused in one line when it names a file (Hypothesis
    would then keep no counterexample, silently)."""
    from descentcheck.impl.errors import DescentcheckError

    path = os.environ.get("DESCENTCHECK_HYPOTHESIS_DB")
    if path and os.path.exists(path) and not os.path.isdir(path):
        raise DescentcheckError(
            f"DESCENTCHECK_HYPOTHESIS_DB={path!r}: is a file, not a folder for the examples"
        )
    return path or None


def horizon(field: str = "steps") -> str:
    """A claim's profile-dependent number of updates as its conditions state it: ``K = 8
    (fast), 12 (ci), 25 (thorough) updates per run`` for ``steps`` (``field``: the
    :class:`Profile` field the claim reads)."""
    each = ", ".join(f"{getattr(p, field)} ({p.name})" for p in PROFILES.values())
    return f"K = {each} updates per run, by profile"


def get_profile(name: str) -> Profile:
    """The named profile with the environment's overrides (see the module docstring); a bad
    override is a one-line ``DescentcheckError`` naming the variable."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}")
    p = PROFILES[name]
    if (database := _env_database()) is not None:
        p = replace(p, database=database)
    jobs = _env_int("DESCENTCHECK_JOBS", 1)
    p = replace(p, jobs=jobs if jobs is not None else max(1, min(p.jobs, os.cpu_count() or 1)))
    if (seed := _env_int("DESCENTCHECK_SEED", 0)) is not None:
        p = replace(p, seed=seed)
    return p
