"""One theory check's result: what it is, how it was established, whether it held."""

from __future__ import annotations

from dataclasses import dataclass, field

PROVED = "proved"  # symbolic: SymPy rewrote a difference to 0 or computed the stated object
SMT = "smt"  # an SMT solver found no counterexample over the reals (unsat)
NUMERIC = "numeric"  # floating-point comparisons at seeded points, error beside tolerance
NOT_RUN = "not run"  # nothing could be checked (a plugin refused when the registries load)


@dataclass
class CheckResult:
    """One check: what it is, how it was established, whether it held, and what was measured."""

    name: str
    kind: str  # PROVED, SMT, NUMERIC or NOT_RUN
    ok: bool
    summary: str
    details: list[str] = field(default_factory=list)
    seconds: float = 0.0
