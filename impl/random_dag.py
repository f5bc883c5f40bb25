"""Random spec-v1 DAGs with skip connections: one generator for Hypothesis and for seeded draws.

Every choice goes through a small draw interface, :class:`Draws` (``integers``, ``floats``,
``sampled_from``, ``booleans``), with two adapters: :class:`HypothesisDraws` over the ``draw`` of
``hypothesis.strategies.composite`` (failures shrink, the example database replays them) and
:class:`SeededDraws` over a ``numpy.random.Generator`` (the same DAGs for the same seed). The
property tests (``properties.strategies``), theory's numeric checks (``theory.random_specs``),
the sweep (``properties.sweep.expand``) and the report's cases (``reports.cases``) all draw
through :func:`random_dag`; each picks its family with a :class:`DagShape`.

Architecture. A network is a sequence of *blocks* ``b1..bB`` after the input ``b0``; each block
picks a nonempty set of parents among the earlier ones: the chain edge ``b_{i-1} -> b_i`` plus
each skip edge ``b_j -> b_i`` (j < i-1) with probability ``skip``, and drops the chain edge with
probability ``drop_chain`` when it has a skip edge. So the graph is acyclic by construction, and
since a skip edge and a dropped chain edge both shrink to "absent" (every boolean shrinks to
False), every DAG shrinks toward a chain, and the chain toward fewer blocks. A block is::

    [merge: add | concat of its parents]  ->  LAYER  ->  [activation]     or
    [merge: add | concat of its parents]  ->  activation                  (``bare_activation``)

``add`` needs equal widths, so one network-wide width is drawn (the input's, with probability
``input_width``) and a layer keeps it unless it draws its own (``own_width``). With probability
``repeat_input`` a block with one parent reads it twice (``concat(a, a)``). ``gaussian`` is a
bounded nonlinearity already and gets no activation. Blocks nobody reads (the sinks) are merged
into the output layer, so every node feeds the output: a head from ``mse_heads`` with
1..``max_mse_outputs`` outputs, or for a loss that needs two or more outputs (cross-entropy) one
from ``xent_heads`` with 2..``max_classes`` classes. ``merges`` may list a merge twice to draw it
twice as often; one that takes any widths (``concat``) must be among them.

Names come from the op registry (:mod:`descentcheck.registry.ops`): layers are its parametric
ops (each key with choices, as ``radius``, drawn from them), activations its elementwise ones
(smooth ones by default), merges its merge ops (by their width rule: ``equal`` as ``add``, ``sum``
as ``concat``), losses its losses (smooth ones by default; the least output width of each picks
the head).

A draw that does not apply (a probability of 0, one option) consumes nothing, so a shape's
unused options leave the other shapes' draw sequences unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol, TypeVar

import numpy as np

from descentcheck.registry import ops as registry

T = TypeVar("T")
SpecDict = dict[str, Any]

#: layers that are a bounded nonlinearity themselves, so no activation follows them
SELF_ACTIVATED = ("gaussian",)
#: boolean probabilities are fractions with a denominator at most this (one small integer draw)
MAX_DENOMINATOR = 20


class Draws(Protocol):
    """The choices a generator makes. ``label`` names the choice for Hypothesis's reports."""

    def integers(self, lo: int, hi: int, label: str = "") -> int:
        """An integer in [lo, hi], both included; shrinks toward ``lo``."""
        ...

    def floats(self, lo: float, hi: float, label: str = "") -> float:
        """A finite float in [lo, hi]."""
        ...

    def sampled_from(self, options: Sequence[T], label: str = "") -> T:
        """One of ``options``; shrinks toward the first. One option draws nothing."""
        ...

    def booleans(self, p: float = 0.5, label: str = "") -> bool:
        """True with probability ``p``; shrinks to False. p = 0 or 1 draws nothing."""
        ...


