"""Bad input is refused, good input at the edge of its range is taken (holds).

The project's standard says bad input gives a one-line error, never a traceback, and never a
silent run. The other claims only draw valid cases, so a check that lets NaN parameters, a
wrong-shaped data set or a momentum of 1 through (or one that starts refusing a valid edge
value, such as heavy-ball momentum 0) would pass every one of them; the mutation run found two
such mutants of the optimizers' range checks alive (Nesterov taking momentum 1, GD taking
lr 0). The data and parameter checks of ``impl/network.py`` are covered too, although the
sampled mutants of those were killed (they refused valid input).

Each case is a generated DAG and data set, tried with every corruption in :data:`BAD` (the
parameters, the inputs, the targets or a hyperparameter made invalid; where and how much is
drawn) and every edge value in :data:`EDGE`. ``train`` must raise the named
:class:`DescentcheckError` subclass with a one-line message for a corruption, and train one
step without error for an edge value.
"""

from __future__ import annotations

from collections.abc import Callable
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

Change = Callable[[Case, float], dict[str, Any]]
LABEL = "y: label outside [0, out)"
FLAT_FLOATS = "y: fractional targets of shape (n,) where labels or (n, out) rows are due"


def _params(case: Case, f: Callable[[dict[str, np.ndarray]], None]) -> dict[str, Any]:
    p = {k: v.copy() for k, v in case.params.items()}
    f(p)
    return {"params": p}


def _first(case: Case) -> str:
    return next(iter(case.params))


def _nonfinite(case: Case, t: float) -> dict[str, Any]:
    k = _first(case)
    bad = np.nan if t < 0.5 else np.inf

    def put(p: dict[str, np.ndarray]) -> None:
        p[k].reshape(-1)[int(t * p[k].size) % p[k].size] = bad

    return _params(case, put)


def _reshaped(case: Case, t: float) -> dict[str, Any]:
    k = _first(case)
    return _params(case, lambda p: p.__setitem__(k, np.zeros((*p[k].shape, 2))))


def _missing(case: Case, t: float) -> dict[str, Any]:
    return _params(case, lambda p: p.pop(_first(case)))


def _extra(case: Case, t: float) -> dict[str, Any]:
    return _params(case, lambda p: p.__setitem__("stray.W", np.zeros(2)))


def _text_params(case: Case, t: float) -> dict[str, Any]:
    k = _first(case)
    return _params(case, lambda p: p.__setitem__(k, p[k].astype(str)))


def _x_nan(case: Case, t: float) -> dict[str, Any]:
    x = case.x.copy()
    x.reshape(-1)[int(t * x.size) % x.size] = np.nan
    return {"x": x}


def _x_width(case: Case, t: float) -> dict[str, Any]:
    return {"x": np.hstack([case.x, case.x[:, :1]])}


def _x_flat(case: Case, t: float) -> dict[str, Any]:
    return {"x": case.x[:, 0]}


def _x_empty(case: Case, t: float) -> dict[str, Any]:
    return {"x": case.x[:0], "y": case.y[:0]}


def _x_text(case: Case, t: float) -> dict[str, Any]:
    return {"x": case.x.astype(str)}


def _y_rows(case: Case, t: float) -> dict[str, Any]:
    return {"y": np.concatenate([case.y, case.y[:1]])}


def _y_nan(case: Case, t: float) -> dict[str, Any]:
    y = case.yt.copy()
    y.reshape(-1)[int(t * y.size) % y.size] = np.nan if t < 0.5 else -np.inf
    return {"y": y}


def _y_width(case: Case, t: float) -> dict[str, Any]:
    return {"y": np.hstack([case.yt, case.yt[:, :1]])}


def _y_flat_floats(case: Case, t: float) -> dict[str, Any]:
    """Fractional targets of shape (n,): neither labels nor (n, m) rows for this net."""
    return {"y": np.arange(len(case.x), dtype=np.float64) + 0.5 + t}


def _y_label(case: Case, t: float) -> dict[str, Any]:
    m = case.net.spec.out_width
    labels = np.zeros(len(case.x), dtype=np.int64)
    labels[int(t * len(labels)) % len(labels)] = m if t < 0.5 else -1
    return {"y": labels}


def _hp(opt: str, **hp: Any) -> dict[str, Any]:
    return {"optimizer": opt, **hp}


