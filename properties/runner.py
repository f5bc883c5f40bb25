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
from collections.abc import Mapping
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Verbosity, given, seed, settings, target
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

from .claim import Aggregate, Claim, Context, Verdict
from .profiles import Profile
from .stats import spec_stats


class ClaimFailed(AssertionError):
    """Raised inside the Hypothesis test when a case violates the property."""


class NamespacedDatabase(ExampleDatabase):
    """One claim's view of a shared example database: every key gets the claim id in front.

    The claims' tests are built by one factory, so Hypothesis's default key (a digest of the test
    function's source) would be the same for all of them."""

    def __init__(self, inner: ExampleDatabase, namespace: str):
        super().__init__()
        self.inner = inner
        self.prefix = f"descentcheck:{namespace}:".encode()

    def save(self, key: bytes, value: bytes) -> None:
        self.inner.save(self.prefix + key, value)

    def fetch(self, key: bytes):
        return self.inner.fetch(self.prefix + key)

    def delete(self, key: bytes, value: bytes) -> None:
        self.inner.delete(self.prefix + key, value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        self.inner.move(self.prefix + src, self.prefix + dest, value)


class Aggregator:
    """Folds per-case numbers into one per key, as a claim's ``summary`` says (default: max)."""

    def __init__(self, how: Mapping[str, Aggregate]):
        self.how = dict(how)
        self.values: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, numbers: Mapping[str, float]) -> None:
        for k, v in numbers.items():
            v = float(v)
            if math.isnan(v):
                continue
            mode = self.how.get(k, "max")
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

    def result(self) -> dict[str, float | int]:
        return {
            k: (int(v) if self.how.get(k) == "sum" and float(v).is_integer() else v)
            for k, v in self.values.items()
        }


def _settings(claim: Claim, profile: Profile) -> settings:
    db = NamespacedDatabase(DirectoryBasedExampleDatabase(profile.database), claim.id)
    return settings(
        max_examples=profile.falsify_examples if claim.falsify_budget else profile.examples,
        deadline=None,
        database=db,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        print_blob=False,
        verbosity=Verbosity.quiet,
    )


def run_property_claim(claim: Claim, profile: Profile) -> dict[str, Any]:
    """Run one property claim; the ledger entry (outcome, counts, numbers, counterexample)."""
    assert claim.strategy is not None and claim.check is not None
    budget = profile.falsify_examples if claim.falsify_budget else profile.examples
    ctx = Context(
        profile,
        certify_left=profile.certify_cases,
        certify_stride=max(1, budget // (2 * max(1, profile.certify_cases))),
    )
    measured, theory = Aggregator(claim.summary), Aggregator(claim.summary)
    rows: list[dict[str, Any]] = []
    state: dict[str, Any] = {"examples": 0, "shrink_calls": 0, "failed": None}

    def body(drawn: Any) -> None:
        with np.errstate(all="ignore"):  # diverging runs are data here, not warnings
            verdict: Verdict = claim.check(drawn, ctx)
        if verdict.target is not None and math.isfinite(verdict.target):
            target(float(verdict.target), label=claim.id)
        searching = state["failed"] is None
        if not verdict.ok:
            if searching:
                state["examples"] += 1
            else:
                state["shrink_calls"] += 1
            state["failed"] = (drawn, verdict)
            raise ClaimFailed(verdict.message or f"{claim.id} violated")
        if searching:
            state["examples"] += 1
            measured.add(verdict.measured)
            theory.add(verdict.theory)
            case = drawn.get("case") if isinstance(drawn, dict) else None
            if case is not None:
                rows.append(spec_stats(case.net.spec))
        else:
            state["shrink_calls"] += 1

    test = given(claim.strategy(profile))(body)
    if profile.seed is not None:
        test = seed(profile.seed)(test)
    test = _settings(claim, profile)(test)

    t0 = time.perf_counter()
    outcome, message, counterexample = "held", "", None
    try:
        test()
    except ClaimFailed:
        _, verdict = state["failed"]
        outcome, message = "falsified", verdict.message
        counterexample = verdict.counterexample
        measured.add({f"counterexample_{k}": v for k, v in verdict.measured.items()})
    except Exception as e:  # a crash in the check or the code under test
        outcome = "error"
        message = f"{type(e).__name__}: {e}".strip()
        tb = traceback.format_exception(type(e), e, e.__traceback__)
        message += "\n" + "".join(tb[-3:])
    return {
        "outcome": outcome,
        "examples": state["examples"],
        "shrink_calls": state["shrink_calls"],
        "seconds": time.perf_counter() - t0,
        "measured": measured.result(),
        "theory": theory.result(),
        "certification": {
            "cases_certified": profile.certify_cases - ctx.certify_left,
        },
        "counterexample": counterexample,
        "message": message,
        "stats_rows": rows,
    }


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
            body = claim.experiment(profile)
        except Exception as e:
            body = {"outcome": "error", "examples": 0, "message": f"{type(e).__name__}: {e}"}
        body.setdefault("counterexample", None)
        body.setdefault("stats_rows", [])
        body["seconds"] = time.perf_counter() - t0
    else:
        body = run_property_claim(claim, profile)
    entry = {**head, **body, "cpu_seconds": time.process_time() - cpu0}
    entry["meets_expectation"] = (entry["outcome"] == "held" and claim.expect == "holds") or (
        entry["outcome"] == "falsified" and claim.expect == "fails"
    )
    return entry
