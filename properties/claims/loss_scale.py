"""Backprop is exactly linear in the loss's gradient (holds).

Every backward rule is linear in its cotangent, and multiplying by a power of two is exact in
floating point short of overflow and underflow, so a loss gradient ``2^k dE/dyhat`` must give
exactly ``2^k`` times every parameter gradient, bit for bit, whatever the rules round: loss
scaling (as in mixed-precision training) is lossless. A rule that reads its cotangent's size,
not only its sign, breaks this. The distance layer's matmul backward is where one could: it
takes the near pairs' terms by the exact direct formula, and which pairs must follow from the
forward alone (their excess over the guard), never from gz's size. Until 2026-12-07 it handed
whole samples back by their ``|gz|``-weighted excess (``> 0``); a threshold of 1 instead
survived the full mutation run (its data kept the rows it skipped within the accuracy bound)
and made the choice depend on the scale. Today's counterpart, the near terms subtracted only
where the input gradient is large, is falsified (``tests/test_properties_teeth.py``).

Each case is a random DAG of dense and distance layers with the data-driven initialisation
(centroids on rows of the layer's input, so near pairs are handed back), its data stretched off
the drawn grids by a drawn factor (on dyadic data both paths are often exact, and agree bit for
bit whatever is handed back). It runs once with every distance layer on the path its size picks
and once with the matmul path forced (``MATMUL_MIN_SIZE = 0``): the whole network, with only the
gradient the loss hands to backprop scaled (not its value), and each layer alone on its input
in the case, its input gradients asked for wherever it sits, at a fixed ramp cotangent and, for
a distance layer, at its own response ``exp(z)`` too (under the ramp far pairs outweigh the near
ones in nine rows of ten, measured; the response lets the near pairs lead). ``k`` is drawn
from -60..60 without 0. A run is counted, not tested, when its unscaled gradient is not finite
or has an entry under 2^-900 or over 2^900 in size, or its scaled one is not finite (where 2^k
times a value could leave the normal range and round).
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
from .matmul_path import DISTANCE_LAYERS, distance_path
from .updates import SMALL

TINY, HUGE = 2.0**-900, 2.0**900
STRETCHES = (1.0, 1.0 / 3.0, 0.7, 2.0**0.5)


class _ScaledGradient:
    """A loss whose value is the network's and whose gradient is ``factor`` times it."""

    def __init__(self, loss: Any, factor: float) -> None:
        self.loss, self.factor = loss, factor

    def value_and_grad(self, yhat: np.ndarray, y: np.ndarray) -> tuple[Any, np.ndarray]:
        E, g = self.loss.value_and_grad(yhat, y)
        return E, g * self.factor

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loss, name)


def _network_gradient(case: Case, factor: float) -> np.ndarray:
    """The flat gradient with the loss gradient scaled by ``factor``."""
    net = Network.from_spec(case.spec)
    net.loss_fn = _ScaledGradient(net.loss_fn, factor)
    with np.errstate(all="ignore"):
        return net.flatten(net.loss_and_grad(case.params, case.x, case.yt)[1])


def _layer_inputs(case: Case) -> dict[str, np.ndarray]:
    """Every node's value on the case's data (the network input as ``"input"``)."""
    values = {"input": case.x}
    with np.errstate(all="ignore"):
        for layer in case.net.layers:
            values[layer.name] = layer.forward(case.params, [values[p] for p in layer.inputs])[0]
    return values


def _cotangents(layer: Any, y: np.ndarray) -> list[np.ndarray]:
    """A fixed ramp over [-1, 1] (never zero, reaching every unit); for a distance layer also
    its own response ``exp(z)``, which weighs each pair by its closeness, so the near pairs'
    terms lead (under the ramp, far pairs outweighed them in nine rows of ten, measured)."""
    ramp = np.linspace(-1.0, 1.0, y.size).reshape(y.shape)
    gaussian = importlib.import_module("descentcheck.impl.ops.gaussian")
    if not isinstance(layer, gaussian.Gaussian):
        return [ramp]
    return [ramp, np.exp(y) if layer.logits else y.copy()]


