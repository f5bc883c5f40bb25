"""Runs one claim under Hypothesis and turns what happened into a ledger entry.

A property claim becomes one ``@given`` test whose body runs the claim's check, reports
``hypothesis.target`` (the size of the loss increase, or how near a bound a case came) and raises
when the check fails. Hypothesis then shrinks the failing case and replays the minimal one last,
so the last failure the body saw is the shrunk counterexample. Examples are kept in a
:class:`~hypothesis.database.DirectoryBasedExampleDatabase` under a per-claim key, so a
counterexample found once is tried first next time.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings, target
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase
from hypothesis.errors import UnsatisfiedAssumption

from descentcheck.messages import one_line

from .certify import SPENT
from .claim import Aggregate, Claim, Context, Verdict
from .counterexample import describe_draw
from .profiles import Profile
from .stats import TESTED_KEYS, DrawTally, float_ranges, spec_stats


class ClaimFailed(AssertionError):
    """Raised inside the Hypothesis test when a case violates the property."""


class NamespacedDatabase(ExampleDatabase):
    """One claim's view of a shared example database: every key gets the claim id in front.

    The claims' tests are built by one factory, so Hypothesis's default key (a digest of the test
    function's source) would be the same for all of them."""

    def __init__(self, inner: ExampleDatabase, namespace: str) -> None:
        super().__init__()
        self.inner = inner
        self.prefix = f"descentcheck:{namespace}:".encode()
        self.fetched = 0  # examples the run read back (0: it started from an empty database)

    def save(self, key: bytes, value: bytes) -> None:
        self.inner.save(self.prefix + key, value)

    def fetch(self, key: bytes) -> Iterator[bytes]:
        for value in self.inner.fetch(self.prefix + key):
            self.fetched += 1
            yield value

    def delete(self, key: bytes, value: bytes) -> None:
        self.inner.delete(self.prefix + key, value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        self.inner.move(self.prefix + src, self.prefix + dest, value)


def _counted(key: str) -> bool:
    """A count a check names on the fly (a plugin optimizer's ``runs_NAME``, an uncertified
    step's reason, the a-priori claims' ``cases_group_NAME``): summed over cases, an integer in
    the ledger (``cases_group_array`` was folded by max, so a report said 1 case of 50)."""
    return key.startswith(("uncertified:", "runs_", "cases_"))


class Aggregator:
    """Folds per-case numbers into one per key, as a claim's ``summary`` says (default: max;
    sum for the counts ``uncertified:REASON`` and ``runs_NAME``)."""

    def __init__(self, how: Mapping[str, Aggregate], what: str = "measured") -> None:
        self.what = what  # the verdict's dict it folds, for messages
        self.how = dict(how)  # a key it does not name: summed if _counted, else the max
        self.values: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, numbers: Mapping[str, float]) -> None:
        for k, v in numbers.items():
            try:
                v = float(v)
            except (TypeError, ValueError):  # "could not convert string to float" named no key
                raise ValueError(f"{self.what}[{k!r}] is {v!r}, not a number") from None
            if math.isnan(v):
                continue
            # counts a check names on the fly (a plugin optimizer's runs_NAME) add up
            mode = self.mode(k)
            if k not in self.values:
                self.values[k], self.counts[k] = v, 1
                continue
            self.counts[k] += 1
            old = self.values[k]
            if mode == "sum":
                self.values[k] = old + v
            elif mode == "min":
                self.values[k] = min(old, v)
            elif mode == "max":
                self.values[k] = max(old, v)
            else:  # running mean
                self.values[k] = old + (v - old) / self.counts[k]

    def mode(self, key: str) -> Aggregate:
        """How ``key``'s per-case numbers are folded: the claim's ``summary``, else the
        default."""
        return self.how.get(key, "sum" if _counted(key) else "max")

    def result(self) -> dict[str, float | int]:
        return {
            k: (int(v) if self.mode(k) == "sum" and float(v).is_integer() else v)
            for k, v in self.values.items()
        }

    def modes(self) -> dict[str, str]:
        """``mode`` of each key folded (the ledger's ``aggregation``: the report says how each
        number it shows was made from the cases); ``counterexample`` for the counterexample's
        own numbers (``counterexample_*``, added once, from it alone)."""
        return {
            k: "counterexample" if k.startswith("counterexample_") else self.mode(k)
            for k in self.values
        }


# Shrink calls spent on one counterexample, by profile (None: no limit). Shrinking the
# must-fail claims was half of a ci run; once the budget is spent the run stops (see
# :class:`ShrinkBudgetSpent`), and the counterexample is the smallest failing case found so far.
SHRINK_BUDGET: dict[str, int | None] = {"fast": 40, "ci": 25, "thorough": None}


class ShrinkBudgetSpent(KeyboardInterrupt):
    """Raised by the test body at the first shrink call past the budget. Hypothesis takes a
    ``BaseException`` for no failure of the test and stops the whole run at once; a
    ``KeyboardInterrupt`` in particular it does not save to the example database (any other it
    saves as a crash to replay, and the next run would replay that passing candidate first).

    The earlier way, letting every later candidate pass unchecked, left the shrinker running up
    to 200 more candidates (its stall limit), each drawn, a random DAG built and initialised,
    before it gave up: measured on apriori-gd-c1 (ci), 283 test calls of which 158 reached the
    check, and generating cases was half of the claim's time. The count-based stop keeps the
    result deterministic (a time limit would not)."""


# Hypothesis's explain phase (which parts of a shrunk failure matter) is left out: nothing reads
# its comments, and it judged each variant in full, past the shrink budget's count (a plugin's
# wrong Adam: 27.6 of a claim's 33 s)
EXPLORE_AND_SHRINK = tuple(p for p in Phase if p is not Phase.explain)


def _budget(claim: Claim, profile: Profile) -> int:
    """The most examples this claim may draw under the profile."""
    n = profile.falsify_examples if claim.falsify_budget else profile.examples
    return max(1, round(n * claim.examples_scale))


def _settings(claim: Claim, profile: Profile) -> settings:
    db = NamespacedDatabase(DirectoryBasedExampleDatabase(profile.database), claim.id)
    return settings(
        max_examples=_budget(claim, profile),
        deadline=None,
        database=db,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        print_blob=False,
        verbosity=Verbosity.quiet,
        phases=EXPLORE_AND_SHRINK,
    )


class _Body:
    """The ``@given`` test body for one claim, and what it saw: examples searched, shrink calls,
    the smallest failing case so far, and the aggregated numbers of the passing cases."""

    def __init__(self, claim: Claim, profile: Profile, ctx: Context, strategy: Any) -> None:
        self.claim, self.ctx = claim, ctx
        self.draws = DrawTally(float_ranges(strategy))
        self.measured = Aggregator(claim.summary)
        self.theory = Aggregator(claim.summary, "theory")
        self.rows: list[dict[str, Any]] = []
        self.examples = 0
        self.shrink_calls = 0
        self.failed: tuple[Any, Verdict] | None = None
        self.failed_key: Any = None  # Hypothesis's order of the failing case kept (smaller first)
        self.failed_searching = True  # whether the kept failure was judged in full (not shrinking)
        self.crash: Exception | None = None  # the latest crash of the check (Hypothesis shrinks it)
        # draws the check itself rejected (reject()/assume(): a degenerate loss, a premise not
        # met), which ``examples`` does not count; the strategies' own filters stay Hypothesis's
        self.rejected = 0
        self.t_fail: float | None = None
        self.budget_left = SHRINK_BUDGET.get(profile.name)

    def __call__(self, drawn: Any) -> None:
        claim, searching = self.claim, self.failed is None and self.crash is None
        self.ctx.searching = searching
        if not searching and self.budget_left is not None and self.shrink_calls >= self.budget_left:
            raise ShrinkBudgetSpent
        try:
            with np.errstate(all="ignore"):  # diverging runs are data here, not warnings
                verdict: Verdict = claim.check(drawn, self.ctx)
            if not isinstance(verdict, Verdict):  # a plugin's True said "'bool' has no 'target'"
                raise TypeError(
                    f"its check returned {type(verdict).__name__} {verdict!r:.40}, not a "
                    "Verdict(ok, measured, theory, ...)"
                )
        except UnsatisfiedAssumption:
            self.rejected += searching
            raise
        except Exception as e:
            # a crash is shrunk as a failure is, within the same budget: one that does not
            # depend on the draw (a plugin's derivation that cannot be evaluated) took 373
            # shrink calls and 45 s of the fast profile before
            self.examples += searching
            self.shrink_calls += not searching
            self.crash = e
            raise
        if verdict.target is not None and math.isfinite(verdict.target):
            target(float(verdict.target), label=claim.id)
        if searching:  # a failing case too: it is one of the examples the sums describe (they
            # showed a falsified claim's min_derivative 0.5 beside its counterexample's -0.09)
            self.draws.add(drawn, verdict.measured)
            self.measured.add(verdict.measured)
            self.theory.add(verdict.theory)
            case = drawn.get("case") if isinstance(drawn, dict) else None
            if case is not None:
                self.rows.append(spec_stats(case.net.spec))
        if not verdict.ok:
            self._fail(drawn, verdict, searching)
        if searching:
            self.examples += 1
        else:
            self.shrink_calls += 1

    def _fail(self, drawn: Any, verdict: Verdict, searching: bool) -> None:
        if searching:
            self.examples += 1
            self.t_fail = time.perf_counter()
        else:
            self.shrink_calls += 1
        key = _order_key()
        if self.failed is None or key is None or self.failed_key is None or key < self.failed_key:
            self.failed, self.failed_key = (drawn, verdict), key
            self.failed_searching = searching
        raise ClaimFailed(verdict.message or f"{self.claim.id} violated")


def _order_key() -> Any:
    """Hypothesis's shrink order of the case being tested (smaller is simpler), or None where its
    internals do not say: the run may stop in the middle of shrinking (:class:`ShrinkBudgetSpent`),
    before Hypothesis replays its smallest failure, so the body keeps that one itself."""
    try:
        from hypothesis.control import current_build_context
        from hypothesis.internal.conjecture.shrinker import sort_key

        return sort_key(current_build_context().data.nodes)
    except Exception:  # an internal API: without it, the latest failure (the shrinker's pick)
        return None


def _judged_in_full(claim: Claim, profile: Profile, body: _Body) -> Verdict:
    """The kept failure's verdict, judged once more in full when it was found while shrinking
    (shrink calls skip certifying decreases): a held-out audit saw 22 tested steps with 1
    certified and none uncertified, and 22 certified when the same case was replayed from the
    database. The check is deterministic; a verdict that now holds keeps the shrinking one."""
    drawn, verdict = body.failed  # type: ignore[misc]
    if body.failed_searching:
        return verdict
    with np.errstate(all="ignore"):
        full = claim.check(drawn, Context(profile, searching=True))
    return verdict if full.ok else full


def run_property_claim(claim: Claim, profile: Profile) -> dict[str, Any]:
    """Run one property claim; the ledger entry (outcome, counts, numbers, counterexample)."""
    assert claim.strategy is not None and claim.check is not None
    strategy = claim.strategy(profile)
    body = _Body(claim, profile, Context(profile), strategy)

    def check(drawn: Any) -> None:
        body(drawn)

    test = given(strategy)(check)
    if profile.seed is not None:
        test = seed(profile.seed)(test)
    chosen = _settings(claim, profile)
    test = chosen(test)

    t0, cert0 = time.perf_counter(), SPENT["seconds"]
    outcome, message, counterexample, draw = "held", "", None, None
    crash: Exception | None = None
    try:
        test()
    except (ClaimFailed, ShrinkBudgetSpent):
        if body.failed is None:  # the budget ran out shrinking a crash
            assert body.crash is not None
            crash = body.crash
        else:
            outcome, message, counterexample, draw = _falsified(claim, profile, body)
    except Exception as e:  # a crash in the check or the code under test
        crash = e
    if crash is not None:
        outcome, message = "error", one_line(crash)
    elif outcome == "held" and body.draws.cases and body.draws.vacuous == body.draws.cases:
        # held of no case (a condition nothing met: an empty region held every descent claim
        # in a ledger audit's plant): no evidence either way, so not "held"
        outcome = "error"
        message = (
            f"vacuous: none of its {body.draws.cases} cases tested anything "
            f"({', '.join(TESTED_KEYS)} 0, or E(w_0) = 0); the claim held of no case"
        )
    t1 = time.perf_counter()
    return {
        "outcome": outcome,
        "examples": body.examples,
        "shrink_calls": body.shrink_calls,
        "shrink_budget": body.budget_left,
        # > 0: the run began by replaying saved examples (from any earlier seed), which can
        # change its counterexample and its summed numbers (README, verify)
        "database_examples": chosen.database.fetched,
        "seconds": t1 - t0,
        "shrink_seconds": t1 - body.t_fail if body.t_fail is not None else 0.0,
        "certify_cpu_seconds": SPENT["seconds"] - cert0,
        "measured": body.measured.result(),
        "theory": body.theory.result(),
        "aggregation": {**body.theory.modes(), **body.measured.modes()},
        "counterexample": counterexample,
        "falsifying_draw": draw,
        "message": message,
        **_frames(crash),
        "stats_rows": body.rows,
        "draws": {**body.draws.result(), "rejected": body.rejected},
    }


def _falsified(
    claim: Claim, profile: Profile, body: _Body
) -> tuple[str, str, dict[str, Any] | None, Any]:
    """Outcome, message, counterexample and draw of a falsified claim (the kept failure judged
    in full, its numbers added to the measured ones as ``counterexample_*``); a loss increase
    that is not certified makes the outcome ``error``."""
    assert body.failed is not None
    verdict = _judged_in_full(claim, profile, body)
    counterexample, draw = verdict.counterexample, None
    if counterexample is None:  # the check built none (a plugin's may not): the draw itself
        draw = describe_draw(body.failed[0])
    body.measured.add(
        {
            f"counterexample_{k}": v
            for k, v in verdict.measured.items()
            if not k.startswith("uncertified:")
        }
    )
    outcome, message = _require_certified("falsified", verdict.message, counterexample)
    return outcome, message, counterexample, draw


def _frames(e: BaseException | None) -> dict[str, str]:
    """``{"traceback": ...}``, a crash's last frames, beside its one-line ``message`` (the
    ledger's messages are one line, as the CLI prints them); nothing without a crash."""
    if e is None:
        return {}
    return {"traceback": "".join(traceback.format_exception(type(e), e, e.__traceback__)[-3:])}


def _require_certified(
    outcome: str, message: str, counterexample: Mapping[str, Any] | None
) -> tuple[str, str]:
    """A falsified claim whose counterexample is a loss record (``loss_before``) must have its
    violation certified in ball arithmetic (``certified_increase`` for a rise,
    ``certified_violation`` for a decrease below a guarantee): otherwise the outcome is
    ``error``. Counterexamples of other kinds (a gradient off its oracle) pass through."""
    if counterexample is None or "loss_before" not in counterexample:
        return outcome, message
    if counterexample.get("certified_increase") or counterexample.get("certified_violation"):
        return outcome, message
    why = counterexample.get("uncertified_reason") or (
        "no certified_increase: prove the rise with properties.certify.certify_increase"
    )
    said = f": {message}" if message else ""  # no dangling ": " after a check's empty message
    return "error", f"the counterexample's violation is not certified ({why}){said}"


def meets_expectation(expect: str, outcome: str) -> bool:
    """A claim meets its expectation when one expected to hold held, or one expected to fail
    was falsified (an error meets neither)."""
    return (expect, outcome) in (("holds", "held"), ("fails", "falsified"))


OUTCOMES = ("held", "falsified", "error")
#: the keys of an experiment's entry the ledger reads; others are kept as the experiment's data
EXPERIMENT_KEYS = ("outcome", "examples", "measured", "theory", "message", "counterexample")


def _experiment_body(body: Any) -> dict[str, Any]:
    """An experiment's ledger entry as the ledger needs it (``outcome`` one of
    :data:`OUTCOMES`, ``examples`` a count, ``measured`` and ``theory`` dicts of numbers,
    ``message`` text; a falsifying loss record certified as a property claim's must be), or
    a ValueError saying what is wrong (the claim's outcome is then ``error``). A key one letter
    off a key the ledger reads (``mesage``) is refused rather than kept as data."""
    from descentcheck.impl.errors import did_you_mean

    if not isinstance(body, dict):
        raise ValueError(f"the experiment returned {type(body).__name__}, not a dict")
    for key in body:
        near = did_you_mean(str(key), EXPERIMENT_KEYS) if key not in EXPERIMENT_KEYS else ""
        if near:
            raise ValueError(f"the experiment's entry has the key {key!r}{near}")
    if body.get("outcome") not in OUTCOMES:
        raise ValueError(
            f"the experiment's outcome is {body.get('outcome')!r}, not one of {', '.join(OUTCOMES)}"
        )
    examples = body.setdefault("examples", 0)
    if isinstance(examples, bool) or not isinstance(examples, int) or examples < 0:
        raise ValueError(f"the experiment's examples is {examples!r}, not a count")
    for key in ("measured", "theory"):
        numbers = body.setdefault(key, {})
        if not isinstance(numbers, dict):
            raise ValueError(f"the experiment's {key} is not a dict")
        for name, v in numbers.items():
            if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
                raise ValueError(f"the experiment's {key}[{name!r}] is {v!r}, not a number")
            if v != v:  # NaN measures nothing (a held-out win rate of 0/0 was stored as held)
                raise ValueError(f"the experiment's {key}[{name!r}] is NaN, not a number")
    body["message"] = str(body.get("message", ""))
    if body["outcome"] == "falsified":
        body["outcome"], body["message"] = _require_certified(
            "falsified", body["message"], body.get("counterexample")
        )
    return body


def run_claim(claim: Claim, profile: Profile) -> dict[str, Any]:
    """Run any claim; returns its ledger entry with the declarative fields in front."""
    cpu0 = time.process_time()
    head: dict[str, Any] = {
        "id": claim.id,
        "statement": claim.statement,
        "source": claim.source,
        "conditions": list(claim.conditions),
        "expect": claim.expect,
        "kind": claim.kind,
    }
    if claim.experiment is not None:
        t0 = time.perf_counter()
        try:
            body = _experiment_body(claim.experiment(profile))
        except Exception as e:
            body = {"outcome": "error", "examples": 0, "message": one_line(e), **_frames(e)}
        body.setdefault("counterexample", None)
        body.setdefault("stats_rows", [])
        body["seconds"] = time.perf_counter() - t0
    else:
        body = run_property_claim(claim, profile)
    entry = {**head, **body, "cpu_seconds": time.process_time() - cpu0}
    entry["meets_expectation"] = meets_expectation(claim.expect, entry["outcome"])
    return entry
