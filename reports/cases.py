"""Random small DAG problems from a seeded numpy generator, for the report's descent-region study.

The property tests draw their cases through Hypothesis (so failures shrink); a report wants
something else: many cases, the same ones for the same seed, no shrinking. This generator makes
the same family as ``descentcheck.properties.strategies.dag_specs``: a sequence of blocks, each
reading its predecessor and, with probability ``skip_p``, earlier blocks too (skip connections,
merged by ``add`` when widths agree or ``concat``); each block a dense or distance layer with a
smooth activation (tanh, sigmoid, softplus, identity; a gaussian layer is its own nonlinearity);
unread blocks merged into the output layer; mse or softmax cross-entropy. Data: x uniform on
[-2, 2], targets uniform on [-1, 1] (mse) or random labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

ACTIVATIONS = ("tanh", "sigmoid", "softplus", "identity")
LAYERS = ("dense", "dense", "gaussian", "gaussian_logits")  # dense twice as often
RADII = ("per_connection", "per_unit")


@dataclass(frozen=True)
class CaseLimits:
    max_blocks: int = 4
    max_width: int = 4
    max_inputs: int = 3
    min_rows: int = 4
    max_rows: int = 12
    skip_p: float = 0.4


def _merge(
    rng: np.random.Generator, nodes: list[dict[str, Any]], name: str, parents: list[tuple[str, int]]
) -> tuple[str, int]:
    if len(parents) == 1:
        return parents[0]
    widths = {w for _, w in parents}
    op = "add" if len(widths) == 1 and rng.random() < 0.5 else "concat"
    nodes.append({"name": name, "op": op, "inputs": [p for p, _ in parents]})
    return name, (parents[0][1] if op == "add" else sum(w for _, w in parents))


def random_spec(rng: np.random.Generator, limits: CaseLimits = CaseLimits()) -> dict[str, Any]:
    """A spec v1 dict for a random DAG with skip connections (see the module docstring)."""
    n_in = int(rng.integers(1, limits.max_inputs + 1))
    loss = "mse" if rng.random() < 0.5 else "softmax_cross_entropy"
    n_blocks = int(rng.integers(1, limits.max_blocks + 1))
    width = int(rng.integers(2, limits.max_width + 1))
    nodes: list[dict[str, Any]] = []
    blocks: list[tuple[str, int]] = [("input", n_in)]
    read = [False]
    for i in range(1, n_blocks + 1):
        parents = [i - 1] + [j for j in range(i - 1) if rng.random() < limits.skip_p]
        src, _ = _merge(rng, nodes, f"m{i}", [blocks[j] for j in parents])
        for j in parents:
            read[j] = True
        op = str(rng.choice(LAYERS))
        layer: dict[str, Any] = {"name": f"h{i}", "op": op, "units": width, "inputs": [src]}
        if op != "dense":
            layer["radius"] = str(rng.choice(RADII))
        nodes.append(layer)
        last = layer["name"]
        if op != "gaussian":
            nodes.append({"name": f"a{i}", "op": str(rng.choice(ACTIVATIONS)), "inputs": [last]})
            last = f"a{i}"
        blocks.append((last, width))
        read.append(False)
    sinks = [blocks[j] for j in range(len(blocks)) if not read[j]]
    src, _ = _merge(rng, nodes, "mo", sinks)
    if loss == "mse":
        m, head = int(rng.integers(1, 3)), "dense"
    else:
        m = int(rng.integers(2, 4))
        head = "dense" if rng.random() < 0.6 else "gaussian_logits"
    out: dict[str, Any] = {"name": "out", "op": head, "units": m, "inputs": [src]}
    if head == "gaussian_logits":
        out["radius"] = str(rng.choice(RADII))
    nodes.append(out)
    return {"inputs": n_in, "output": "out", "loss": loss, "nodes": nodes}


def random_data(
    rng: np.random.Generator, spec: dict[str, Any], limits: CaseLimits = CaseLimits()
) -> tuple[np.ndarray, np.ndarray]:
    """x (n, inputs) uniform on [-2, 2]; y uniform on [-1, 1] (mse) or int labels."""
    from descentcheck.impl.spec import load_spec

    s = load_spec(spec)
    n = int(rng.integers(limits.min_rows, limits.max_rows + 1))
    x = rng.uniform(-2.0, 2.0, size=(n, s.inputs))
    m = s.out_width
    if s.loss == "mse":
        y = rng.uniform(-1.0, 1.0, size=(n, m))
    else:
        y = rng.integers(0, m, size=n).astype(np.int64)
    return x, y


def skip_edges(spec: dict[str, Any]) -> int:
    """Extra paths opened by merges: the sum over add/concat nodes of (inputs - 1)."""
    return sum(len(n["inputs"]) - 1 for n in spec["nodes"] if n["op"] in ("add", "concat"))
