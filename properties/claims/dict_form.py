"""Every optimizer's dict form takes the steps its flat form takes (holds).

Each built-in optimizer comes twice: ``Optimizer.update`` over dicts of arrays (the public
form, and what a plugin optimizer without a flat form runs) and ``Optimizer.flat`` over one
vector (what the trainer runs). The claims check the trainer, so the dict forms ran under no
claim: the mutation run found a mutant that made RMSProp's dict form read a state key that is
not there, alive. A plugin optimizer may bring both forms too, and then it is checked here the
same way, under each of its option settings (a held-out plugin's flat form that scaled every
step by 1.0001 was blamed on its derivation by the update claim alone).

Here both forms are started from their own ``init`` and fed the same drawn gradients for three
steps (parameters moved by the flat form's steps); at every step the two steps must agree to
within 1e-12 max |dw| plus the smallest subnormal, for gd, heavy ball, Nesterov, adaptive
momentum with each grouping, and RMSProp with and without momentum; and the momentum coefficient
each reports for the trajectory must agree (to 1e-12). One case in ten is a network without
parameters (empty steps, an empty set of groups).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from descentcheck.impl.network import Network
from descentcheck.impl.optim import apply_updates, get_optimizer
from descentcheck.impl.optim.base import Layout

from ..claim import Claim, Context, Verdict
from ..profiles import Profile
from ..registered_updates import plugin_draws, plugin_settings
from ..strategies import arrays, cases, grid_floats, typed
from .updates import KINDS, SMALL

STEPS = 3
TOL = 1e-12


@st.composite
def setting_values(draw: st.DrawFn) -> dict[str, float]:
    """The values :func:`settings` takes, each drawn in its range (shared by the claims that
    run every setting)."""
    return {
        "lr": draw(typed(1e-3, 0.5, 0.01, 0.1, 0.5), label="lr"),
        "beta": draw(typed(0.05, 0.95, 0.5, 0.9), label="momentum"),
        "tau": draw(typed(0.01, 1.0, 0.1, 0.5, 1.0), label="tau"),
        "rho": draw(typed(0.5, 0.999, 0.9, 0.99), label="rho"),
        "eps": draw(typed(1e-8, 1e-3, 1e-8, 1e-6), label="eps"),
    }


def settings(lr: float, beta: float, tau: float, rho: float, eps: float) -> list[dict[str, Any]]:
    """Every optimizer and option checked for one draw."""
    return [
        {"optimizer": "gd", "lr": lr},
        {"optimizer": "momentum", "lr": lr, "momentum": beta},
        {"optimizer": "nesterov", "lr": lr, "momentum": beta},
        *(
            {"optimizer": "adaptive_momentum", "lr": lr, "tau": tau, "group": g}
            for g in ("array", "unit", "node", "global")
        ),
        {"optimizer": "rmsprop", "lr": lr, "rho": rho, "eps": eps},
        {"optimizer": "rmsprop", "lr": lr, "rho": rho, "eps": eps, "momentum": beta},
    ]


# a network without parameters: train accepts it, and every optimizer takes empty steps and
# reports a coefficient for them (the dict form's empty-group branch)
BARE = {
    "inputs": 2,
    "output": "a",
    "loss": "mse",
    "nodes": [{"name": "a", "op": "tanh", "inputs": ["input"]}],
}


@st.composite
def _draw(draw: st.DrawFn, profile: Profile) -> dict[str, Any]:
    if draw(st.integers(0, 9), label="a network without parameters") == 0:
        net = Network.from_spec(BARE)
        w0 = np.zeros(0)
    else:
        case = draw(cases(SMALL), label="case")
        net, w0 = case.net, case.net.flatten(case.params)
    n = net.size
    grads = [
        draw(arrays(np.float64, n, grid_floats(1.0)), label=f"gradient {k}") for k in range(STEPS)
    ]
    hp = draw(setting_values(), label="settings")
    return {"net": net, "w0": w0, "grads": grads, "hp": hp, "plugins": plugin_draws(draw)}


def _worst(
    net: Any, setting: dict[str, Any], w0: np.ndarray, grads: list[np.ndarray]
) -> tuple[float, str]:
    """The largest |dict step - flat step| over the steps, over its allowance; where."""
    hp = {k: v for k, v in setting.items() if k not in ("optimizer", "lr")}
    opt = get_optimizer(setting["optimizer"], setting.get("lr"), **hp)
    if opt.flat is None:  # a plugin's dict form alone: nothing to compare
        return 0.0, ""
    w = w0.copy()
    state_d = opt.init(net.unflatten(w.copy()))
    flat = opt.flat(Layout.of(net.unflatten(w.copy())))
    state_f = flat.init(w.copy())
    worst, where = 0.0, ""
    for k, g in enumerate(grads):
        dw_d, state_d, info = opt.update(net.unflatten(g.copy()), state_d, net.unflatten(w.copy()))
        moved = net.flatten(apply_updates(net.unflatten(w.copy()), dw_d))
        dw_d = net.flatten(dw_d)
        if not np.array_equal(moved, w + dw_d, equal_nan=True):  # the dict API's w + dw
            return float("inf"), f"step {k}: apply_updates(w, dw) is not w + dw"
        dw_f, state_f, coef = flat.update(g.copy(), state_f, w)
        # the momentum coefficient the trajectory records: the same from both forms
        a, b = info.momentum, coef
        if (a is None) != (b is None) or (a is not None and abs(a - b) > TOL * max(1.0, abs(b))):
            return float("inf"), f"step {k}: coefficient dict {a!r} vs flat {b!r}"
        dw_f = np.array(dw_f)  # the flat form may hand back its state's memory
        allowed = TOL * float(np.max(np.abs(dw_f), initial=0.0))
        allowed += np.finfo(np.float64).smallest_subnormal
        diff = np.abs(dw_d - dw_f)
        ratio = float(np.max(diff, initial=0.0)) / allowed
        if not np.isfinite(ratio):
            ratio = float("inf")
        if ratio > worst:
            i = int(np.argmax(np.where(np.isfinite(diff), diff, np.inf)))
            worst, where = ratio, f"step {k}, entry {i}: dict {dw_d[i]!r} vs flat {dw_f[i]!r}"
        w = w + dw_f
    return worst, where


def _label(setting: dict[str, Any]) -> str:
    name = setting["optimizer"]
    if name not in KINDS:  # a plugin: its settings as drawn
        return f"{name} { ({k: v for k, v in setting.items() if k != 'optimizer'}) }"
    if "group" in setting:
        return f"{name} ({setting['group']})"
    return f"{name} (momentum)" if name == "rmsprop" and "momentum" in setting else name


def _check(drawn: dict[str, Any], ctx: Context) -> Verdict:
    net, w0 = drawn["net"], drawn["w0"]
    worst, where = 0.0, ""
    for setting in [*settings(**drawn["hp"]), *plugin_settings(drawn.get("plugins", []))]:
        r, at = _worst(net, setting, w0, drawn["grads"])
        if r > worst:
            worst, where = r, f"{_label(setting)} {at}"
    ok = worst <= 1.0
    measured = {"worst_error_over_tolerance": worst, "cases_tested": 1.0}
    return Verdict(ok, measured, {"worst_error_over_tolerance": 1.0}, message="" if ok else where)


DICT_EQUALS_FLAT = Claim(
    id="optimizer-dict-form-equals-flat-form",
    statement=(
        "Every optimizer's dict form (Optimizer.update) takes the steps of its flat form (the "
        "trainer's) over three steps from init, with each option: the built-ins, and each "
        "plugin optimizer that brings a flat form"
    ),
    source=(
        "impl/optim's contract (the flat form does the dict form's arithmetic); added after "
        "the mutation run (issue 12 item 7) found the dict forms run by no claim"
    ),
    conditions=(
        "small random DAGs with skips; gradients drawn entry by entry on the 1/16 grid of "
        "[-1, 1], three steps",
        "gd, heavy ball, Nesterov, adaptive momentum (array, unit, node, global), RMSProp "
        "without and with momentum; agreement within 1e-12 max |dw| per step",
    ),
    expect="holds",
    strategy=_draw,
    check=_check,
    summary={"worst_error_over_tolerance": "max", "cases_tested": "sum"},
    cost=1.0,
    examples_scale=0.5,  # each case runs nine optimizer settings both ways
)

CLAIMS = (DICT_EQUALS_FLAT,)
