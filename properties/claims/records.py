"""A trained run records the optimizer and settings it was trained with (holds).

A trajectory's ``optimizer`` and ``hyperparameters`` are what a saved run and a replayed
counterexample say the run was; the claims read the losses and steps, never these fields: the
mutation run found a mutant that recorded adaptive momentum's learning rate under a wrong name
alive.

Here each optimizer is trained one step with drawn settings; the trajectory must name the
optimizer, and record every given setting under its own name with the value given (the
registry may add defaults beside them). Installed plugin optimizers are trained too, under each
of their option settings, their hyperparameters drawn from their declared ranges: a plugin's
factory names the settings its ``Optimizer`` records, and a mistaken one is named here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from descentcheck.impl.errors import one_line
from descentcheck.impl.trainer import train
from descentcheck.registry.optimizers import get

from .. import registered_updates as registered
from ..claim import Claim, Context, Verdict
from ..profiles import Profile
from ..strategies import cases
from .dict_form import setting_values, settings
from .updates import SMALL


@st.composite
def _draw(draw: st.DrawFn, profile: Profile) -> dict[str, Any]:
    case = draw(cases(SMALL), label="case")
    hp = draw(setting_values(), label="settings")
    return {"case": case, "hp": hp, "plugins": registered.plugin_draws(draw)}


def _misses(case: Any, setting: dict[str, Any]) -> list[str]:
    name = setting["optimizer"]
    try:
        with np.errstate(all="ignore"):  # a diverging step is recorded all the same
            traj = train(case.net, case.params, case.x, case.yt, steps=1, **setting)
    except Exception as e:  # a plugin's own failure, named (ours raise: built-ins never fail)
        if get(name).origin == "builtin":
            raise
        return [f"{name}: training failed: {one_line(e)}"]
    out = [] if traj.optimizer == name else [f"{name} recorded as {traj.optimizer!r}"]
    for k, v in setting.items():
        if k != "optimizer" and traj.hyperparameters.get(k) != v:
            got = traj.hyperparameters.get(k, "nothing")
            out.append(f"{name}: {k} = {v!r} recorded as {got!r} ({traj.hyperparameters})")
    return out


def _check(drawn: dict[str, Any], ctx: Context) -> Verdict:
    plugins = registered.plugin_settings(drawn.get("plugins", []))
    misses = [m for s in settings(**drawn["hp"]) + plugins for m in _misses(drawn["case"], s)]
    measured = {
        "cases_tested": 1.0,
        "misses": float(len(misses)),
        "runs_of_plugins": float(len(plugins)),
    }
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
        "installed plugin optimizers: one step under each option setting, hyperparameters "
        "drawn from their declared ranges",
    ),
    expect="holds",
    strategy=_draw,
    check=_check,
    summary={"cases_tested": "sum", "misses": "sum", "runs_of_plugins": "sum"},
    cost=0.5,
)

CLAIMS = (RECORDS_SETTINGS,)
