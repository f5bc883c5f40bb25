"""Reading a ledger file back (``verify --json``'s output) for ``replay`` and ``report --ledger``.

The file is checked before anything runs on it, against what its readers use: a JSON object
whose ``format`` (when given) is ``descentcheck.ledger/1``, with ``profile``, ``seconds`` and a
``claims`` list; each claim an object with ``id``, ``expect`` (``holds`` or ``fails``),
``outcome`` (``held``, ``falsified`` or ``error``), ``examples`` and ``meets_expectation`` (as
``expect`` and ``outcome`` say), and where present ``conditions`` (strings), ``message`` (a
string) and ``counterexample`` (an object or null; one that is a run to replay must be one
``train`` accepts, and one that says ``certified_increase`` must show the rise). Other keys are
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
from descentcheck.impl.validated import first_problem, problem
from descentcheck.registry.claims import ID

from .ledger import LEDGER_FORMAT
from .runner import meets_expectation


class LedgerError(DescentcheckError):
    """A file given as a ledger that is not one."""


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
        return self


class LedgerRecord(_Entry):
    format: Literal[LEDGER_FORMAT] = LEDGER_FORMAT  # type: ignore[valid-type]
    profile: StrictStr
    seconds: StrictFloat = Field(ge=0)  # strict floats take integers
    claims: list[ClaimRecord]


def _not_a_ledger(p: Path, problem: str) -> LedgerError:
    """``problem`` is ``WHERE: WHAT`` (the wording of :mod:`descentcheck.impl.validated`)."""
    return LedgerError(f"{p} is not a ledger written by verify --json: {problem}")


def _replayable(p: Path, claims: list[dict[str, Any]]) -> None:
    """Each id once, and each counterexample meant to be replayed (it has every key a run
    needs) one that ``train`` accepts."""
    from .counterexample import CounterexampleError, check_counterexample
    from .ledger import REPLAYABLE

    seen: set[str] = set()
    for i, c in enumerate(claims):
        if c["id"] in seen:
            raise _not_a_ledger(p, f"{located(('claims', i, 'id'))}: {c['id']!r} appears twice")
        seen.add(c["id"])
        ce = c.get("counterexample")
        if ce and REPLAYABLE <= set(ce):
            try:
                check_counterexample(ce)
            except CounterexampleError as e:
                where = located(("claims", i, "counterexample"))
                raise _not_a_ledger(p, f"{where}: {e}") from None


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
