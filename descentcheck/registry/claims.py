"""Claim plugins: a third-party package adds claims to the ledger through entry points.

A package declares, in its ``pyproject.toml``::

    [project.entry-points."descentcheck.claims"]
    adam_step = "my_package.claims:CLAIMS"     # a Claim, a sequence of them, or a
                                               # zero-argument callable returning either

The object is a :class:`descentcheck.properties.claim.Claim` (or a non-empty list or tuple of
them: an empty one is refused as naming no claims), the same dataclass the built-in claims
are. A claims module imports what it needs from ``descentcheck.properties`` but must not read
the claims registry (``CLAIMS``, ``BY_ID``) while it loads::

    from descentcheck.properties.claim import Claim, Verdict

    CLAIM = Claim(
        id="adam-step-bounded",             # letters, digits, '-', '_'; not already taken
        statement="every entry of every Adam step is at most ...",   # one line, what is claimed
        source="Kingma & Ba 2015, sec. 2.1",                         # where the claim comes from
        conditions=("generated DAGs", "beta1, beta2 in [0, 1)"),      # what the cases satisfy
        expect="holds",                     # "holds": no counterexample may exist;
                                            # "fails": the search must find one
        strategy=lambda profile: ...,       # profile -> Hypothesis strategy of one case
        check=lambda drawn, ctx: Verdict(ok=...),  # (case, Context) -> Verdict
        summary={"worst_ratio": "max"},     # how each measured number aggregates over cases
    )

A *property* claim gives ``strategy`` and ``check``; an *experiment* claim (a statistical
statement over seeds) gives ``experiment`` (profile -> result dict) instead. What they may use:

* ``strategy(profile)`` returns a Hypothesis strategy of one case. Generated networks come from
  ``descentcheck.properties.cases(Limits(...))``: a ``Case`` with ``spec`` (the spec dict),
  ``net`` (the :class:`~descentcheck.impl.network.Network`), ``x``, ``y`` (as drawn), ``yt``
  (the targets in the loss's form, what ``train`` takes) and ``params`` (initial parameters);
  its architectures draw every registered op, plugins' included. Draw every number through
  Hypothesis, so that a failure shrinks and replays.
* ``check(drawn, ctx)`` returns a ``Verdict(ok, measured={}, theory={}, target=None,
  counterexample=None, message="")``: ``ok`` whether the property held on this case;
  ``measured`` and ``theory`` numbers the ledger aggregates over cases as ``summary`` says
  (``"sum"``, ``"min"``, ``"max"``, ``"mean"``), the measured value beside what theory allows;
  ``message`` one line for a failure; ``counterexample`` a JSON-ready dict (a dict with
  ``loss_before`` is read as a loss-increase record, which the ledger accepts only when it is
  certified in interval arithmetic: ``certified_increase`` or ``certified_violation``);
  ``target`` a number Hypothesis steers toward (for ``"fails"`` claims). An exception raised
  by ``check`` makes the claim's outcome ``error``, never a pass. ``ctx.profile`` is the
  :class:`~descentcheck.properties.profiles.Profile` (``ctx.profile.steps`` and the like).
* ``experiment(profile)`` returns the ledger entry's body: ``outcome`` (``"held"``,
  ``"falsified"`` or ``"error"``), ``examples`` (how many runs or seeds), ``measured`` and
  ``theory`` dicts, ``message``, optionally ``counterexample``; an exception makes it ``error``.
* Optional fields: ``falsify_budget`` (use the profile's larger example count for a claim
  expected to fail), ``cost`` (relative run time, for scheduling), ``examples_scale`` (a
  multiple of the profile's example count).

The cases are drawn by Hypothesis under the ledger's profile (``fast``, ``ci``, ``thorough``:
the number of examples, the seed, the example database), a falsified ``holds`` claim is shrunk
to a small replayable counterexample, and the ledger (``descentcheck verify``, ``verify --claim
ID``, the report's ledger section) lists plugin claims after the built-in ones, in entry-point
name order. Claims may run in worker processes, which look a claim up by its id (a freshly
started worker imports the plugin by its entry point): a claim must be importable, not built at
run time, and its module must not read ``CLAIMS`` or ``BY_ID`` at import (they are being built
from it then: the plugin is refused as unloadable).

Refused, with one line naming the entry point and what is wrong (the CLI prints it as
``error: ...``): an object that is not a ``Claim``; an ``id`` that is not letters and digits
joined by ``-`` or ``_``, or that a built-in claim or another plugin already has; an empty
``statement`` or ``source``; ``conditions`` that is not a tuple (or list) of strings;
``expect`` other than ``"holds"`` or ``"fails"``; neither ``strategy`` with ``check`` nor
``experiment`` (or only one of ``strategy`` and ``check``, or both forms); a ``summary``
aggregate other than sum, min, max, mean. Nothing is loaded until the ledger is first read
(``descentcheck.properties.claims.CLAIMS`` / ``BY_ID``); importing this module imports neither
Hypothesis nor numpy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from . import CLAIMS_GROUP
from .plugins import PluginError, a_kind, built, load_group

ID = re.compile(r"^[A-Za-z0-9]+([-_][A-Za-z0-9]+)*$")
EXPECTS = ("holds", "fails")
AGGREGATES = ("sum", "min", "max", "mean")


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def problem(claim: Any) -> str | None:
    """What a ``Claim`` lacks or gets wrong, one line (None: complete)."""
    cid = claim.id
    if not isinstance(cid, str) or not ID.match(cid):
        return f"claim id {cid!r} must be letters and digits joined by '-' or '_'"
    if not _text(claim.statement):
        return f"claim {cid!r} has no statement"
    if not _text(claim.source):
        return f"claim {cid!r} has no source (where the claim comes from)"
    conds = claim.conditions
    if not isinstance(conds, (tuple, list)) or not all(isinstance(c, str) for c in conds):
        return f"claim {cid!r}: conditions must be a tuple of strings"
    if claim.expect not in EXPECTS:
        return f"claim {cid!r}: expect must be 'holds' or 'fails', got {claim.expect!r}"
    has_property = claim.strategy is not None or claim.check is not None
    if claim.experiment is not None:
        if has_property:
            return f"claim {cid!r} gives both an experiment and a strategy/check"
        if not callable(claim.experiment):
            return f"claim {cid!r}: experiment is not callable"
    elif not (callable(claim.strategy) and callable(claim.check)):
        return (
            f"claim {cid!r} has no way to be checked: it needs a strategy and a check, "
            "or an experiment"
        )
    bad = [k for k, v in dict(claim.summary).items() if v not in AGGREGATES]
    if bad:
        return f"claim {cid!r}: summary of {bad[0]!r} must be one of {', '.join(AGGREGATES)}"
    return None


def validate(obj: Any, who: str) -> list[Any]:
    """The claims an entry point names, each checked; a one-line PluginError otherwise."""
    from descentcheck.properties.claim import Claim

    obj = built(obj, who, "claims", lambda o: isinstance(o, Claim))
    if not isinstance(obj, (Claim, list, tuple)):
        raise PluginError(f"{who}: is {a_kind(obj)}, not a Claim or a sequence of them")
    items = [obj] if isinstance(obj, Claim) else list(obj)
    if not items:
        raise PluginError(f"{who}: names no claims")
    for c in items:
        if not isinstance(c, Claim):
            raise PluginError(
                f"{who}: holds {a_kind(c)}, not a descentcheck.properties.claim.Claim"
            )
        p = problem(c)
        if p is not None:
            raise PluginError(f"{who}: {p}")
    # conditions given as a list: the tuple the Claim declares (the ledger writes a list)
    return [(who, c if isinstance(c.conditions, tuple) else _tuple_conditions(c)) for c in items]


def _tuple_conditions(claim: Any) -> Any:
    """``claim`` with its conditions as a tuple."""
    return replace(claim, conditions=tuple(claim.conditions))


def plugin_claims(taken: Iterable[str]) -> tuple[Any, ...]:
    """Every claim of the ``descentcheck.claims`` entry points, checked; an id that is
    ``taken`` (the built-ins') or named twice is refused."""
    holders = dict.fromkeys(taken, "builtin")  # as the op and optimizer registries say
    out = []
    for group in load_group(CLAIMS_GROUP, validate):
        for who, claim in group:
            if claim.id in holders:
                raise PluginError(
                    f"{who}: claim id {claim.id!r} is already registered ({holders[claim.id]})"
                )
            holders[claim.id] = who
            out.append(claim)
    return tuple(out)


__all__ = ["AGGREGATES", "EXPECTS", "ID", "plugin_claims", "problem", "validate"]
