"""descentcheck.properties: Hypothesis strategies for random DAG networks and the claims ledger.

Public API::

    run_verify(profile="ci", json_path=None, stats=False, progress=None) -> (ledger, ok)
    format_ledger(ledger) -> str         # the text ``descentcheck verify`` prints
    format_stats(ledger["stats"]) -> str # what the strategies generated (``verify --stats``)
    write_replay(counterexample, dir)    # spec.json, data.npz, params.npz + the train command
    replay(counterexample) -> Trajectory # the same training, in-process
    CLAIMS, BY_ID                        # the ledger's claims (declarative objects)
    dag_specs, datasets, cases           # the strategies, for your own property tests
    certify_decrease(net, w0, w1, x, y)  # interval-arithmetic proof that E fell
    PROFILES, get_profile                # fast | ci | thorough

One idea per module: ``strategies`` (what is drawn), ``stats`` (what was drawn, measured),
``curvature`` (local L along a step), ``steps`` (per-step descent against theory's bound),
``certify`` (interval arithmetic), ``transforms`` (metamorphic rewrites), ``claim`` and
``runner`` (a claim and its Hypothesis harness), ``counterexample`` (serialise and replay),
``ledger`` (run all, JSON, text), ``profiles``; the claims live in ``claims/``.
"""

from __future__ import annotations

from .certify import Certificate, certify_decrease, certify_increase, interval_loss
from .claim import Claim, Verdict
from .claims import BY_ID, CLAIMS
from .counterexample import make_counterexample, replay, replay_args, write_replay
from .ledger import build_ledger, format_ledger, run_claims, run_verify, write_ledger
from .profiles import PROFILES, Profile, get_profile
from .stats import format_stats, spec_stats
from .strategies import Case, Limits, cases, dag_specs, datasets

__all__ = [
    "BY_ID",
    "CLAIMS",
    "PROFILES",
    "Case",
    "Certificate",
    "Claim",
    "Limits",
    "Profile",
    "Verdict",
    "build_ledger",
    "cases",
    "certify_decrease",
    "certify_increase",
    "dag_specs",
    "datasets",
    "format_ledger",
    "format_stats",
    "get_profile",
    "interval_loss",
    "make_counterexample",
    "replay",
    "replay_args",
    "run_claims",
    "run_verify",
    "spec_stats",
    "write_ledger",
    "write_replay",
]
