"""Backprop is exactly linear in the loss's gradient (holds).

Every backward rule is linear in its cotangent, and multiplying by a power of two is exact in
floating point short of overflow and underflow, so a loss gradient ``2^k dE/dyhat`` must give
exactly ``2^k`` times every parameter gradient, bit for bit, whatever the rules round: loss
scaling (as in mixed-precision training) is lossless. A rule that reads its cotangent's size and not
only its sign breaks this. The distance layer's matmul backward hands a sample's input gradient
back to the exact direct formula when the sample's ``|gz|``-weighted excess over the guard is
``> 0``; a threshold of 1 instead survived the full mutation run (its data kept the rows it
skips within the accuracy bound), and makes the choice depend on the scale: the drawn
cotangents' excesses mostly sum to under 1, so scaling up (k > 0) is what exposes it.

Each case is a random DAG of dense and distance layers with the data-driven initialisation
(centroids on rows of the layer's input, so near pairs are handed back), run once with every
distance layer on the path its size picks and once with the matmul path forced
(``MATMUL_MIN_SIZE = 0``); ``k`` is drawn from -60..60 without 0. The loss's own value is not
scaled, only the gradient it hands to backprop. A case is counted, not tested, when its
unscaled gradient is not finite or has an entry under 2^-900 or over 2^900 in size, or its
scaled one is not finite (where 2^k times a value could leave the normal range and round).
"""

from __future__ import annotations

import importlib
from dataclasses import replace
from typing import Any

import numpy as np
from hypothesis import strategies as st

from descentcheck.impl.network import Network

from ..claim import Claim, Context, Verdict
from ..profiles import Profile
from ..strategies import Case, cases
from .matmul_path import DISTANCE_LAYERS
from .updates import SMALL

TINY, HUGE = 2.0**-900, 2.0**900
STRETCHES = (1.0, 1.0 / 3.0, 0.7, 2.0**0.5)


class _ScaledGradient:
    """A loss whose value is the network's and whose gradient is ``factor`` times it."""

    def __init__(self, loss: Any, factor: float):
        self.loss, self.factor = loss, factor

    def value_and_grad(self, yhat: np.ndarray, y: np.ndarray) -> tuple[Any, np.ndarray]:
        E, g = self.loss.value_and_grad(yhat, y)
        return E, g * self.factor

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loss, name)


def _gradient(case: Case, factor: float, threshold: float | None) -> np.ndarray:
    """The flat gradient with the loss gradient scaled by ``factor``; ``threshold`` forces
    ``MATMUL_MIN_SIZE`` (None: the module's own)."""
    gaussian = importlib.import_module("descentcheck.impl.ops.gaussian")
    net = Network.from_spec(case.spec)
    net.loss_fn = _ScaledGradient(net.loss_fn, factor)
    old = gaussian.MATMUL_MIN_SIZE
    if threshold is not None:
        gaussian.MATMUL_MIN_SIZE = threshold  # read at each forward call
    try:
        with np.errstate(all="ignore"):
            _, grads = net.loss_and_grad(case.params, case.x, case.yt)
    finally:
        gaussian.MATMUL_MIN_SIZE = old
    return net.flatten(grads)


@st.composite
def _draw(draw: st.DrawFn, profile: Profile) -> dict[str, Any]:
    case = draw(cases(SMALL, layers=("dense", *DISTANCE_LAYERS)), label="case")
    k = draw(st.integers(-60, 59), label="k")
    stretch = draw(st.sampled_from(STRETCHES), label="stretch")
    if stretch != 1.0:  # off the drawn grids, so the two paths round differently
        x = case.x * stretch
        case = replace(case, x=x, params=case.net.init(seed=case.param_seed, x=x))
    return {"case": case, "k": k if k < 0 else k + 1}


def _check(drawn: dict[str, Any], ctx: Context) -> Verdict:
    case, k = drawn["case"], drawn["k"]
    factor = 2.0**k
    distance = [n for n in case.spec["nodes"] if n["op"] in DISTANCE_LAYERS]
    inside = sum(n["inputs"] != ["input"] for n in distance)  # input gradients: the rows
    measured = {
        "entries_differing": 0.0,
        "cases_tested": 1.0,
        "distance_layers_tested": len(distance),
        "distance_layers_with_input_gradients": inside,
    }
    message = ""
    for threshold in (None, 0):
        g = _gradient(case, 1.0, threshold)
        size = np.abs(g)
        if not np.all(np.isfinite(g)) or np.any((size > 0) & (size < TINY) | (size > HUGE)):
            return Verdict(True, {"cases_near_overflow_or_underflow": 1.0})
        scaled = _gradient(case, factor, threshold)
        if not np.all(np.isfinite(scaled)):
            return Verdict(True, {"cases_near_overflow_or_underflow": 1.0})
        differ = np.flatnonzero(scaled != g * factor)
        measured["entries_differing"] += len(differ)
        if len(differ) and not message:
            i = int(differ[0])
            path = "the matmul path forced" if threshold == 0 else "each layer's own path"
            got, want = float(scaled[i]), float(g[i])
            message = (
                f"with {path}, gradient entry {i} ({_name(case, i)}) at a loss gradient scaled "
                f"by 2^{k} is {got!r}, not 2^{k} x {want!r} = {want * factor!r} "
                f"({len(differ)} of {len(g)} entries differ)"
            )
    ok = measured["entries_differing"] == 0
    return Verdict(ok, measured, {"entries_differing": 0.0}, message=message)


def _name(case: Case, i: int) -> str:
    """The parameter that holds flat entry ``i``."""
    for name, (start, stop, _) in case.net.layout.items():
        if start <= i < stop:
            return name
    return "?"


LOSS_SCALE_EXACT = Claim(
    id="backprop-exact-under-loss-scaling",
    statement=(
        "Scaling the loss's gradient by 2^k scales every parameter gradient by exactly 2^k, "
        "bit for bit (every backward rule is linear in its cotangent), on random DAGs with "
        "skips and distance layers on both evaluation paths"
    ),
    source=(
        "linearity of backprop in the cotangent and exact power-of-two scaling (IEEE 754); the "
        "mutation run's survivor of the distance layer's matmul backward (a hand-back threshold "
        "of 1 for 0)"
    ),
    conditions=(
        "small random DAGs with dense and distance layers, both radius kinds, both losses, "
        "data-driven initialisation (near pairs)",
        "k from -60 to 60, not 0; each case with every distance layer on its own path and with the "
        "matmul path forced (MATMUL_MIN_SIZE = 0)",
        "a case whose gradient is not finite or has an entry under 2^-900 or over 2^900 in "
        "size, or whose scaled gradient is not finite, is counted, not tested",
    ),
    expect="holds",
    strategy=_draw,
    check=_check,
    summary={
        "entries_differing": "sum",
        "cases_tested": "sum",
        "distance_layers_tested": "sum",
        "distance_layers_with_input_gradients": "sum",
        "cases_near_overflow_or_underflow": "sum",
    },
    cost=0.3,
)

CLAIMS = (LOSS_SCALE_EXACT,)
