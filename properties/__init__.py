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

from importlib import import_module
from typing import Any

# Lazy exports: importing the package (the CLI, sweep workers) loads neither Hypothesis nor
# mpmath until a name is used.
_EXPORTS = {
    "Certificate": "certify",
    "certify_decrease": "certify",
    "certify_increase": "certify",
    "interval_loss": "certify",
    "Claim": "claim",
    "Verdict": "claim",
    "BY_ID": "claims",
    "CLAIMS": "claims",
    "make_counterexample": "counterexample",
    "replay": "counterexample",
    "replay_args": "counterexample",
    "write_replay": "counterexample",
    "build_ledger": "ledger",
    "format_ledger": "ledger",
    "run_claims": "ledger",
    "run_verify": "ledger",
    "write_ledger": "ledger",
    "PROFILES": "profiles",
    "Profile": "profiles",
    "get_profile": "profiles",
    "format_stats": "stats",
    "spec_stats": "stats",
    "Case": "strategies",
    "Limits": "strategies",
    "cases": "strategies",
    "dag_specs": "strategies",
    "datasets": "strategies",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
