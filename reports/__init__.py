"""descentcheck.reports: the convergence report (HTML, Markdown, JSON, figures).

Public entry point::

    build_report(out_dir, profile="ci", progress=None, seed=0, ledger=None) -> Path  # index.html

``descentcheck report [--out DIR] [--profile ci|thorough]`` calls it. Heavy libraries
(matplotlib, SymPy, scikit-learn) load inside the build, so importing this package is cheap.

One idea per module: ``profiles`` (sizes), ``progress`` (the bar), ``document`` (the section
tree), ``html`` and ``markdown`` (its two renderings), ``plotting`` (matplotlib set-up), ``dag``
(drawing a spec), ``cases`` (random DAG problems), ``smoothness`` (L), ``region``,
``trajectories``, ``autoencoder``, ``distance``, ``epochs``, ``vanishing`` (the experiments)
and a ``*_section`` module for each (figures and text), ``derivations``, ``ledger``,
``counterexamples``, ``ledger_section``, ``summary``, ``build`` (the whole).
"""

from __future__ import annotations

from typing import Any

from .profiles import PROFILES, ReportProfile, get_profile

__all__ = ["PROFILES", "ReportProfile", "build_report", "get_profile"]


def __getattr__(name: str) -> Any:
    if name == "build_report":
        from .build import build_report

        globals()[name] = build_report
        return build_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
