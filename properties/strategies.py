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

import copy
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from descentcheck.impl.network import Network
from descentcheck.impl.random_dag import DagShape, HypothesisDraws, random_dag
from descentcheck.impl.spec import parse_spec
from descentcheck.registry import ops as registry
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
    shape_options: Mapping[str, Any] | None = None,
) -> SpecDict:
    """A spec v1 dict for a random DAG (see the module docstring): ``limits`` bounds its size,
    ``losses`` and ``layers`` (default: every registered one) its choices; ``shape_options``
    (e.g. :data:`KNOTTY`) are further :class:`DagShape` fields, and two keys of their own: with
    probability ``add_repeats`` each ``concat(a, a)`` that feeds a layer becomes ``add(a, a)``;
    with probability ``tap_add`` the output layer also reads one add (:func:`_tap_an_add`)."""
    options = dict(shape_options or {})
    add_repeats = float(options.pop("add_repeats", 0.0))
    tap_add = float(options.pop("tap_add", 0.0))
    third_input = float(options.pop("third_input", 0.0))
    shape = DagShape(
        min_blocks=options.pop("min_blocks", min_blocks),
        max_blocks=limits.max_blocks,
        max_width=limits.max_width,
        max_inputs=limits.max_inputs,
        **({} if losses is None else {"losses": tuple(losses)}),
        **({} if layers is None else {"layers": tuple(layers)}),
        **options,
    )
    draws = HypothesisDraws(draw)
    spec = random_dag(draws, shape)
    if add_repeats:
        spec = _repeats_as_adds(draws, spec, add_repeats)
    if tap_add:
        spec = _tap_an_add(draws, spec, tap_add)
    if third_input:
        spec = _a_third_input(draws, spec, third_input)
    return spec


#: :class:`DagShape` options for DAGs whose merges are knotty: the width shared with the input
#: half the time (so skips from the input can be added), skips at 2/3, ``add`` drawn twice as
#: often as ``concat`` where widths allow, a parent read twice (``concat(a, a)``, half of those
#: turned into ``add(a, a)``) and bare activations after a merge a quarter of the time each,
#: an add's value read by the output layer too half the time, a two-input add given a third
#: input half the time, at least three blocks, every
#: layer of the shared width. Three-input adds, fan-out
#: and repeated parents are what backprop's summing over consumers gets wrong; the default shape
#: draws them rarely (a three-input add in 31 of 2000 seeded DAGs).
KNOTTY: dict[str, Any] = {
    "min_blocks": 3,
    "input_width": 3 / 4,
    "own_width": 0.0,
    "skip": 3 / 4,
    "merges": ("add", "add", "concat"),
    "repeat_input": 1 / 2,
    "bare_activation": 1 / 4,
    "add_repeats": 1 / 2,
    "tap_add": 1 / 2,
    "third_input": 1 / 2,
}


def _repeats_as_adds(draws: HypothesisDraws, spec: SpecDict, p: float) -> SpecDict:
    """``spec`` with each ``concat(a, a)`` read by a parametric layer turned into ``add(a, a)``
    with probability ``p`` (a layer takes any input width; a bare activation's width is its
    block's, which later adds rely on, so those are kept)."""
    readers = {i: n for n in spec["nodes"] for i in n["inputs"]}
    parametric = registry.names("parametric")
    for node in spec["nodes"]:
        ins = node["inputs"]
        if node["op"] != "concat" or len(ins) != 2 or ins[0] != ins[1]:
            continue
        if readers[node["name"]]["op"] in parametric:
            if draws.booleans(p, label=f"add repeat {node['name']}"):
                node["op"] = "add"
    return spec


def whatever_the_op() -> dict[str, Any]:
    """Shape options for claims that train or compare runs and so must hold whatever the op: the
    default shape's smooth activations and relu, listed twice so it draws twice as often (only the
    descent claims need smooth ones; relu had drawn in no training claim, and maps a NaN input to
    0), then any installed activation declared ``smooth=False`` (outside the theorem, so no other
    claim draws it), and the losses with any installed one declared ``smooth=False`` (none
    installed, the options are the built-ins' alone, so the ledger's draws do not change). Read
    when a case is drawn, as :class:`DagShape` reads the registry: a plugin module that imports
    this one is not loaded again while it is half imported."""
    smooth = registry.smooth_names("elementwise")
    kinked = tuple(n for n in registry.names("elementwise") if n not in smooth and n != "relu")
    options: dict[str, Any] = {"activations": (*smooth, "relu", "relu", *kinked)}
    smooth_losses = registry.smooth_names("loss")
    if kinked_losses := tuple(n for n in registry.names("loss") if n not in smooth_losses):
        options["losses"] = (*smooth_losses, *kinked_losses)
    return options


#: the counters :func:`knots` returns
KNOT_KEYS: tuple[str, ...] = (
    "cases_with_add_of_3_or_more",
    "cases_with_fan_out",
    "cases_with_add_read_by_several",
    "cases_with_concat_a_a",
    "cases_with_add_a_a",
    "cases_with_one_input_concat",
    "cases_with_soft_targets",
    "cases_cross_entropy",
)