BAD: dict[str, tuple[Change, type[DescentcheckError]]] = {
    "params: NaN or inf entry": (_nonfinite, ParamsError),
    "params: wrong shape": (_reshaped, ParamsError),
    "params: missing array": (_missing, ParamsError),
    "params: unknown array": (_extra, ParamsError),
    "params: text dtype": (_text_params, ParamsError),
    "x: NaN entry": (_x_nan, DataError),
    "x: one column too many": (_x_width, DataError),
    "x: one-dimensional": (_x_flat, DataError),
    "x: no rows": (_x_empty, DataError),
    "x: text dtype": (_x_text, DataError),
    "y: one row too many": (_y_rows, DataError),
    "y: NaN or inf entry": (_y_nan, DataError),
    "y: one column too many": (_y_width, DataError),
    LABEL: (_y_label, DataError),
    FLAT_FLOATS: (_y_flat_floats, DataError),
    "lr 0": (lambda c, t: _hp("gd", lr=0.0), HyperparameterError),
    "lr < 0": (lambda c, t: _hp("gd", lr=-t - 2.0**-20), HyperparameterError),
    "lr given as text": (lambda c, t: _hp("gd", lr=f"{t + 2.0**-20}"), HyperparameterError),
    "lr given as a boolean": (lambda c, t: _hp("gd", lr=True), HyperparameterError),
    "momentum given as None": (lambda c, t: _hp("momentum", momentum=None), HyperparameterError),
    "lr not finite": (
        lambda c, t: _hp("gd", lr=np.nan if t < 0.5 else np.inf),
        HyperparameterError,
    ),
    "heavy-ball momentum >= 1": (
        lambda c, t: _hp("momentum", momentum=1.0 + t),
        HyperparameterError,
    ),
    "heavy-ball momentum < 0": (
        lambda c, t: _hp("momentum", momentum=-t - 2.0**-20),
        HyperparameterError,
    ),
    "nesterov momentum 0": (lambda c, t: _hp("nesterov", momentum=0.0), HyperparameterError),
    "nesterov momentum 1": (lambda c, t: _hp("nesterov", momentum=1.0), HyperparameterError),
    "heavy-ball momentum 1": (lambda c, t: _hp("momentum", momentum=1.0), HyperparameterError),
    "adaptive tau < 0": (
        lambda c, t: _hp("adaptive_momentum", tau=-t - 2.0**-20),
        HyperparameterError,
    ),
    "adaptive grouping unknown": (
        lambda c, t: _hp("adaptive_momentum", tau=t, group="layer"),
        HyperparameterError,
    ),
    "rmsprop rho >= 1": (lambda c, t: _hp("rmsprop", rho=1.0 + t), HyperparameterError),
    # a hyphen: no plugin can register this name (registry.optimizers refuses it)
    "optimizer unknown": (lambda c, t: _hp("no-such-optimizer"), HyperparameterError),
    "momentum given to gd": (lambda c, t: _hp("gd", momentum=t), HyperparameterError),
}

EDGE: dict[str, Change] = {
    "heavy-ball momentum 0": lambda c, t: _hp("momentum", momentum=0.0),
    "heavy-ball momentum just below 1": lambda c, t: _hp("momentum", momentum=1.0 - 2.0**-40),
    "nesterov momentum just above 0": lambda c, t: _hp("nesterov", momentum=2.0**-40),
    "adaptive tau 0": lambda c, t: _hp("adaptive_momentum", tau=0.0),
    "rmsprop rho 0": lambda c, t: _hp("rmsprop", rho=0.0),
    "lr tiny": lambda c, t: _hp("gd", lr=2.0**-1000),
    "integer inputs": lambda c, t: {"x": np.rint(c.x).astype(np.int64)},
    # a "values" loss (mse) with one output reads integer targets as numbers (0, 1, 2, ...),
    # not as labels
    "integer targets of one output of a values loss": lambda c, t: (
        {"y": np.arange(len(c.x), dtype=np.int64) % 3} if _labels_are_numbers(c) else {}
    ),
}


@st.composite
def _draw(draw: st.DrawFn, profile: Profile) -> dict[str, Any]:
    case = draw(cases(SMALL), label="case")
    t = draw(st.floats(0.0, 1.0, exclude_max=True), label="where / how much")
    return {"case": case, "t": t}


def _attempt(case: Case, change: dict[str, Any]) -> Exception | None:
    args = {"params": case.params, "x": case.x, "y": case.y, "optimizer": "gd", "lr": 0.01}
    args.update(change)
    try:
        train(case.net, steps=1, **args)
    except Exception as e:  # the claim is about which exception, if any
        return e
    return None


def _labels_are_numbers(case: Case) -> bool:
    """The case's loss reads targets of shape (n,) as the numbers of its one output, not as
    labels: a ``"values"`` loss (mse, or a plugin declaring it) with one output. Read from the
    loss itself (``impl.losses.flat_targets_are_labels``), as ``Network.check_targets`` does."""
    return not flat_targets_are_labels(case.net.spec.loss, case.net.spec.out_width)


def _row(a: np.ndarray, t: float) -> str:
    """The ``(row R)`` a message must name for the entry ``_x_nan``/``_y_nan`` corrupt."""
    flat = int(t * a.size) % a.size
    return f"(row {flat // (a.shape[1] if a.ndim == 2 else 1)})"


#: the row a refusal names, for the corruptions placed at one entry
ROWS = {
    "x: NaN entry": lambda c, t: _row(c.x, t),
    "y: NaN or inf entry": lambda c, t: _row(c.yt, t),
}


def _misses(case: Case, t: float) -> list[str]:
    """Every corruption not refused as it should be, and every edge value refused."""
    out = []
    for kind, (change, expected) in BAD.items():
        if kind in (LABEL, FLAT_FLOATS) and _labels_are_numbers(case):
            continue
        err = _attempt(case, change(case, t))
        if not (isinstance(err, expected) and len(str(err).splitlines()) == 1):
            got = "no error" if err is None else f"{type(err).__name__}: {err}"
            out.append(f"{kind}: expected a one-line {expected.__name__}, got {got}")
        elif kind in ROWS and ROWS[kind](case, t) not in str(err):
            out.append(f"{kind}: the message names the wrong row ({err}; {ROWS[kind](case, t)})")
    for kind, change in EDGE.items():
        err = _attempt(case, change(case, t))
        if err is not None:
            out.append(f"{kind}: refused ({type(err).__name__}: {err})")
    return out


def _check(drawn: dict[str, Any], ctx: Context) -> Verdict:
    misses = _misses(drawn["case"], drawn["t"])
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
        "listed in properties/claims/refusals.py tried on each case (where and how much drawn)",
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
