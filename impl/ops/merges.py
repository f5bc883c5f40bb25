"""Merges, the skip connections of a DAG.

``add``: ``y = x_1 + ... + x_m`` (equal widths); ``dE/dx_k = gy`` for every k.
``concat``: ``y = [x_1, ..., x_m]`` along features in the listed order; ``dE/dx_k`` is the slice
of ``gy`` that ``x_k`` filled. A parent listed twice receives both contributions (the network sums
gradients per parent).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..backend import namespace
from .base import Array, Layer, iadd


class Add(Layer):
    def forward(self, params: dict[str, Array], xs: list[Array]) -> tuple[Array, None]:
        y = xs[0] + xs[1]
        for x in xs[2:]:
            y = iadd(y, x)
        return y, None

    def backward(
        self, params: dict[str, Array], cache: None, gy: Array
    ) -> tuple[list[Array | None], dict[str, Array]]:
        return [gy] * len(self.inputs), {}


class Concat(Layer):
    def __post_init__(self) -> None:
        super().__post_init__()
        bounds = np.cumsum((0, *self.in_widths)).tolist()
        self._slices = [slice(a, b) for a, b in itertools.pairwise(bounds)]

    def forward(self, params: dict[str, Array], xs: list[Array]) -> tuple[Array, None]:
        return namespace(xs[0]).concatenate(xs, axis=1), None

    def backward(
        self, params: dict[str, Array], cache: None, gy: Array
    ) -> tuple[list[Array | None], dict[str, Array]]:
        return [gy[:, s] for s in self._slices], {}


def make_add(
    name: str, inputs: tuple[str, ...], in_widths: tuple[int, ...], node: Mapping[str, Any]
) -> Add:
    return Add(name, inputs, in_widths, in_widths[0])


def make_concat(
    name: str, inputs: tuple[str, ...], in_widths: tuple[int, ...], node: Mapping[str, Any]
) -> Concat:
    return Concat(name, inputs, in_widths, int(sum(in_widths)))