def _tap_an_add(draws: HypothesisDraws, spec: SpecDict, p: float) -> SpecDict:
    """``spec`` where, with probability ``p``, the output layer reads ``concat(its input, A)``
    for an add ``A`` drawn among the others (not the output's own input): so an add's value is
    read by two nodes, its own block's and the new concat ``mx``. A concat takes any widths and
    the output layer any input width, so the spec stays valid."""
    nodes = spec["nodes"]
    out = next(n for n in nodes if n["name"] == spec["output"])
    adds = [n["name"] for n in nodes if n["op"] == "add" and n["name"] not in out["inputs"]]
    if not adds or not draws.booleans(p, label="tap an add"):
        return spec
    tapped = draws.sampled_from(adds, label="tapped add")
    nodes.insert(
        nodes.index(out), {"name": "mx", "op": "concat", "inputs": [*out["inputs"], tapped]}
    )
    out["inputs"] = ["mx"]
    return spec


def _a_third_input(draws: HypothesisDraws, spec: SpecDict, p: float) -> SpecDict:
    """``spec`` where, with probability ``p``, one two-input add drawn among them also adds a
    third input: an earlier node (or the input) of its width, drawn, which may be one of its
    two (``add(a, b, a)``). The default shape makes three-input adds where three nodes of one
    width happen to be free, which Hypothesis reached in 0 to 18 of 50 cases from seed to seed
    (measured on forward-equals-spec)."""
    adds = [n for n in spec["nodes"] if n["op"] == "add" and len(n["inputs"]) == 2]
    if not adds or not draws.booleans(p, label="a third input"):
        return spec
    node = draws.sampled_from(adds, label="add with a third input")
    widths = parse_spec(spec).widths
    earlier = ["input", *(n["name"] for n in spec["nodes"][: spec["nodes"].index(node)])]
    same = [m for m in earlier if widths[m] == widths[node["name"]]]
    node["inputs"].append(draws.sampled_from(same, label="third input"))
    return spec


def with_a_lone_concat(spec: SpecDict) -> SpecDict:
    """``spec`` (a copy) where the output layer reads ``concat(x)`` of its one input ``x``: a
    concat of one input (its arity allows it; the shape draws none). Widths are unchanged, so
    the case's data and parameters still fit."""
    spec = copy.deepcopy(spec)
    nodes = spec["nodes"]
    out = next(n for n in nodes if n["name"] == spec["output"])
    if len(out["inputs"]) != 1:
        return spec
    nodes.insert(
        nodes.index(out), {"name": "lone_cat", "op": "concat", "inputs": list(out["inputs"])}
    )
    out["inputs"] = ["lone_cat"]
    return spec


def sometimes_a_lone_concat(draw: st.DrawFn, case: Case) -> Case:
    """``case``, or the same case whose output layer reads a concat of its one input
    (:func:`with_a_lone_concat`): drawn after the case, so the case's own draws are unchanged,
    nominally a quarter of the time; Hypothesis's first cases favour the 0 that asks for it: 7 to
    27 of 50 cases had one in the forward, gradient and loss claims' ledgers at the fast profile's
    seeds 0-4. No DAG shape draws a one-input concat, and a concat that read its second input
    passed every claim without it (the full mutation run)."""
    if draw(st.integers(0, 3), label="a one-input concat") != 0:
        return case
    spec = with_a_lone_concat(case.spec)
    return replace(case, spec=spec, net=Network.from_spec(spec))


def knots(spec: SpecDict, y: Array) -> dict[str, float]:
    """Which knotty features a case has, as 0/1 counts for a claim's ledger: an add of three or
    more inputs, a value read by several nodes (fan-out), an add whose value (directly or after
    one elementwise op) is read by several nodes, a parent read twice by ``concat`` / ``add``,
    general cross-entropy target rows ((n, m) floats, not labels), and a cross-entropy loss (the
    rows' share's denominator)."""
    consumers: dict[str, int] = {}
    for n in spec["nodes"]:
        for i in set(n["inputs"]):
            consumers[i] = consumers.get(i, 0) + 1
    elementwise = registry.names("elementwise")
    after = {n["inputs"][0]: n["name"] for n in spec["nodes"] if n["op"] in elementwise}
    adds = [n for n in spec["nodes"] if n["op"] == "add"]
    repeated = [n["op"] for n in spec["nodes"] if len(set(n["inputs"])) < len(n["inputs"])]
    xent = spec["loss"] == "softmax_cross_entropy"
    shared_add = any(
        consumers.get(a["name"], 0) > 1 or consumers.get(after.get(a["name"], ""), 0) > 1
        for a in adds
    )
    return {
        "cases_with_add_of_3_or_more": float(any(len(a["inputs"]) >= 3 for a in adds)),
        "cases_with_fan_out": float(any(c > 1 for c in consumers.values())),
        "cases_with_add_read_by_several": float(shared_add),
        "cases_with_concat_a_a": float("concat" in repeated),
        "cases_with_add_a_a": float("add" in repeated),
        "cases_with_one_input_concat": float(
            any(n["op"] == "concat" and len(n["inputs"]) == 1 for n in spec["nodes"])
        ),
        "cases_with_soft_targets": float(xent and np.ndim(y) == 2),
        "cases_cross_entropy": float(xent),
    }


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


