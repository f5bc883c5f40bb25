"""A trained run records the optimizer and settings it was trained with (holds).

A trajectory's ``optimizer`` and ``hyperparameters`` are what a saved run and a replayed
counterexample say the run was; the claims read the losses and steps, never these fields: the
mutation run found a mutant that recorded adaptive momentum's learning rate under a wrong name
alive.

Here each optimizer is trained one step with drawn settings; the trajectory must name the
optimizer, and record every given setting under its own name with the value given (the
registry may add defaults beside them).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from descentcheck.impl.trainer import train

from ..claim import Claim, Context, Verdict
from ..profiles import Profile
from ..strategies import cases
from .dict_form import setting_values, settings
from .updates import SMALL


@st.composite
def _draw(draw: st.DrawFn, profile: Profile) -> dict[str, Any]:
    case = draw(cases(SMALL), label="case")
    hp = draw(setting_values(), label="settings")
    return {"case": case, "hp": hp}


def _misses(case: Any, setting: dict[str, Any]) -> list[str]:
    traj = train(case.net, case.params, case.x, case.yt, steps=1, **setting)
    name = setting["optimizer"]
    out = [] if traj.optimizer == name else [f"{name} recorded as {traj.optimizer!r}"]
    for k, v in setting.items():
        if k != "optimizer" and traj.hyperparameters.get(k) != v:
            got = traj.hyperparameters.get(k, "nothing")
            out.append(f"{name}: {k} = {v!r} recorded as {got!r} ({traj.hyperparameters})")
    return out


def _check(drawn: dict[str, Any], ctx: Context) -> Verdict:
    misses = [m for s in settings(**drawn["hp"]) for m in _misses(drawn["case"], s)]
    measured = {"cases_tested": 1.0, "misses": float(len(misses))}
    return Verdict(not misses, measured, message="; ".join(misses)[:500])


RECORDS_SETTINGS = Claim(
    id="trajectory-records-its-settings",
    statement=(
        "A trained run's trajectory names its optimizer and records every given "
        "hyperparameter under its own name with the value given, for each optimizer and option"
    ),
    source=(
        "the trajectory format (DESIGN.md: a run records what it was trained with); added "
        "after the mutation run (issue 12 item 7) found a mis-recorded setting alive"
    ),
    conditions=(
        "small random DAGs with skips; one step of each setting that "
        "optimizer-dict-form-equals-flat-form checks",
    ),
    expect="holds",
    strategy=_draw,
    check=_check,
    summary={"cases_tested": "sum", "misses": "sum"},
    cost=0.5,
)

CLAIMS = (RECORDS_SETTINGS,)
