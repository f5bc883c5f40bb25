"""A sweep case as files that ``descentcheck train`` replays bit for bit (``descentcheck replay
DB --case N``), as a ledger's counterexample is (:mod:`descentcheck.properties.counterexample`).

The case is rebuilt by :func:`.case.prepare`, the function the sweep itself ran: its data as
loaded (random data drawn, a built-in subsampled, a data file found by its SHA-256 in the
database's ``files_json`` and checked), w_0 from its init seed, L_0 estimated at w_0 and the
hyperparameters divided by it when the case is ``relative_to_L``. ``data.npz`` holds that data
and ``params.npz`` w_0, so ``train`` needs neither the sweep file nor the estimate, and its
learning rate is the trained one, written as Python's shortest round-tripping repr.

Which case, without ``--case``: the first in sweep order that was inside theory's region and
still rose (the sweep report's "Inside the region, yet the loss rose"); else the first whose
loss rose at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from descentcheck.impl.errors import DescentcheckError

from .expand import describe
from .store import CaseRow, SweepData, read_sweep


def _rose(row: CaseRow) -> bool:
    check = ((row.results or {}).get("checks") or {}).get("decrease_every_step")
    return check is not None and check.get("holds") is False


def _inside(row: CaseRow) -> bool:
    check = ((row.results or {}).get("checks") or {}).get("inside_region")
    return check is not None and check.get("inside") is True


def pick_case(sweep: SweepData, index: int | None) -> CaseRow:
    """The case numbered ``index`` (its ``#`` in the sweep report), or the default above."""
    rows = sweep.rows
    if index is not None:
        if not 0 <= index < len(rows):
            raise DescentcheckError(
                f"{sweep.path} has no case {index} (cases 0 to {len(rows) - 1})"
            )
        return rows[index]
    for wanted in (lambda r: _rose(r) and _inside(r), _rose):
        if found := next((r for r in rows if wanted(r)), None):
            return found
    raise DescentcheckError(
        f"{sweep.path} holds no finished case whose loss rose; --case N replays any case"
    )


def case_run(sweep: SweepData, row: CaseRow) -> dict[str, Any]:
    """The case as a run record (``spec``, ``data``, ``params``, ``hyperparameters``) that
    :func:`~descentcheck.properties.counterexample.write_replay` writes out."""
    import numpy as np

    from .case import prepare

    files = json.loads(sweep.meta.get("files_json", "{}"))  # SHA-256 -> path
    p = prepare(row.case, files)
    x, y = p.data
    return {
        "spec": row.case["architecture"]["spec"],
        "data": {"x": np.asarray(x, dtype=np.float64).tolist(), "y": np.asarray(y).tolist()},
        "params": {k: np.asarray(v, dtype=np.float64).tolist() for k, v in p.w0.items()},
        "hyperparameters": {
            "optimizer": row.case["optimizer"],
            "steps": row.case["steps"],
            **p.hyperparameters,
        },
    }


def _unregistered(case: dict[str, Any]) -> bool:
    """Whether the case names an op, a loss or an optimizer no registry here knows: one a
    plugin gave the sweep, not installed here, as likely as damage (or a hand-edited name)."""
    from descentcheck.registry import ops, optimizers

    spec = case["architecture"]["spec"]
    spec = spec if isinstance(spec, dict) else {}
    nodes = spec.get("nodes") if isinstance(spec.get("nodes"), list) else []
    named = [n.get("op") for n in nodes if isinstance(n, dict)] + [spec.get("loss")]
    unknown_op = any(isinstance(v, str) and ops.get(v) is None for v in named)
    return unknown_op or case["optimizer"] not in optimizers.names()


def _checked_run(sweep: SweepData, row: CaseRow) -> dict[str, Any]:
    """:func:`case_run` of a case whose spec is a spec and whose run ``train`` accepts; else one
    line naming the database and the case, as :func:`.store.read_sweep` names other damage
    (a spec with no nodes was "'nodes' must be a nonempty list", naming neither)."""
    from descentcheck.impl.errors import ParamsError, SpecError
    from descentcheck.impl.spec import parse_spec
    from descentcheck.properties.counterexample import CounterexampleError, check_counterexample

    from .errors import SweepDbError

    try:
        parse_spec(row.case["architecture"]["spec"])  # before prepare builds a net of it
        run = case_run(sweep, row)
        check_counterexample(run)
    except (SpecError, ParamsError, CounterexampleError) as e:  # ParamsError: its init_seed
        if _unregistered(row.case):
            raise SweepDbError(f"{sweep.path}: case {row.index} cannot run here: {e}") from None
        raise SweepDbError(
            f"{sweep.path}: case {row.index} is damaged: {e}; the file was left untouched"
        ) from None
    return run


def write_case_replay(db: str | Path, index: int | None, directory: str | Path) -> str:
    """Write the case's ``spec.json``, ``data.npz`` and ``params.npz`` into ``directory``, print
    which case it is and the ``descentcheck train`` command, and return the command."""
    from descentcheck.properties.counterexample import write_replay

    sweep = read_sweep(db)
    row = pick_case(sweep, index)
    run = _checked_run(sweep, row)  # before a word is printed: a changed data file is one line
    rel = row.case.get("relative_to_L")
    print(
        f"case {row.index} of sweep {sweep.meta.get('name')!r} ({row.status}): {describe(row.case)}"
        + ("; its step sizes divided by L_0 at w_0, as the sweep trained them" if rel else "")
    )
    return write_replay(run, directory)