@functools.cache  # one object per grid: Hypothesis validates each new strategy at its first draw
def grid_floats(bound: float, resolution: int = 16) -> st.SearchStrategy[float]:
    """Multiples of ``1/resolution`` in [-bound, bound]; shrinks toward 0.

    A grid rather than all floats: values like 1e-155 beside 0 would make the gaussian layers'
    data-driven initialisation (radius = 1/median distance) overflow to inf, and counterexamples
    read better in short decimals."""
    k = int(bound * resolution)
    return st.integers(-k, k).map(lambda v: v / resolution)


@functools.cache  # one strategy object per (dtype, shape, elements), as for grid_floats
def arrays(
    dtype: type, shape: int | tuple[int, ...], elements: st.SearchStrategy
) -> st.SearchStrategy:
    """``hnp.arrays(dtype, shape, elements=elements)``, made once per arguments (``elements``
    should itself be made once, e.g. by :func:`grid_floats`)."""
    return hnp.arrays(dtype, shape, elements=elements)


@st.composite
def datasets(
    draw: st.DrawFn, net: Network, limits: Limits = Limits(), soft_targets: bool = False
) -> tuple[Array, Array]:
    """Small data for ``net``, drawn with ``hypothesis.extra.numpy``: x (n, inputs) on the 1/16
    grid of [-b, b]; y (n, m) on the grid of [-1, 1] for a loss taking values (mse, a plugin's
    ``targets="values"``), int labels in [0, m) for one taking labels (cross-entropy, a
    plugin's by default); with ``soft_targets``, half of those get general (n, m) rows
    instead (:func:`soft_target_rows`)."""
    from descentcheck.impl.losses import target_form

    values = target_form(net.spec.loss) == "values"
    xent = not values
    # three in four drawn, about half realised: Hypothesis's first cases favour the simplest
    # choice (labels), measured in the forward and gradient claims' ledgers
    soft = xent and soft_targets and draw(st.integers(0, 3), label="soft targets") > 0
    n = draw(st.integers(limits.min_rows, limits.max_rows), label="rows")
    d, m = net.spec.inputs, net.spec.out_width
    x = draw(arrays(np.float64, (n, d), grid_floats(limits.data_bound)), label="x")
    if values:
        y = draw(arrays(np.float64, (n, m), grid_floats(1.0)), label="y")
    elif soft:
        y = draw(soft_target_rows(n, m), label="target rows")
    else:
        y = draw(arrays(np.int64, (n,), st.integers(0, m - 1)), label="labels")
    return x, y


def soft_target_rows(n: int, m: int) -> st.SearchStrategy[Array]:
    """(n, m) cross-entropy targets beyond one-hot rows: entries on the 1/4 grid of [0, 2], so a
    row may sum to anything in [0, 2m] (the loss's general form, ``Network.check_targets``: "one-hot
    or any distribution"; ``impl.losses``: ``dE/dyhat = (softmax * sum_m y_m - y) / n``)."""
    return arrays(np.float64, (n, m), _QUARTERS)


_QUARTERS = st.integers(0, 8).map(lambda v: v / 4)


@st.composite
def cases(
    draw: st.DrawFn, limits: Limits = Limits(), soft_targets: bool = False, **spec_kwargs: Any
) -> Case:
    """A spec from :func:`dag_specs`, data from :func:`datasets`, params from a drawn seed."""
    spec = draw(dag_specs(limits, **spec_kwargs), label="spec")
    return case_of(draw, spec, limits, soft_targets)


def case_of(
    draw: st.DrawFn, spec: SpecDict, limits: Limits = Limits(), soft_targets: bool = False
) -> Case:
    """The case of a given ``spec``: data from :func:`datasets`, params from a drawn seed."""
    net = Network.from_spec(spec)
    x, y = draw(datasets(net, limits, soft_targets), label="data")
    x, yt = net.check_data(x, y)
    seed = draw(st.integers(0, 2**32 - 1), label="param seed")
    return Case(spec, net, x, np.asarray(y), yt, net.init(seed=seed, x=x), seed)


def fractions(low: float, high: float) -> st.SearchStrategy[float]:
    """A number in [low, high] (a hyperparameter as a fraction of a theory bound)."""
    return st.floats(low, high, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def typed(low: float, high: float, *values: float) -> st.SearchStrategy[float]:
    """A number in [low, high], or one of ``values``: the round settings users type (the
    range's end among them). ``st.floats`` alone drew no end of a range in 400 ci cases of the
    drawn-state claim, and a check special-casing ``tau == 1.0`` survived a mutation run."""
    return st.one_of(st.sampled_from(values), fractions(low, high))


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
