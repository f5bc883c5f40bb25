"""A claim: a small declarative object, and what checking it on one case returns.

Like PEPit's performance-estimation results, a check returns what it *measured* beside what
*theory* says (the guaranteed decrease beside the observed one, the bound on the sum of squared
gradients beside the sum), so the ledger shows both and a reader can see how tight a claim is.

``expect`` is ``"holds"`` (no counterexample may exist within the stated conditions) or
``"fails"`` (the search must find one: it shows the search has teeth).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hypothesis import strategies as st

from .profiles import Profile

Expect = Literal["holds", "fails"]
Aggregate = Literal["sum", "min", "max", "mean"]


@dataclass
class Context:
    """What a check may consult: the profile, and whether Hypothesis is still searching."""

    profile: Profile
    searching: bool = True  # False while Hypothesis shrinks a counterexample (see runner)


@dataclass
class Verdict:
    """One case's result.

    ``ok``: the property held on it. ``measured``/``theory``: numbers aggregated over cases as the
    claim's ``summary`` says. ``target``: steers Hypothesis toward bigger values (the claims
    expected to fail report the size of the loss increase; the claims expected to hold report
    none, so that the search keeps the strategies' spread of architectures instead of
    hill-climbing toward one). ``counterexample``: when not ok, the
    replayable record (see :mod:`descentcheck.properties.counterexample`)."""

    ok: bool
    measured: dict[str, float] = field(default_factory=dict)
    theory: dict[str, float] = field(default_factory=dict)
    target: float | None = None
    counterexample: dict[str, Any] | None = None
    message: str = ""


@dataclass(frozen=True)
class Claim:
    """id, statement, source, conditions, expectation; how to draw a case and check it.

    A *property* claim has ``strategy`` (profile -> Hypothesis strategy) and ``check``
    (drawn value, context -> :class:`Verdict`); an *experiment* claim (a statistical statement
    over seeds) has ``experiment`` (profile -> result dict) instead."""

    # required; the defaults only let a plugin that leaves one out get the registry's
    # one-line refusal naming it (registry.claims.problem), not a TypeError
    id: str = ""
    statement: str = ""
    source: str = ""
    conditions: tuple[str, ...] = ()
    expect: Expect | None = None
    strategy: Callable[[Profile], st.SearchStrategy[Any]] | None = None
    check: Callable[[Any, Context], Verdict] | None = None
    summary: Mapping[str, Aggregate] = field(default_factory=dict)
    experiment: Callable[[Profile], dict[str, Any]] | None = None
    falsify_budget: bool = False  # use Profile.falsify_examples (searching for a counterexample)
    cost: float = 1.0  # relative run time, to schedule the costliest claims first
    examples_scale: float = 1.0  # this claim's examples: the profile's count times this

    @property
    def kind(self) -> str:
        return "experiment" if self.experiment is not None else "property"
