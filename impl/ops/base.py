"""The layer protocol every op follows.

A layer is built once per spec node. ``forward`` maps the node's input arrays to its output and a
cache; ``backward`` takes the cache and dE/d(output) and returns the two kinds of derivatives the
tutorial distinguishes: dE/d(inputs), passed back to the parents, and dE/d(parameters), kept as the
gradient. Forward rules only use operations that are analytic for complex arguments (no ``abs``,
masks on the real part), so the complex-step oracle in :mod:`descentcheck.impl.gradcheck` can
differentiate whole networks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

Array = np.ndarray


@dataclass
class Layer:
    """One node of the DAG: its name, input names, output width and parameter shapes."""

    name: str
    inputs: tuple[str, ...]
    in_widths: tuple[int, ...]
    out_width: int
    param_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def key(self, param: str) -> str:
        """The parameter's name in a params dict: ``NODE.PARAM``."""
        return f"{self.name}.{param}"

    def forward(self, params: dict[str, Array], xs: list[Array]) -> tuple[Array, Any]:
        raise NotImplementedError

    def backward(
        self, params: dict[str, Array], cache: Any, gy: Array
    ) -> tuple[list[Array], dict[str, Array]]:
        raise NotImplementedError

    def init(self, rng: np.random.Generator, xs: list[Array] | None) -> dict[str, Array]:
        """Initial parameters; ``xs`` are the node's inputs on the training data, when known."""
        return {}
