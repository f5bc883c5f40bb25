"""Hypothesis strategies: random DAG architectures with skip connections, small data, parameters.

Every number a property test uses is drawn here, through Hypothesis, so every failure shrinks
and replays. The one indirection: initial parameters come from ``net.init(seed, x)`` with a
*drawn* integer ``seed`` (it shrinks toward 0 and is stored in the example database like any
other draw); the arrays themselves are serialised with every counterexample.

Architecture (:func:`dag_specs`): the one random-DAG generator,
:func:`descentcheck.impl.random_dag.random_dag`, drawing through Hypothesis
(:class:`~descentcheck.impl.random_dag.HypothesisDraws`), in its default
:class:`~descentcheck.impl.random_dag.DagShape`: blocks ``[add | concat of its parents] -> dense |
gaussian | gaussian_logits -> [activation]``, each reading its predecessor and, with probability
1/2 each, earlier blocks (skip connections); so every DAG shrinks toward a chain, and the chain
toward fewer blocks. Activations are the smooth ones of the convergence theorem (the op
registry's smooth elementwise ops: never relu). Output: ``dense`` for ``mse``, ``dense`` or
``gaussian_logits`` (the distance paper's head) for ``softmax_cross_entropy``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from descentcheck.impl.network import Network
from descentcheck.impl.random_dag import DagShape, HypothesisDraws, random_dag
from descentcheck.registry.ops import RADIUS

Array = np.ndarray
SpecDict = dict[str, Any]

#: a distance layer's radius modes (for strategies that build nodes themselves)
RADII: tuple[str, ...] = RADIUS.choices


@dataclass(frozen=True)
class Limits:
    """Size bounds of generated cases (a profile may widen them)."""

    max_blocks: int = 4
    max_width: int = 4
    max_inputs: int = 3
    min_rows: int = 2
    max_rows: int = 8
    data_bound: float = 2.0


@st.composite
def dag_specs(
    draw: st.DrawFn,
    limits: Limits = Limits(),
    losses: Sequence[str] | None = None,
    layers: Sequence[str] | None = None,
    min_blocks: int = 0,
) -> SpecDict:
    """A spec v1 dict for a random DAG (see the module docstring): ``limits`` bounds its size,
    ``losses`` and ``layers`` (default: every registered one) its choices."""
    shape = DagShape(
        min_blocks=min_blocks,
        max_blocks=limits.max_blocks,
        max_width=limits.max_width,
        max_inputs=limits.max_inputs,
        **({} if losses is None else {"losses": tuple(losses)}),
        **({} if layers is None else {"layers": tuple(layers)}),
    )
    return random_dag(HypothesisDraws(draw), shape)


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
