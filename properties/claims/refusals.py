"""Bad input is refused, good input at the edge of its range is taken (holds).

The project's standard says bad input gives a one-line error, never a traceback, and never a
silent run. The other claims only draw valid cases, so a check that lets NaN parameters, a
wrong-shaped data set or a momentum of 1 through (or one that starts refusing a valid edge
value, such as heavy-ball momentum 0) would pass every one of them; the mutation run found two
such mutants of the optimizers' range checks alive (Nesterov taking momentum 1, GD taking
lr 0). The data and parameter checks of ``impl/network.py`` are covered too, although the
sampled mutants of those were killed (they refused valid input).

Each case is a generated DAG and data set, tried with every corruption in :data:`BAD` (the
parameters, the inputs, the targets, a hyperparameter or a setting of ``train`` made invalid;
where, how much and which parameter array are drawn: a :class:`Spot`) and every edge value in
:data:`EDGE`. ``train`` must raise the named
:class:`DescentcheckError` subclass with a one-line message for a corruption, and train one
step without error for an edge value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

from descentcheck.impl.errors import DataError, DescentcheckError, HyperparameterError, ParamsError
from descentcheck.impl.losses import flat_targets_are_labels
from descentcheck.impl.trainer import train

from ..claim import Claim, Context, Verdict
from ..profiles import Profile
from ..strategies import Case, cases
from .updates import SMALL


@dataclass(frozen=True)
class Spot:
    """Where a corruption goes, drawn: ``t`` in [0, 1) places an entry (and picks NaN or an
    infinity, or how far out of range), ``array`` picks the parameter array (modulo their
    number: a check that reads only the first array is caught)."""

    t: float
    array: int


Change = Callable[[Case, Spot], dict[str, Any]]
LABEL = "y: label outside [0, out)"
FLAT_FLOATS = "y: fractional targets of shape (n,) where labels or (n, out) rows are due"


def _params(case: Case, f: Callable[[dict[str, np.ndarray]], None]) -> dict[str, Any]:
    p = {k: v.copy() for k, v in case.params.items()}
    f(p)
    return {"params": p}


def _chosen(case: Case, s: Spot) -> str:
    names = list(case.params)
    return names[s.array % len(names)]


def _nonfinite_value(t: float) -> float:
    """NaN below t = 1/2, then +inf, then -inf from t = 3/4."""
    return np.nan if t < 0.5 else np.inf if t < 0.75 else -np.inf


def _put(a: np.ndarray, t: float) -> np.ndarray:
    """A copy of ``a`` with the entry ``t`` places made NaN or infinite."""
    a = a.copy()
    a.reshape(-1)[int(t * a.size) % a.size] = _nonfinite_value(t)
    return a


def _nonfinite(case: Case, s: Spot) -> dict[str, Any]:
    k = _chosen(case, s)
    return _params(case, lambda p: p.__setitem__(k, _put(p[k], s.t)))


def _reshaped(case: Case, s: Spot) -> dict[str, Any]:
    k = _chosen(case, s)
    return _params(case, lambda p: p.__setitem__(k, np.zeros((*p[k].shape, 2))))


def _missing(case: Case, s: Spot) -> dict[str, Any]:
    return _params(case, lambda p: p.pop(_chosen(case, s)))


def _extra(case: Case, s: Spot) -> dict[str, Any]:
    return _params(case, lambda p: p.__setitem__("stray.W", np.zeros(2)))


def _text_params(case: Case, s: Spot) -> dict[str, Any]:
    k = _chosen(case, s)
    return _params(case, lambda p: p.__setitem__(k, p[k].astype(str)))


def _x_nonfinite(case: Case, s: Spot) -> dict[str, Any]:
    return {"x": _put(case.x, s.t)}


def _x_width(case: Case, s: Spot) -> dict[str, Any]:
    return {"x": np.hstack([case.x, case.x[:, :1]])}


def _x_flat(case: Case, s: Spot) -> dict[str, Any]:
    return {"x": case.x[:, 0]}


def _x_empty(case: Case, s: Spot) -> dict[str, Any]:
    return {"x": case.x[:0], "y": case.y[:0]}


def _x_text(case: Case, s: Spot) -> dict[str, Any]:
    return {"x": case.x.astype(str)}


def _y_rows(case: Case, s: Spot) -> dict[str, Any]:
    return {"y": np.concatenate([case.y, case.y[:1]])}


def _y_nonfinite(case: Case, s: Spot) -> dict[str, Any]:
    return {"y": _put(case.yt, s.t)}


def _y_width(case: Case, s: Spot) -> dict[str, Any]:
    return {"y": np.hstack([case.yt, case.yt[:, :1]])}


def _y_flat_floats(case: Case, s: Spot) -> dict[str, Any]:
    """Fractional targets of shape (n,): neither labels nor (n, m) rows for this net."""
    return {"y": np.arange(len(case.x), dtype=np.float64) + 0.5 + s.t}


def _y_label(case: Case, s: Spot) -> dict[str, Any]:
    m = case.net.spec.out_width
    labels = np.zeros(len(case.x), dtype=np.int64)
    labels[int(s.t * len(labels)) % len(labels)] = m if s.t < 0.5 else -1
    return {"y": labels}


def _below(edge: int, s: Spot) -> int:
    """An integer below ``edge``: the one just below it for t < 1/2 (an off-by-one check lets
    only that one through), else one further out."""
    return edge - 1 if s.t < 0.5 else edge - 2 - int(16 * s.t)


def _hp(opt: str, **hp: Any) -> dict[str, Any]:
    return {"optimizer": opt, **hp}


BAD: dict[str, tuple[Change, type[DescentcheckError]]] = {
    "params: NaN or inf entry": (_nonfinite, ParamsError),
    "params: wrong shape": (_reshaped, ParamsError),
    "params: missing array": (_missing, ParamsError),
    "params: unknown array": (_extra, ParamsError),
    "params: text dtype": (_text_params, ParamsError),
    "x: NaN or inf entry": (_x_nonfinite, DataError),
    "x: one column too many": (_x_width, DataError),
    "x: one-dimensional": (_x_flat, DataError),
    "x: no rows": (_x_empty, DataError),
    "x: text dtype": (_x_text, DataError),
    "y: one row too many": (_y_rows, DataError),
    "y: NaN or inf entry": (_y_nonfinite, DataError),
    "y: one column too many": (_y_width, DataError),
    LABEL: (_y_label, DataError),
    FLAT_FLOATS: (_y_flat_floats, DataError),
    "lr 0": (lambda c, s: _hp("gd", lr=0.0), HyperparameterError),
    "lr < 0": (lambda c, s: _hp("gd", lr=-s.t - 2.0**-20), HyperparameterError),
    "lr given as text": (lambda c, s: _hp("gd", lr=f"{s.t + 2.0**-20}"), HyperparameterError),
    "lr given as a boolean": (lambda c, s: _hp("gd", lr=True), HyperparameterError),
    "momentum given as None": (lambda c, s: _hp("momentum", momentum=None), HyperparameterError),
    "lr not finite": (
        lambda c, s: _hp("gd", lr=_nonfinite_value(s.t)),
        HyperparameterError,
    ),
    "heavy-ball momentum >= 1": (
        lambda c, s: _hp("momentum", momentum=1.0 + s.t),
        HyperparameterError,
    ),
    "heavy-ball momentum < 0": (
        lambda c, s: _hp("momentum", momentum=-s.t - 2.0**-20),
        HyperparameterError,
    ),
    "nesterov momentum 0": (lambda c, s: _hp("nesterov", momentum=0.0), HyperparameterError),
    "nesterov momentum 1": (lambda c, s: _hp("nesterov", momentum=1.0), HyperparameterError),
    "heavy-ball momentum 1": (lambda c, s: _hp("momentum", momentum=1.0), HyperparameterError),
    "adaptive tau < 0": (
        lambda c, s: _hp("adaptive_momentum", tau=-s.t - 2.0**-20),
        HyperparameterError,
    ),
    "adaptive grouping unknown": (
        lambda c, s: _hp("adaptive_momentum", tau=s.t, group="layer"),
        HyperparameterError,
    ),
    "rmsprop rho >= 1": (lambda c, s: _hp("rmsprop", rho=1.0 + s.t), HyperparameterError),
    "rmsprop rho < 0": (lambda c, s: _hp("rmsprop", rho=-s.t - 2.0**-20), HyperparameterError),
    "rmsprop eps < 0": (lambda c, s: _hp("rmsprop", eps=-s.t - 2.0**-20), HyperparameterError),
    "rmsprop momentum >= 1": (
        lambda c, s: _hp("rmsprop", momentum=1.0 + s.t),
        HyperparameterError,
    ),
    "rmsprop momentum < 0": (
        lambda c, s: _hp("rmsprop", momentum=-s.t - 2.0**-20),
        HyperparameterError,
    ),
    "steps < 0": (lambda c, s: {"steps": _below(0, s)}, HyperparameterError),
    "steps not an integer": (lambda c, s: {"steps": 1.0 + s.t}, HyperparameterError),
    "shuffle seed < 0": (lambda c, s: {"seed": _below(0, s)}, HyperparameterError),
    "batch size < 1": (lambda c, s: {"batch_size": _below(1, s)}, HyperparameterError),
    "batch size given as a boolean": (lambda c, s: {"batch_size": True}, HyperparameterError),
    # a hyphen: no plugin can register this name (registry.optimizers refuses it)
    "optimizer unknown": (lambda c, s: _hp("no-such-optimizer"), HyperparameterError),
    "momentum given to gd": (lambda c, s: _hp("gd", momentum=s.t), HyperparameterError),
}

EDGE: dict[str, Change] = {
    "heavy-ball momentum 0": lambda c, s: _hp("momentum", momentum=0.0),
    "heavy-ball momentum just below 1": lambda c, s: _hp("momentum", momentum=1.0 - 2.0**-40),
    "nesterov momentum just above 0": lambda c, s: _hp("nesterov", momentum=2.0**-40),
    "adaptive tau 0": lambda c, s: _hp("adaptive_momentum", tau=0.0),
    "rmsprop rho 0": lambda c, s: _hp("rmsprop", rho=0.0),
    "rmsprop eps 0": lambda c, s: _hp("rmsprop", eps=0.0),
    "rmsprop momentum just below 1": lambda c, s: _hp("rmsprop", momentum=1.0 - 2.0**-40),
    "no steps": lambda c, s: {"steps": 0},
    "batch size 1": lambda c, s: {"batch_size": 1},
    "lr tiny": lambda c, s: _hp("gd", lr=2.0**-1000),
    "integer inputs": lambda c, s: {"x": np.rint(c.x).astype(np.int64)},
    # a "values" loss (mse) with one output reads integer targets as numbers (0, 1, 2, ...),
    # not as labels
    "integer targets of one output of a values loss": lambda c, s: (
        {"y": np.arange(len(c.x), dtype=np.int64) % 3} if _labels_are_numbers(c) else {}
    ),
}


@st.composite
def _draw(draw: st.DrawFn, profile: Profile) -> dict[str, Any]:
    case = draw(cases(SMALL), label="case")
    t = draw(st.floats(0.0, 1.0, exclude_max=True), label="where / how much")
    array = draw(st.integers(0, 255), label="which parameter array")
    return {"case": case, "t": t, "array": array}


def _attempt(case: Case, change: dict[str, Any]) -> Exception | None:
    args = {"params": case.params, "x": case.x, "y": case.y, "optimizer": "gd", "lr": 0.01}
    args.update({"steps": 1, **change})
    try:
        train(case.net, **args)
    except Exception as e:  # the claim is about which exception, if any
        return e
    return None


def _labels_are_numbers(case: Case) -> bool:
    """The case's loss reads targets of shape (n,) as the numbers of its one output, not as
    labels: a ``"values"`` loss (mse, or a plugin declaring it) with one output. Read from the
    loss itself (``impl.losses.flat_targets_are_labels``), as ``Network.check_targets`` does."""
    return not flat_targets_are_labels(case.net.spec.loss, case.net.spec.out_width)


def _row(a: np.ndarray, t: float) -> str:
    """The ``(row R)`` a message must name for the entry ``_put`` made NaN or infinite."""
    flat = int(t * a.size) % a.size
    return f"(row {flat // (a.shape[1] if a.ndim == 2 else 1)})"


#: the row a refusal names, for the corruptions placed at one entry
ROWS = {
    "x: NaN or inf entry": lambda c, s: _row(c.x, s.t),
    "y: NaN or inf entry": lambda c, s: _row(c.yt, s.t),
}


def _misses(case: Case, s: Spot) -> list[str]:
    """Every corruption not refused as it should be, and every edge value refused."""
    out = []
    for kind, (change, expected) in BAD.items():
        if kind in (LABEL, FLAT_FLOATS) and _labels_are_numbers(case):
            continue
        err = _attempt(case, change(case, s))
        if not (isinstance(err, expected) and len(str(err).splitlines()) == 1):
            got = "no error" if err is None else f"{type(err).__name__}: {err}"
            out.append(f"{kind}: expected a one-line {expected.__name__}, got {got}")
        elif kind in ROWS and ROWS[kind](case, s) not in str(err):
            out.append(f"{kind}: the message names the wrong row ({err}; {ROWS[kind](case, s)})")
    for kind, change in EDGE.items():
        err = _attempt(case, change(case, s))
        if err is not None:
            out.append(f"{kind}: refused ({type(err).__name__}: {err})")
    return out


def _check(drawn: dict[str, Any], ctx: Context) -> Verdict:
    misses = _misses(drawn["case"], Spot(drawn["t"], drawn["array"]))
    measured = {"cases_tested": 1.0, "misses": float(len(misses))}
    return Verdict(not misses, measured, message="; ".join(misses)[:500])


TRAINER_REFUSES_BAD_INPUT = Claim(
    id="trainer-refuses-bad-input",
    statement=(
        "train refuses invalid parameters, data and hyperparameters with a one-line error of "
        "the right kind, and takes valid values at the edge of their range"
    ),
    source=(
        "the project's standard (bad input gives a one-line error, never a traceback) and "
        "DESIGN.md's ranges; added after the mutation run (issue 12 item 7) found range-check "
        "mutants alive"
    ),
    conditions=(
        "small random DAGs with skips and their data; every corruption and every edge value "
        "listed in properties/claims/refusals.py tried on each case (where and how much drawn, "
        "and which parameter array)",
        "an out-of-range integer label is a corruption except for a loss taking values (mse, "
        "a plugin loss declaring targets='values') with one output, which reads it as a number",
    ),
    expect="holds",
    strategy=_draw,
    check=_check,
    summary={"cases_tested": "sum", "misses": "sum"},
    cost=0.5,
)

CLAIMS = (TRAINER_REFUSES_BAD_INPUT,)
