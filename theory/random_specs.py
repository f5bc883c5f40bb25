"""Small random spec-v1 DAGs with skip connections, and parameters and data that fit them.

Every choice goes through a :class:`Chooser`, so the same generator serves a seeded run
(:class:`RngChooser`, for ``python -m descentcheck.theory``) and Hypothesis
(a chooser that draws from ``data``, in the tests, so failures shrink and replay).

Shape of a generated spec: 1-3 inputs; 2-``max_steps`` construction steps, each one of

* a dense, gaussian or gaussian_logits layer (radius per connection or per unit) on any earlier
  node, or an activation (sigmoid, tanh, softplus, relu, identity) on one;
* a residual skip: a dense layer on any earlier node, added to another earlier node of the
  layer's width (``add``);
* a concat of two earlier nodes (possibly the same node twice);

then an output layer, dense or gaussian_logits, on the concat of every node that nothing reads
yet (so all nodes feed the output, as the spec requires). Loss: mse or softmax_cross_entropy.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

Array = np.ndarray
ACTIVATIONS = ("sigmoid", "tanh", "softplus", "relu", "identity")
LAYERS = ("dense", "gaussian", "gaussian_logits")
RADII = ("per_connection", "per_unit")
LOSSES = ("mse", "softmax_cross_entropy")


class Chooser(Protocol):
    def integer(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi] (both included)."""
        ...

    def real(self, lo: float, hi: float) -> float:
        """A float in [lo, hi]."""
        ...


class RngChooser:
    """Choices from a seeded ``numpy.random.Generator``."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def integer(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def real(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))


def random_spec(choose: Chooser, max_steps: int = 5) -> dict[str, Any]:
    """A random spec dict (see the module docstring)."""
    n_in = choose.integer(1, 3)
    width: dict[str, int] = {"input": n_in}
    names: list[str] = ["input"]
    unread: set[str] = set()
    nodes: list[dict[str, Any]] = []

    def pick() -> str:
        return names[choose.integer(0, len(names) - 1)]

    def add(node: dict[str, Any], w: int) -> str:
        node["name"] = f"n{len(nodes)}"
        nodes.append(node)
        for p in node["inputs"]:
            unread.discard(p)
        names.append(node["name"])
        unread.add(node["name"])
        width[node["name"]] = w
        return node["name"]

    def layer(parent: str, units: int) -> str:
        op = LAYERS[choose.integer(0, len(LAYERS) - 1)]
        node: dict[str, Any] = {"op": op, "units": units, "inputs": [parent]}
        if op != "dense":
            node["radius"] = RADII[choose.integer(0, 1)]
        return add(node, units)

    for _ in range(choose.integer(2, max_steps)):
        kind = choose.integer(0, 3)
        if kind == 0:
            layer(pick(), choose.integer(1, 4))
        elif kind == 1:
            act = ACTIVATIONS[choose.integer(0, len(ACTIVATIONS) - 1)]
            p = pick()
            add({"op": act, "inputs": [p]}, width[p])
        elif kind == 2:
            target = pick()
            h = add({"op": "dense", "units": width[target], "inputs": [pick()]}, width[target])
            add({"op": "add", "inputs": [h, target]}, width[target])
        else:
            a, b = pick(), pick()
            add({"op": "concat", "inputs": [a, b]}, width[a] + width[b])
    loss = LOSSES[choose.integer(0, 1)]
    leaves = [n for n in names if n in unread]
    if len(leaves) > 1:
        top = add({"op": "concat", "inputs": leaves}, sum(width[n] for n in leaves))
    else:
        top = leaves[0]
    out_units = choose.integer(2 if loss == "softmax_cross_entropy" else 1, 3)
    out_op = ("dense", "gaussian_logits")[choose.integer(0, 1)]
    node: dict[str, Any] = {"op": out_op, "units": out_units, "inputs": [top]}
    if out_op == "gaussian_logits":
        node["radius"] = RADII[choose.integer(0, 1)]
    out = add(node, out_units)
    return {"inputs": n_in, "output": out, "loss": loss, "nodes": nodes}


# value ranges: keep every Gaussian exponent and activation in a range where float64 holds the
# result without underflow, so relative errors mean something
RANGES = {
    "W": (-1.0, 1.0),
    "b": (-0.5, 0.5),
    "centroids": (-1.0, 1.0),
    "radii": (0.3, 1.2),
    "x": (-1.5, 1.5),
}


def random_params(choose: Chooser, param_shapes: dict[str, tuple[int, ...]]) -> dict[str, Array]:
    """Parameters drawn from :data:`RANGES` (radii get a random sign too)."""
    out: dict[str, Array] = {}
    for key, shape in param_shapes.items():
        kind = key.rsplit(".", 1)[1]
        lo, hi = RANGES[kind]
        vals = [choose.real(lo, hi) for _ in range(int(np.prod(shape)))]
        if kind == "radii":
            vals = [v if choose.integer(0, 1) else -v for v in vals]
        out[key] = np.array(vals, dtype=np.float64).reshape(shape)
    return out


def random_data(
    choose: Chooser, spec: dict[str, Any], out_width: int, n: int
) -> tuple[Array, Array]:
    """Inputs in :data:`RANGES` and targets: reals in [-1, 1] for mse, probability rows
    (normalised positive draws) for softmax cross-entropy."""
    lo, hi = RANGES["x"]
    x = np.array([[choose.real(lo, hi) for _ in range(spec["inputs"])] for _ in range(n)])
    if spec["loss"] == "mse":
        y = np.array([[choose.real(-1.0, 1.0) for _ in range(out_width)] for _ in range(n)])
    else:
        y = np.array([[choose.real(0.05, 1.0) for _ in range(out_width)] for _ in range(n)])
        y = y / y.sum(axis=1, keepdims=True)
    return x, y
