"""Hypothesis strategies: random DAG architectures with skip connections, small data, parameters.

Every number a property test uses is drawn here, through Hypothesis, so every failure shrinks
and replays. The one indirection: initial parameters come from ``net.init(seed, x)`` with a
*drawn* integer ``seed`` (it shrinks toward 0 and is stored in the example database like any
other draw); the arrays themselves are serialised with every counterexample.

Architecture (:func:`dag_specs`). A network is a sequence of *blocks* ``b1..bB`` after the input
``b0``; each block picks a nonempty set of parents among the earlier ones: the chain edge
``b_{i-1} -> b_i`` plus any number of skip edges ``b_j -> b_i`` (j < i-1), and may drop the
chain edge when it has a skip edge. So the graph is acyclic by construction, and since a skip
edge and a dropped chain edge both shrink to "absent", every DAG shrinks toward a chain (and the
chain toward fewer blocks, down to a single output layer on the input). A block is::

    [merge: add | concat of its parents]  ->  dense | gaussian | gaussian_logits  ->  [activation]

``add`` needs equal widths, so one network-wide width is drawn and a block keeps it unless it
draws its own. Blocks nobody reads (the sinks) are merged into the output layer, so every node
feeds the output. Activations are the smooth ones of the convergence theorem: tanh, sigmoid,
softplus, identity (never relu). Output: ``dense`` with identity for ``mse`` (the tutorial's
regression head), ``dense`` or ``gaussian_logits`` (the distance paper's head) for
``softmax_cross_entropy``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from descentcheck.impl.network import Network

Array = np.ndarray
SpecDict = dict[str, Any]

ACTIVATIONS = ("tanh", "sigmoid", "softplus", "identity")
LAYERS = ("dense", "gaussian", "gaussian_logits")
LOSSES = ("mse", "softmax_cross_entropy")
RADII = ("per_connection", "per_unit")


@dataclass(frozen=True)
class Limits:
    """Size bounds of generated cases (a profile may widen them)."""

    max_blocks: int = 4
    max_width: int = 4
    max_inputs: int = 3
    min_rows: int = 2
    max_rows: int = 8
    data_bound: float = 2.0


def _rare(one_in: int) -> st.SearchStrategy[bool]:
    """True with probability 1/one_in when generating; shrinks to False."""
    return st.integers(0, one_in - 1).map(lambda v: v == one_in - 1)


@st.composite
def dag_specs(
    draw: st.DrawFn,
    limits: Limits = Limits(),
    losses: Sequence[str] = LOSSES,
    layers: Sequence[str] = LAYERS,
    min_blocks: int = 0,
) -> SpecDict:
    """A spec v1 dict for a random DAG (see the module docstring)."""
    n_in = draw(st.integers(1, limits.max_inputs), label="inputs")
    loss = draw(st.sampled_from(tuple(losses)), label="loss")
    n_blocks = draw(st.integers(min_blocks, limits.max_blocks), label="blocks")
    width = draw(st.integers(1, limits.max_width), label="width")

    nodes: list[dict[str, Any]] = []
    out_name = ["input"]  # name of each block's output node; block 0 is the input
    widths = [n_in]
    consumed = [False]
    for i in range(1, n_blocks + 1):
        skips = [j for j in range(i - 1) if draw(_rare(2), label=f"skip {j}->{i}")]
        drop_chain = bool(skips) and draw(_rare(4), label=f"drop chain {i - 1}->{i}")
        parents = ([] if drop_chain else [i - 1]) + skips
        src = _merge(
            draw, nodes, f"m{i}", [out_name[j] for j in parents], [widths[j] for j in parents]
        )
        for j in parents:
            consumed[j] = True
        own = draw(_rare(4), label=f"own width {i}")
        units = draw(st.integers(1, limits.max_width)) if own else width
        op = draw(st.sampled_from(tuple(layers)), label=f"layer {i}")
        layer: dict[str, Any] = {"name": f"h{i}", "op": op, "units": units, "inputs": [src[0]]}
        if op != "dense":
            layer["radius"] = draw(st.sampled_from(RADII), label=f"radius {i}")
        nodes.append(layer)
        last = layer["name"]
        if op != "gaussian":  # gaussian is already a bounded nonlinearity
            act = draw(st.sampled_from(ACTIVATIONS), label=f"activation {i}")
            nodes.append({"name": f"a{i}", "op": act, "inputs": [last]})
            last = f"a{i}"
        out_name.append(last)
        widths.append(units)
        consumed.append(False)

    sinks = [j for j in range(len(out_name)) if not consumed[j]] or [0]
    src = _merge(draw, nodes, "mo", [out_name[j] for j in sinks], [widths[j] for j in sinks])
    if loss == "mse":
        m = draw(st.integers(1, 2), label="outputs")
        head = "dense"
    else:
        m = draw(st.integers(2, 3), label="classes")
        head = draw(st.sampled_from(("dense", "gaussian_logits")), label="head")
    out: dict[str, Any] = {"name": "out", "op": head, "units": m, "inputs": [src[0]]}
    if head == "gaussian_logits":
        out["radius"] = draw(st.sampled_from(RADII), label="head radius")
    nodes.append(out)
    return {"inputs": n_in, "output": "out", "loss": loss, "nodes": nodes}


def _merge(
    draw: st.DrawFn, nodes: list[dict[str, Any]], name: str, parents: list[str], widths: list[int]
) -> tuple[str, int]:
    """One node's input: the single parent, or an ``add``/``concat`` node over several."""
    if len(parents) == 1:
        return parents[0], widths[0]
    ops = ("add", "concat") if len(set(widths)) == 1 else ("concat",)
    op = draw(st.sampled_from(ops), label=f"merge {name}")
    nodes.append({"name": name, "op": op, "inputs": list(parents)})
    return name, widths[0] if op == "add" else sum(widths)


