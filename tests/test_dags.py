"""The one random-DAG generator: both adapters give valid specs, the seeded one is deterministic,
every consumer's shape reaches its ops, and a bad shape or probability is a one-line error."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from descentcheck.impl.random_dag import DagShape, HypothesisDraws, SeededDraws, random_dag
from descentcheck.impl.spec import load_spec
from descentcheck.properties.profiles import TEST_PROFILE, hypothesis_settings
from descentcheck.registry import ops as registry
from descentcheck.reports.cases import report_shape
from descentcheck.theory.random_specs import theory_shape

SHAPES = {"default": DagShape, "theory": theory_shape, "report": report_shape}


def _ops(specs: list[dict]) -> set[str]:
    return {n["op"] for s in specs for n in s["nodes"]}


def _reads_a_node_twice(spec: dict) -> bool:
    return any(len(set(n["inputs"])) < len(n["inputs"]) for n in spec["nodes"])


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_hypothesis_adapter_gives_valid_specs(name):
    shape = SHAPES[name]()
    allowed = {*shape.layers, *shape.activations, *shape.merges, *shape.mse_heads}
    allowed |= set(shape.xent_heads)

    @hypothesis_settings(TEST_PROFILE)
    @given(st.data())
    def check(data):
        spec = random_dag(HypothesisDraws(data.draw), shape)
        parsed = load_spec(spec)  # raises on cycles, width mismatches, unread nodes
        assert parsed.loss in shape.losses
        assert {n["op"] for n in spec["nodes"]} <= allowed

    check()


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_seeded_adapter_is_valid_and_deterministic(name):
    shape = SHAPES[name]()
    first = [random_dag(SeededDraws(seed), shape) for seed in range(40)]
    again = [random_dag(SeededDraws(seed), shape) for seed in range(40)]
    assert first == again
    for spec in first:
        load_spec(spec)
    # a list seed (numpy's SeedSequence entropy) and a Generator work too, and are deterministic
    assert random_dag(SeededDraws([3, 1, 0]), shape) == random_dag(SeededDraws([3, 1, 0]), shape)
    a = random_dag(SeededDraws(np.random.default_rng(5)), shape)
    assert a == random_dag(SeededDraws(5), shape)
    # and the seed matters
    assert len({repr(s) for s in first}) > 30


def test_theory_shape_reaches_every_op_skip_and_double_read():
    specs = [random_dag(SeededDraws(seed), theory_shape()) for seed in range(150)]
    assert _ops(specs) == set(registry.layer_names())  # relu and both merges included
    assert sum(_reads_a_node_twice(s) for s in specs) > 10
    bare = [
        n
        for s in specs
        for n in s["nodes"]
        if n["op"] in registry.names("elementwise") and not n["inputs"][0].startswith("h")
    ]
    assert bare, "no activation applied straight to a merge or the input"


def test_default_and_report_shapes_draw_only_smooth_activations():
    smooth = set(registry.smooth_names())
    for shape in (DagShape(), report_shape()):
        specs = [random_dag(SeededDraws(seed), shape) for seed in range(150)]
        ops = _ops(specs)
        assert ops <= smooth and {"add", "concat", "gaussian", "gaussian_logits"} <= ops
        assert not any(_reads_a_node_twice(s) for s in specs)


class ShrinkTarget:
    """Every choice at the value Hypothesis shrinks it to: lo, the first option, False."""

    def integers(self, lo: int, hi: int, label: str = "") -> int:
        return lo

    def floats(self, lo: float, hi: float, label: str = "") -> float:
        return lo

    def sampled_from(self, options, label: str = ""):
        return options[0]

    def booleans(self, p: float = 0.5, label: str = "") -> bool:
        return p == 1.0


def test_the_shrink_target_is_the_simplest_chain():
    """Where every choice shrinks to, the DAG is a chain of the least blocks: one input, mse,
    theory's 2 blocks of a dense layer and the first activation, a one-unit dense head."""
    spec = random_dag(ShrinkTarget(), theory_shape())
    first = registry.names("elementwise")[0]
    assert spec == {
        "inputs": 1,
        "output": "out",
        "loss": "mse",
        "nodes": [
            {"name": "h1", "op": "dense", "units": 1, "inputs": ["input"]},
            {"name": "a1", "op": first, "inputs": ["h1"]},
            {"name": "h2", "op": "dense", "units": 1, "inputs": ["a1"]},
            {"name": "a2", "op": first, "inputs": ["h2"]},
            {"name": "out", "op": "dense", "units": 1, "inputs": ["a2"]},
        ],
    }
    assert random_dag(ShrinkTarget(), DagShape())["nodes"] == [
        {"name": "out", "op": "dense", "units": 1, "inputs": ["input"]}
    ]


def test_seeded_booleans_hold_with_their_probability():
    draws = SeededDraws(0)
    for p in (0.4, 0.25, 0.75):
        share = np.mean([draws.booleans(p) for _ in range(4000)])
        assert share == pytest.approx(p, abs=0.03)
    assert not any(draws.booleans(0.0) for _ in range(50))
    assert all(draws.booleans(1.0) for _ in range(50))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"activations": ("relu6",)}, r"DagShape.activations: \['relu6'\]; known: sigmoid"),
        ({"layers": ()}, "DagShape.layers: empty"),
        ({"merges": ("add",)}, "needs one that takes any widths"),
        ({"min_blocks": 3, "max_blocks": 2}, "min_blocks <= max_blocks"),
        ({"xent_heads": ("tanh",)}, r"DagShape.xent_heads: \['tanh'\]"),
    ],
)
def test_a_bad_shape_is_a_one_line_error(kwargs, message):
    with pytest.raises(ValueError, match=message) as e:
        DagShape(**kwargs)
    assert "\n" not in str(e.value)


def test_a_probability_outside_0_1_is_refused():
    with pytest.raises(ValueError, match=r"a probability must lie in \[0, 1\], got 1.5"):
        SeededDraws(0).booleans(1.5)