def _layer_gradients(case: Case, layer: Any, values: dict, factor: float) -> np.ndarray:
    """One layer alone, its input gradients asked for wherever it sits, at each of
    :func:`_cotangents` times ``factor``: its parameter and input gradients as one vector."""
    xs = [values[p].copy() for p in layer.inputs]
    asked, layer.input_grads = layer.input_grads, True
    parts = []
    try:
        with np.errstate(all="ignore"):
            y = layer.forward(case.params, [x.copy() for x in xs])[0]
            for gy in _cotangents(layer, y):
                # a fresh forward each time: a backward may write into its cache
                cache = layer.forward(case.params, [x.copy() for x in xs])[1]
                gxs, grads = layer.backward(case.params, cache, gy * factor)
                parts += [grads[k] for k in sorted(grads)] + [g for g in gxs if g is not None]
    finally:
        layer.input_grads = asked
    return np.concatenate([np.ravel(a) for a in parts]) if parts else np.zeros(0)


def _compare(g: np.ndarray, scaled: np.ndarray, factor: float) -> np.ndarray | None:
    """The entries where ``scaled`` is not ``factor * g`` bit for bit; None when either is
    out of the range where scaling by ``factor`` is exact (the case is not tested)."""
    size = np.abs(g)
    if not np.all(np.isfinite(g)) or np.any((size > 0) & (size < TINY) | (size > HUGE)):
        return None
    if not np.all(np.isfinite(scaled)):
        return None
    return np.flatnonzero(scaled != g * factor)


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
    measured = {
        "entries_differing": 0.0,
        "cases_tested": 1.0,
        "distance_layers_tested": len(distance),
        "layer_runs_tested": 0.0,
    }
    message = ""
    for threshold in (None, 0):
        path = "the matmul path forced" if threshold == 0 else "each layer on its own path"
        with distance_path(threshold):
            g = _network_gradient(case, 1.0)
            scaled = _network_gradient(case, factor)
            differ = _compare(g, scaled, factor)
            if differ is None:
                return Verdict(True, {"cases_near_overflow_or_underflow": 1.0})
            measured["entries_differing"] += len(differ)
            if len(differ) and not message:
                i = int(differ[0])
                where = f"{path}, gradient entry {i} ({_name(case, i)})"
                message = _differs(where, scaled[i], g[i], k)
            values = _layer_inputs(case)
            for layer in case.net.layers:
                g = _layer_gradients(case, layer, values, 1.0)
                scaled = _layer_gradients(case, layer, values, factor)
                differ = _compare(g, scaled, factor)
                if differ is None:
                    continue
                measured["layer_runs_tested"] += 1
                measured["entries_differing"] += len(differ)
                if len(differ) and not message:
                    where = f"{path}, layer {layer.name} alone, its gradient entry {differ[0]}"
                    message = _differs(where, scaled[differ[0]], g[differ[0]], k)
    ok = measured["entries_differing"] == 0
    return Verdict(ok, measured, {"entries_differing": 0.0}, message=message)


def _differs(where: str, got: float, want: float, k: int) -> str:
    return (
        f"with {where}: {float(got)!r} at a cotangent scaled by 2^{k}, not 2^{k} x "
        f"{float(want)!r} = {float(want) * 2.0**k!r}"
    )


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
        "k from -60 to 60, not 0; data stretched by 1, 1/3, 0.7 or sqrt(2); each case with "
        "every distance layer on its own path and with the matmul path forced "
        "(MATMUL_MIN_SIZE = 0)",
        "the whole network (the loss's gradient scaled), and each layer alone with its input "
        "gradients, at a ramp cotangent and, for distance layers, at their own response",
        "a run whose gradient is not finite or has an entry under 2^-900 or over 2^900 in "
        "size, or whose scaled gradient is not finite, is counted, not tested",
    ),
    expect="holds",
    strategy=_draw,
    check=_check,
    summary={
        "entries_differing": "sum",
        "cases_tested": "sum",
        "distance_layers_tested": "sum",
        "layer_runs_tested": "sum",
        "cases_near_overflow_or_underflow": "sum",
    },
    cost=0.3,
    examples_scale=0.5,  # the planted hand-back bug falls at the 5th case; 3-4 s of a ci run
)

CLAIMS = (LOSS_SCALE_EXACT,)