@dataclass
class Case:
    """One generated problem: a network, data and initial parameters.

    ``y`` is as drawn (float targets for mse, int labels for cross-entropy) and is what a data
    file stores; ``yt`` is the loss's form (``Network.check_targets``)."""

    spec: SpecDict
    net: Network
    x: Array
    y: Array
    yt: Array
    params: dict[str, Array]
    param_seed: int
    extra: dict[str, Any] = field(default_factory=dict)


def grid_floats(bound: float, resolution: int = 16) -> st.SearchStrategy[float]:
    """Multiples of ``1/resolution`` in [-bound, bound]; shrinks toward 0.

    A grid rather than all floats: values like 1e-155 beside 0 would make the gaussian layers'
    data-driven initialisation (radius = 1/median distance) overflow to inf, and counterexamples
    read better in short decimals."""
    k = int(bound * resolution)
    return st.integers(-k, k).map(lambda v: v / resolution)


@st.composite
def datasets(draw: st.DrawFn, net: Network, limits: Limits = Limits()) -> tuple[Array, Array]:
    """Small data for ``net``, drawn with ``hypothesis.extra.numpy``: x (n, inputs) on the 1/16
    grid of [-b, b]; y (n, m) on the grid of [-1, 1] for mse, int labels in [0, m) for
    cross-entropy."""
    n = draw(st.integers(limits.min_rows, limits.max_rows), label="rows")
    d, m = net.spec.inputs, net.spec.out_width
    x = draw(hnp.arrays(np.float64, (n, d), elements=grid_floats(limits.data_bound)), label="x")
    if net.spec.loss == "mse":
        y = draw(hnp.arrays(np.float64, (n, m), elements=grid_floats(1.0)), label="y")
    else:
        y = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, m - 1)), label="labels")
    return x, y


@st.composite
def cases(draw: st.DrawFn, limits: Limits = Limits(), **spec_kwargs: Any) -> Case:
    """A spec from :func:`dag_specs`, data from :func:`datasets`, params from a drawn seed."""
    spec = draw(dag_specs(limits, **spec_kwargs), label="spec")
    net = Network.from_spec(spec)
    x, y = draw(datasets(net, limits), label="data")
    x, yt = net.check_data(x, y)
    seed = draw(st.integers(0, 2**32 - 1), label="param seed")
    return Case(spec, net, x, np.asarray(y), yt, net.init(seed=seed, x=x), seed)


def fractions(low: float, high: float) -> st.SearchStrategy[float]:
    """A number in [low, high] (a hyperparameter as a fraction of a theory bound)."""
    return st.floats(low, high, allow_nan=False, allow_infinity=False, allow_subnormal=False)


GRID = 2**16 - 1  # the grids below: 65536 points, drawn as two bytes


def _grid_index() -> st.SearchStrategy[float]:
    """``t`` in [0, 1] on a grid of 65536 points, evenly spread when generating.

    Two bytes, coarse then fine: Hypothesis draws an integer in a small range (0..255) evenly,
    but an integer in a wide one is weighted toward small values (measured: of 400 draws of
    ``integers(0, 2**16)``, 71% fell in the lowest tenth), and ``st.floats(low, high)`` puts
    many draws on the bounds (measured in the ledger: 18-38% of learning rates at the lower
    bound). Shrinks toward 0."""
    byte = st.integers(0, 255)
    return st.tuples(byte, byte).map(lambda t: (t[0] * 256 + t[1]) / GRID)


def unit_interval(low: float, high: float) -> st.SearchStrategy[float]:
    """A number in [low, high], spread evenly over the range (see :func:`_grid_index`)."""
    return _grid_index().map(lambda t: low + (high - low) * t)


def log_uniform(low: float, high: float) -> st.SearchStrategy[float]:
    """A number in [low, high] whose logarithm is spread evenly (a scale: a learning rate, an
    eps); shrinks toward ``low``."""
    ratio = high / low
    return _grid_index().map(lambda t: min(high, max(low, low * ratio**t)))
