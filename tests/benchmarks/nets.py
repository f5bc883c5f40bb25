"""The networks the benchmarks train: small DAGs with skip connections and one large net.

Small (batch 24, widths 4-16): the sizes property tests meet, where per-step overhead decides
the speed. Large (batch 512, width 256, a distance layer of 256 units on 256 inputs; also at
widths 128, 192 and 384; and a plain relu MLP of width 256): where the matrix products should
dominate. Every case has its data and initial parameters fixed by a seed,
so every implementation trains the same net from the same point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

SMALL_BATCH = 24
LARGE_BATCH = 512
LARGE_WIDTH = 256


def _dense(name: str, units: int, *inputs: str) -> dict[str, Any]:
    return {"name": name, "op": "dense", "units": units, "inputs": list(inputs)}


def _act(name: str, op: str, x: str) -> dict[str, Any]:
    return {"name": name, "op": op, "inputs": [x]}


def _gauss(name: str, units: int, x: str, radius: str = "per_connection", logits: bool = False):
    op = "gaussian_logits" if logits else "gaussian"
    return {"name": name, "op": op, "units": units, "radius": radius, "inputs": [x]}


SMALL: dict[str, dict[str, Any]] = {
    # dense/tanh chain of width 8 with two add skips (one add of three inputs)
    "skip_chain_w8": {
        "inputs": 4,
        "output": "out",
        "loss": "mse",
        "nodes": [
            _dense("h1", 8, "input"),
            _act("a1", "tanh", "h1"),
            _dense("h2", 8, "a1"),
            _act("a2", "tanh", "h2"),
            {"name": "s", "op": "add", "inputs": ["a2", "a1"]},
            _dense("h3", 8, "s"),
            _act("a3", "tanh", "h3"),
            {"name": "s2", "op": "add", "inputs": ["a3", "s", "a1"]},
            _dense("out", 2, "s2"),
        ],
    },
    # DESIGN.md's example: dense/tanh, an add skip, a per-connection gaussian layer (width 4-6)
    "design_example": {
        "inputs": 3,
        "output": "out",
        "loss": "mse",
        "nodes": [
            _dense("h1", 6, "input"),
            _act("a1", "tanh", "h1"),
            _dense("h2", 6, "a1"),
            {"name": "s", "op": "add", "inputs": ["h2", "a1"]},
            _gauss("g", 4, "s"),
            _dense("out", 2, "g"),
        ],
    },
    # concat skips (the raw input reaches a deep layer), gaussian per_unit, softplus, sigmoid,
    # a gaussian_logits head into softmax cross-entropy (width 12)
    "concat_distance_w12": {
        "inputs": 6,
        "output": "out",
        "loss": "softmax_cross_entropy",
        "nodes": [
            _dense("h", 12, "input"),
            _act("sp", "softplus", "h"),
            _gauss("g", 12, "sp", radius="per_unit"),
            {"name": "cat", "op": "concat", "inputs": ["g", "input"]},
            _dense("h2", 12, "cat"),
            _act("sg", "sigmoid", "h2"),
            {"name": "s", "op": "add", "inputs": ["sg", "sp"]},
            _gauss("out", 4, "s", logits=True),
        ],
    },
    # width 16: two dense/tanh blocks and a distance block, add and concat skips, cross-entropy
    "mixed_w16": {
        "inputs": 8,
        "output": "out",
        "loss": "softmax_cross_entropy",
        "nodes": [
            _dense("h1", 16, "input"),
            _act("a1", "tanh", "h1"),
            _dense("h2", 16, "a1"),
            _act("a2", "tanh", "h2"),
            {"name": "s", "op": "add", "inputs": ["a2", "a1"]},
            _gauss("g", 16, "s"),
            {"name": "cat", "op": "concat", "inputs": ["g", "a1"]},
            _dense("h3", 16, "cat"),
            _act("a3", "sigmoid", "h3"),
            _dense("out", 5, "a3"),
        ],
    },
}


def _large(w: int) -> dict[str, Any]:
    """Batch 512, width w: dense/tanh with an add skip, a w x w per-connection distance layer, a
    concat skip, sigmoid, and a gaussian_logits head (per-unit radii) into cross-entropy."""
    return {
        "inputs": w,
        "output": "out",
        "loss": "softmax_cross_entropy",
        "nodes": [
            _dense("h1", w, "input"),
            _act("a1", "tanh", "h1"),
            _dense("h2", w, "a1"),
            _act("a2", "tanh", "h2"),
            {"name": "s", "op": "add", "inputs": ["a2", "a1"]},
            _gauss("g", w, "s"),
            {"name": "cat", "op": "concat", "inputs": ["g", "a1"]},
            _dense("h3", w, "cat"),
            _act("a3", "sigmoid", "h3"),
            _gauss("out", 10, "a3", radius="per_unit", logits=True),
        ],
    }


def _relu_mlp(w: int, depth: int = 6) -> dict[str, Any]:
    """Batch 512: ``depth`` dense/relu layers of width w, a dense head into cross-entropy; the
    plain net a user times first, with no distance layer (a held-out net of this shape was 6-36%
    over PyTorch eager until relu's masked select became one pass, tests/benchmarks/SPEED.md)."""
    nodes, prev = [], "input"
    for i in range(1, depth + 1):
        nodes += [_dense(f"h{i}", w, prev), _act(f"a{i}", "relu", f"h{i}")]
        prev = f"a{i}"
    nodes.append(_dense("out", 10, prev))
    return {"inputs": w, "output": "out", "loss": "softmax_cross_entropy", "nodes": nodes}


# the tuned width, and widths around it: the matrix products' share of a step grows with w, and
# a BLAS's speed varies with the shape, so one width alone would hide where a step is slow; and
# a plain relu MLP at the tuned width
LARGE: dict[str, dict[str, Any]] = {f"large_w{w}": _large(w) for w in (LARGE_WIDTH, 128, 192, 384)}
LARGE[f"mlp_relu_w{LARGE_WIDTH}"] = _relu_mlp(LARGE_WIDTH)


@dataclass(frozen=True)
class Problem:
    """A net with its data (targets in the trainer's form) and initial parameters."""

    name: str
    spec: dict[str, Any]
    x: np.ndarray
    y: np.ndarray
    params: dict[str, np.ndarray]


def problem(name: str, seed: int = 0) -> Problem:
    """Data drawn from ``default_rng(seed)``: standard-normal inputs; regression targets a smooth
    function of them, class labels the argmax of a random linear map (one-hot). Parameters from
    descentcheck's own initialisation on that data (every side starts from these arrays)."""
    from descentcheck.impl.network import Network

    spec = {**SMALL, **LARGE}[name]
    n = LARGE_BATCH if name in LARGE else SMALL_BATCH
    net = Network.from_spec(spec)
    rng = np.random.default_rng(seed)
    d, m = net.spec.inputs, net.spec.out_width
    x = rng.standard_normal((n, d))
    A = rng.standard_normal((d, m)) / np.sqrt(d)
    if spec["loss"] == "mse":
        y = np.sin(x @ A) + 0.1 * rng.standard_normal((n, m))
    else:
        y = np.argmax(x @ A, axis=1)
    x, y = net.check_data(x, y)
    return Problem(name, spec, x, y, net.init(seed=seed, x=x))
