"""Resumable sweeps stored in SQLite: where does a convergence claim hold?

A sweep file (TOML or JSON; format in :mod:`.config`) names architectures (specs, built-in
examples, seeded random DAGs with skip connections), data, optimizers with a grid or a random
search over their hyperparameters, init seeds, and the checks to evaluate. It expands into a
deterministic list of cases (:mod:`.expand`), each a pure function of its JSON
(:mod:`.case`, :mod:`.checks`) with a stable key, its SHA-256. Cases run in this process, on
local worker processes (:mod:`.execute`) or on a Dask cluster (:mod:`.cluster`); only the
parent process writes the SQLite database (schema in :mod:`.store`), one transaction per
finished case, so an interrupted sweep resumes where it stopped.

Public API::

    run_sweep(config_path, db_path, scheduler=None, workers=None, progress=None) -> SweepSummary
    read_sweep(db_path) -> SweepData                   # meta and rows, read only
    load_config(path) -> SweepConfig; expand(config) -> Plan; evaluate(case) -> dict

Modules, one idea each: ``config`` (the file), ``space`` (hyperparameter points), ``expand``
(cases and keys), ``canonical`` (canonical JSON, hashes), ``case`` and ``checks`` (one case),
``worker`` (what a worker runs), ``store`` (SQLite), ``execute`` (serial, local processes),
``cluster`` (Dask), ``run`` (run_sweep), ``errors``. The sweep's report is drawn by the
convergence report's code: ``descentcheck.reports.sweep.report_from_db(db_path, out_dir=None)``
(``descentcheck report --db``).
"""

from __future__ import annotations

from .case import evaluate
from .config import CHECKS, SweepConfig, load_config, parse_config
from .errors import CaseError, SweepConfigError, SweepDbError, SweepError, SweepInterrupted
from .expand import Case, Plan, expand
from .run import SweepSummary, run_sweep
from .store import SCHEMA_VERSION, CaseRow, SweepData, read_sweep

__all__ = [
    "CHECKS",
    "SCHEMA_VERSION",
    "Case",
    "CaseError",
    "CaseRow",
    "Plan",
    "SweepConfig",
    "SweepConfigError",
    "SweepData",
    "SweepDbError",
    "SweepError",
    "SweepInterrupted",
    "SweepSummary",
    "evaluate",
    "expand",
    "load_config",
    "parse_config",
    "read_sweep",
    "run_sweep",
]
