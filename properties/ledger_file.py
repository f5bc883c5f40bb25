"""Reading a ledger file back (``verify --json``'s output) for ``replay`` and ``report --ledger``.

The file is checked before anything runs on it, against what its readers use: a JSON object
whose ``format`` (when given) is ``descentcheck.ledger/1``, with ``profile``, ``seconds`` and a
``claims`` list; each claim an object with ``id``, ``expect`` (``holds`` or ``fails``),
``outcome`` (``held``, ``falsified`` or ``error``), ``examples`` and ``meets_expectation`` (as
``expect`` and ``outcome`` say), and where present ``conditions`` (strings), ``message`` (a
string) and ``counterexample`` (an object or null; one that is a run to replay must be one
``train`` accepts, of at most :data:`MAX_LEDGER_STEPS` steps and no more than the run it
records, and one that says ``certified_increase`` must show the rise; a falsified claim's
loss record must say ``certified_increase`` or ``certified_violation``; a skip claim's record of
its sequential run, which the report draws beside the skip net, must hold a spec, at least two
finite losses and both nets' L_0). Other keys are
kept as they are. Every problem is :class:`LedgerError`, one line naming the file, where in it
and what is wrong (``claims[2].outcome: ...``): never a traceback, and never after a long
build.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from descentcheck.impl.errors import DescentcheckError, located
from descentcheck.impl.io import read_document
from descentcheck.impl.trajectory import NON_FINITE
from descentcheck.impl.validated import first_problem, kind_of, problem
from descentcheck.registry.claims import ID

from .ledger import LEDGER_FORMAT
from .runner import meets_expectation


class LedgerError(DescentcheckError):
    """A file given as a ledger that is not one."""


#: The most steps a ledger's counterexample may run. ``report --ledger`` replays each one (and a
#: few steps more), so a hand-edited ``steps`` of 10**30 kept it replaying for ever; the cap
#: refuses that before any work. The counterexamples of every profile run far fewer: a
#: per-step claim's run stops at its rise (under the profile's ``steps``, 25 at thorough), the
#: weight-path claim's runs ``convergence_steps`` (100 at thorough), the a-priori claims' 30;
#: the longest run of any profile, the distance experiment's ``distance_steps`` (600 at
#: thorough), keeps no counterexample. 10,000 leaves a hundredfold headroom (a plugin claim's
#: longer runs) and is quick to report: a counterexample of 10,000 steps took a smoke report
#: 31 s, one of 2 steps 17 s (measured on 2 cores).
MAX_LEDGER_STEPS = 10_000


class _Entry(BaseModel):
    model_config = ConfigDict(extra="allow")


def _claim_id(v: str) -> str:
    """A claim id as the claims registry makes them: a report names figure files by it."""
    if not ID.fullmatch(v):
        raise problem(f"{v!r} is not a claim id (letters and digits joined by - or _)")
    return v


class ClaimRecord(_Entry):
    id: Annotated[StrictStr, AfterValidator(_claim_id)]
    expect: Literal["holds", "fails"]
    outcome: Literal["held", "falsified", "error"]
    examples: StrictInt = Field(ge=0)
    meets_expectation: StrictBool
    conditions: list[StrictStr] = []
    message: StrictStr = ""
    counterexample: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _as_expected(self) -> ClaimRecord:
        """The flag the report counts agrees with ``expect`` and ``outcome`` (a hand-edited
        ledger's did not, and its summary said 46 of 46 met their expectation)."""
        meets = meets_expectation(self.expect, self.outcome)
        if self.meets_expectation != meets:
            raise problem(
                f"is {self.meets_expectation}, but expect {self.expect!r} with outcome "
                f"{self.outcome!r} {'meets' if meets else 'does not meet'} it",
                "meets_expectation",
            )
        ce = self.counterexample
        loss_record = ce is not None and "loss_before" in ce
        certified = loss_record and (ce.get("certified_increase") or ce.get("certified_violation"))
        if self.outcome == "falsified" and loss_record and not certified:
            # verify records such a claim as an error (runner._require_certified); a
            # hand-edited ledger's said falsified, and replay and report showed it
            raise problem(
                "a falsified claim's loss record must be certified (certified_increase or "
                "certified_violation true), as verify writes it",
                "counterexample",
            )
        return self


class LedgerRecord(_Entry):
    format: Literal[LEDGER_FORMAT] = LEDGER_FORMAT  # type: ignore[valid-type]
    profile: StrictStr
    seconds: StrictFloat = Field(ge=0)  # strict floats take integers
    claims: list[ClaimRecord]


def _not_a_ledger(p: Path, problem: str) -> LedgerError:
    """``problem`` is ``WHERE: WHAT`` (the wording of :mod:`descentcheck.impl.validated`)."""
    return LedgerError(f"{p} is not a ledger written by verify --json: {problem}")


def _spec(v: dict[str, Any]) -> dict[str, Any]:
    from descentcheck.impl.errors import SpecError
    from descentcheck.impl.spec import parse_spec

    try:
        parse_spec(v)
    except SpecError as e:
        raise problem(f"invalid spec: {e}") from None
    return v


Finite = Annotated[StrictFloat, Field(allow_inf_nan=False)]


def _estimate(v: Any) -> Any:
    """An L_0 estimate, shown as it is: a number, or one verify wrote as a string."""
    if isinstance(v, bool) or not (isinstance(v, int | float) or v in NON_FINITE):
        raise problem(f"expected a number or one of {', '.join(NON_FINITE)}, got {kind_of(v)}")
    return v


class SequentialRun(_Entry):
    """A skip claim's sequential net and its losses (``claims/skip.py`` writes it)."""

    spec: Annotated[dict[str, Any], AfterValidator(_spec)]
    losses: list[Finite] = Field(min_length=2)


class SkipPair(_Entry):
    """What the report reads of a counterexample that carries a ``sequential`` record."""

    sequential: SequentialRun
    L0_sequential: Annotated[Any, AfterValidator(_estimate)]
    L0_skip: Annotated[Any, AfterValidator(_estimate)]


def _steps_problem(ce: dict[str, Any]) -> str | None:
    """What is wrong with the ``steps`` of a counterexample ``train`` accepts (its rising
    ``step`` already lies below them), or None: more than :data:`MAX_LEDGER_STEPS`, or more
    than its skip claim's sequential run recorded (both nets ran the profile's steps, and the
    skip net's replay stops at its rise)."""
    from .counterexample import _shown

    steps = ce["hyperparameters"]["steps"]
    if steps > MAX_LEDGER_STEPS:
        return (
            f"must be <= {MAX_LEDGER_STEPS} (the most a ledger's counterexample runs), "
            f"got {_shown(steps)}"
        )
    seq = ce.get("sequential")
    losses = seq.get("losses") if isinstance(seq, dict) else None
    if isinstance(losses, list) and steps > len(losses) - 1:
        return (
            f"is {steps}, but its sequential run recorded {max(len(losses) - 1, 0)} steps "
            f"({len(losses)} losses), and the skip net ran no more"
        )
    return None


def _replayable(p: Path, claims: list[dict[str, Any]]) -> None:
    """Each id once, and each counterexample meant to be replayed (it has every key a run
    needs) one that ``train`` accepts, with steps it could have run (:func:`_steps_problem`)."""
    from .counterexample import CounterexampleError, check_counterexample
    from .ledger import REPLAYABLE

    seen: set[str] = set()
    for i, c in enumerate(claims):
        if c["id"] in seen:
            raise _not_a_ledger(p, f"{located(('claims', i, 'id'))}: {c['id']!r} appears twice")
        seen.add(c["id"])
        ce = c.get("counterexample")
        if ce and "sequential" in ce:
            try:
                SkipPair.model_validate(ce)
            except ValidationError as e:
                where = first_problem(e, ("claims", i, "counterexample"))
                raise _not_a_ledger(p, f"{where} (claim {c['id']!r})") from None
        if ce and REPLAYABLE <= set(ce):
            try:
                check_counterexample(ce)
            except CounterexampleError as e:
                where = located(("claims", i, "counterexample"))
                raise _not_a_ledger(p, f"{where}: {e}") from None
            if (bad := _steps_problem(ce)) is not None:
                where = located(("claims", i, "counterexample", "hyperparameters", "steps"))
                raise _not_a_ledger(p, f"{where}: {bad} (claim {c['id']!r})")


def _named(raw: dict[str, Any], e: ValidationError) -> str:
    """`` (claim 'ID')`` after a problem inside ``claims[i]`` whose id is readable (a position
    alone, ``claims[41]``, left a reader counting)."""
    loc = e.errors()[0]["loc"] if e.errors() else ()
    claims = raw.get("claims")
    if (
        len(loc) >= 2
        and loc[0] == "claims"
        and isinstance(loc[1], int)
        and isinstance(claims, list)
    ):
        claim = claims[loc[1]] if loc[1] < len(claims) else None
        if isinstance(claim, dict) and isinstance(claim.get("id"), str) and "id" not in loc[2:3]:
            return f" (claim {claim['id']!r})"
    return ""


def read_ledger(path: str | Path) -> dict[str, Any]:
    """The ledger at ``path`` as a dict (as written), after the checks of the module docstring."""
    p = Path(path)
    raw, _ = read_document(p, "ledger", LedgerError)
    if not isinstance(raw, dict) or "claims" not in raw:
        got = "an object without claims" if isinstance(raw, dict) else type(raw).__name__
        raise LedgerError(f"{p} is not a ledger written by verify --json (got {got})")
    try:
        LedgerRecord.model_validate(raw)
    except ValidationError as e:
        raise _not_a_ledger(p, first_problem(e) + _named(raw, e)) from None
    _replayable(p, raw["claims"])
    return raw
