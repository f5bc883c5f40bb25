"""The layer protocol every op follows.

A layer is built once per spec node. ``forward`` maps the node's input arrays to its output and a
cache; ``backward`` takes the cache and dE/d(output) and returns the two kinds of derivatives the
tutorial distinguishes: dE/d(inputs), passed back to the parents, and dE/d(parameters), kept as the
gradient. Forward rules only use operations that are analytic for complex arguments (no ``abs``,
masks on the real part), so the complex-step oracle in :mod:`descentcheck.impl.gradcheck` can
differentiate whole networks.

Two attributes serve speed only:

* ``keys`` maps each short parameter name to its ``NODE.PARAM`` key, built once (the key strings
  are not formatted again at every call);
* ``input_grads``: when False, ``backward`` may return ``None`` in place of dE/d(inputs). A
  :class:`~descentcheck.impl.network.Network` sets it for layers that read only the network input,
  whose input gradient nobody uses; a layer built on its own always computes it.
* ``writes_grads``: True for a layer whose ``backward`` takes ``out``, a dict of real float64
  arrays keyed like ``params`` (C-ordered views of the trainer's flat gradient vector), and
  writes each dE/d(parameter) into its array there, with the bits it would have returned; the
  trainer then has nothing to gather. It may still return an array of its own (a complex one
  under the complex-step oracle, say): the trainer copies whatever is not its view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

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
    writes_grads: ClassVar[bool] = False

    def __post_init__(self) -> None:
        # each parameter's name in a params dict: ``NODE.PARAM``
        self.keys: dict[str, str] = {p: f"{self.name}.{p}" for p in self.param_shapes}
        self.input_grads: bool = True

    def forward(self, params: dict[str, Array], xs: list[Array]) -> tuple[Array, Any]:
        raise NotImplementedError

    def backward(
        self, params: dict[str, Array], cache: Any, gy: Array
    ) -> tuple[list[Array | None], dict[str, Array]]:
        raise NotImplementedError

    def init(self, rng: np.random.Generator, xs: list[Array] | None) -> dict[str, Array]:
        """Initial parameters; ``xs`` are the node's inputs on the training data, when known."""
        return {}


def same_kind(out: Array, other: Array) -> bool:
    """True when ``other`` can be combined into ``out`` in place (``out=`` keeps ``out``'s dtype:
    a complex ``other`` cannot be written into a real ``out``)."""
    return out.dtype.kind == "c" or other.dtype.kind != "c"


# iadd, isub and imul test same_kind's condition inline: small DAGs call them a dozen times a
# step, and the extra call was a third of their cost


def iadd(out: Array, other: Array) -> Array:
    """``out + other``, written into ``out`` (a fresh temporary of the caller) when possible."""
    if out.dtype.kind == "c" or other.dtype.kind != "c":
        out += other
        return out
    return out + other


def isub(out: Array, other: Array) -> Array:
    """``out - other``, written into ``out`` when possible."""
    if out.dtype.kind == "c" or other.dtype.kind != "c":
        out -= other
        return out
    return out - other


def imul(out: Array, other: Array) -> Array:
    """``out * other``, written into ``out`` when possible."""
    if out.dtype.kind == "c" or other.dtype.kind != "c":
        out *= other
        return out
    return out * other