def _as_fraction(p: float) -> tuple[int, int]:
    """``p`` as ``num/den`` with ``den <= MAX_DENOMINATOR`` (0.4 -> 2/5, 0.25 -> 1/4).

    Both adapters draw a boolean as one integer ``v`` in [0, den) and return ``v >= den - num``:
    true with probability num/den, and shrinking (v -> 0) to False."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"a probability must lie in [0, 1], got {p}")
    f = Fraction(p).limit_denominator(MAX_DENOMINATOR)
    return f.numerator, f.denominator


class SeededDraws:
    """Choices from ``numpy.random.default_rng(seed)`` (an int, a list of ints as numpy's
    ``SeedSequence`` takes them, or a ``Generator`` to draw from)."""

    def __init__(self, seed: int | Sequence[int] | np.random.Generator) -> None:
        if isinstance(seed, np.random.Generator):
            self.rng = seed
        else:
            self.rng = np.random.default_rng(list(seed) if isinstance(seed, Sequence) else seed)

    def integers(self, lo: int, hi: int, label: str = "") -> int:
        return int(self.rng.integers(lo, hi + 1))

    def floats(self, lo: float, hi: float, label: str = "") -> float:
        return float(self.rng.uniform(lo, hi))

    def sampled_from(self, options: Sequence[T], label: str = "") -> T:
        if len(options) == 1:
            return options[0]
        return options[int(self.rng.integers(0, len(options)))]

    def booleans(self, p: float = 0.5, label: str = "") -> bool:
        num, den = _as_fraction(p)
        if num in (0, den):
            return num == den
        return self.integers(0, den - 1) >= den - num


class HypothesisDraws:
    """Choices drawn by Hypothesis: ``draw`` is ``st.composite``'s (or ``st.data()``'s
    ``.draw``), so every choice shrinks and replays."""

    def __init__(self, draw: Any) -> None:
        self.draw = draw

    def _draw(self, strategy: Any, label: str) -> Any:
        return self.draw(strategy, label=label) if label else self.draw(strategy)

    def integers(self, lo: int, hi: int, label: str = "") -> int:
        from hypothesis import strategies as st

        return self._draw(st.integers(lo, hi), label)

    def floats(self, lo: float, hi: float, label: str = "") -> float:
        from hypothesis import strategies as st

        return self._draw(st.floats(lo, hi, allow_nan=False, allow_infinity=False), label)

    def sampled_from(self, options: Sequence[T], label: str = "") -> T:
        from hypothesis import strategies as st

        return self._draw(st.sampled_from(tuple(options)), label)

    def booleans(self, p: float = 0.5, label: str = "") -> bool:
        from hypothesis import strategies as st

        num, den = _as_fraction(p)
        if num in (0, den):
            return num == den
        # one mapped integer draw (see _as_fraction), labelled as a whole; the strategy is made
        # once per fraction: Hypothesis validates every new strategy object at its first draw
        if (num, den) not in _BOOLEANS:
            _BOOLEANS[num, den] = st.integers(0, den - 1).map(lambda v: v >= den - num)
        return self._draw(_BOOLEANS[num, den], label)


_BOOLEANS: dict[tuple[int, int], Any] = {}


def _names(*kinds: str) -> Any:
    return field(default_factory=lambda: registry.names(*kinds))


def _smooth(*kinds: str) -> Any:
    return field(default_factory=lambda: registry.smooth_names(*kinds))


@dataclass(frozen=True)
class DagShape:
    """Which DAGs :func:`random_dag` draws (see the module docstring). Probabilities are per
    choice; a name listed twice in ``layers`` or ``activations`` is drawn twice as often. The
    op defaults are the op registry's, read when the shape is made (plugins included): every
    parametric op, the smooth activations (the convergence theorem needs bounded phi', phi'')
    and the smooth losses (its L-smooth E: a plugin's L1 loss, declared smooth=False, drawn
    into an a-priori descent claim falsified it)."""

    min_blocks: int = 0
    max_blocks: int = 4
    min_width: int = 1
    max_width: int = 4
    max_inputs: int = 3
    losses: tuple[str, ...] = _smooth("loss")
    layers: tuple[str, ...] = _names("parametric")
    activations: tuple[str, ...] = _smooth("elementwise")
    merges: tuple[str, ...] = _names("merge")
    skip: float = 1 / 2
    drop_chain: float = 1 / 4
    own_width: float = 1 / 4
    input_width: float = 0.0
    bare_activation: float = 0.0
    repeat_input: float = 0.0
    mse_heads: tuple[str, ...] = ("dense",)
    xent_heads: tuple[str, ...] = ("dense", "gaussian_logits")
    max_mse_outputs: int = 2
    max_classes: int = 3

    def __post_init__(self) -> None:
        kinds = {
            "layers": "parametric",
            "activations": "elementwise",
            "losses": "loss",
            "merges": "merge",
            "mse_heads": "parametric",
            "xent_heads": "parametric",
        }
        for name, kind in kinds.items():
            got, known = getattr(self, name), registry.names(kind)
            bad = [x for x in got if x not in known]
            if bad or not got:
                raise ValueError(f"DagShape.{name}: {bad or 'empty'}; known: {', '.join(known)}")
        if not any(_width_rule(m) == "sum" for m in self.merges):
            raise ValueError("DagShape.merges: needs one that takes any widths (concat)")
        if not 0 <= self.min_blocks <= self.max_blocks or self.min_width < 1:
            raise ValueError("DagShape: need 0 <= min_blocks <= max_blocks and min_width >= 1")


@dataclass
class _Graph:
    """The nodes so far and, per block, its output node, width and whether a block reads it."""

    nodes: list[dict[str, Any]] = field(default_factory=list)
    blocks: list[tuple[str, int]] = field(default_factory=list)
    read: list[bool] = field(default_factory=list)

    def add_block(self, name: str, width: int) -> None:
        self.blocks.append((name, width))
        self.read.append(False)


def random_dag(draws: Draws, shape: DagShape | None = None) -> SpecDict:
    """A spec v1 dict for a random DAG of ``shape`` (default :class:`DagShape`; see the module
    docstring)."""
    shape = shape or DagShape()
    n_in = draws.integers(1, shape.max_inputs, label="inputs")
    loss = draws.sampled_from(shape.losses, label="loss")
    n_blocks = draws.integers(shape.min_blocks, shape.max_blocks, label="blocks")
    if shape.min_width <= n_in <= shape.max_width and draws.booleans(shape.input_width):
        width = n_in  # so that skips from the input can be added too
    else:
        width = draws.integers(shape.min_width, shape.max_width, label="width")
    g = _Graph()
    g.add_block("input", n_in)
    for i in range(1, n_blocks + 1):
        _block(draws, shape, g, i, width)
    sinks = [b for b, r in zip(g.blocks, g.read) if not r] or [g.blocks[0]]
    src, _ = _merge(draws, shape, g.nodes, "mo", sinks)
    g.nodes.append(_head(draws, shape, loss, src))
    return {"inputs": n_in, "output": "out", "loss": loss, "nodes": g.nodes}


def _block(draws: Draws, shape: DagShape, g: _Graph, i: int, width: int) -> None:
    """Block ``i``: its parents, their merge, then a layer (and activation) or an activation."""
    skips = [j for j in range(i - 1) if draws.booleans(shape.skip, label=f"skip {j}->{i}")]
    chain = f"drop chain {i - 1}->{i}"
    drop_chain = bool(skips) and draws.booleans(shape.drop_chain, label=chain)
    parents = ([] if drop_chain else [i - 1]) + skips
    src, w = _merge(draws, shape, g.nodes, f"m{i}", [g.blocks[j] for j in parents])
    for j in parents:
        g.read[j] = True
    if draws.booleans(shape.bare_activation, label=f"bare activation {i}"):
        act = draws.sampled_from(shape.activations, label=f"activation {i}")
        g.nodes.append({"name": f"a{i}", "op": act, "inputs": [src]})
        g.add_block(f"a{i}", w)
        return
    own = draws.booleans(shape.own_width, label=f"own width {i}")
    units = draws.integers(shape.min_width, shape.max_width) if own else width
    layer = _layer(draws, shape.layers, f"h{i}", units, src, (f"layer {i}", f"radius {i}"))
    g.nodes.append(layer)
    last = layer["name"]
    if layer["op"] not in SELF_ACTIVATED:
        act = draws.sampled_from(shape.activations, label=f"activation {i}")
        g.nodes.append({"name": f"a{i}", "op": act, "inputs": [last]})
        last = f"a{i}"
    g.add_block(last, units)


def _layer(
    draws: Draws,
    ops: Sequence[str],
    name: str,
    units: int,
    src: str,
    labels: tuple[str, str],
) -> dict[str, Any]:
    """A parametric node ``name`` of ``units`` units on ``src``, its op drawn from ``ops``
    (label ``labels[0]``) and each of its keys with choices (a distance layer's ``radius``)
    from those choices (``labels[1]``); keys with a default are left to it."""
    op = draws.sampled_from(ops, label=labels[0])
    node: dict[str, Any] = {"name": name, "op": op, "units": units, "inputs": [src]}
    for key in registry.get(op).keys:  # type: ignore[union-attr]
        if key.choices:
            node[key.name] = draws.sampled_from(key.choices, label=labels[1])
    return node


def _merge(
    draws: Draws,
    shape: DagShape,
    nodes: list[dict[str, Any]],
    name: str,
    parents: list[tuple[str, int]],
) -> tuple[str, int]:
    """A node's input and its width: the single parent, or a merge over several (one whose
    width rule is ``equal``, as ``add``'s, only when the widths agree)."""
    merges = shape.merges
    if len(parents) == 1 and draws.booleans(shape.repeat_input, label=f"repeat input {name}"):
        parents = [*parents, parents[0]]
        ops = tuple(m for m in merges if _width_rule(m) == "sum")
    elif len(parents) == 1:
        return parents[0]
    else:
        equal = len({w for _, w in parents}) == 1
        ops = tuple(m for m in merges if equal or _width_rule(m) != "equal")
    op = draws.sampled_from(ops, label=f"merge {name}")
    nodes.append({"name": name, "op": op, "inputs": [p for p, _ in parents]})
    widths = [w for _, w in parents]
    return name, sum(widths) if _width_rule(op) == "sum" else widths[0]


def _width_rule(op: str) -> str | None:
    return registry.get(op).width  # type: ignore[union-attr]


def _head(draws: Draws, shape: DagShape, loss: str, src: str) -> dict[str, Any]:
    """The output layer ``out`` on ``src``: 1..max_mse_outputs outputs from ``mse_heads`` for a
    loss that takes one output (mse), else 2..max_classes classes from ``xent_heads``."""
    least = registry.get(loss).min_width  # type: ignore[union-attr]
    if least == 1:
        m = draws.integers(1, shape.max_mse_outputs, label="outputs")
        heads = shape.mse_heads
    else:
        m = draws.integers(least, shape.max_classes, label="classes")
        heads = shape.xent_heads
    return _layer(draws, heads, "out", m, src, ("head", "head radius"))


def skip_edges(spec: SpecDict) -> int:
    """Extra paths opened by merges: the sum over merge nodes of (inputs - 1)."""
    merges = registry.names("merge")
    return sum(len(n["inputs"]) - 1 for n in spec["nodes"] if n["op"] in merges)
