"""A plugin's elementwise activation as a layer: ``y = f(x)``, ``dE/dx = gy * f'(x)``.

``f`` and ``f'`` are the plugin's numpy rules (its own, or its SymPy forward rule lambdified; see
:mod:`descentcheck.registry.op_plugins`). The layer caches the input and calls ``f'`` on it in
backward; both rules see complex arrays under the complex-step oracle.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from ..backend import namespace
from .activations import Elementwise
from .base import Array

if TYPE_CHECKING:
    from . import Factory


@cache
def _layer_class(plugin: Any) -> type[Elementwise]:
    forward, derivative = plugin.numpy_rules

    class PluginActivation(Elementwise):
        fn = staticmethod(forward)

        def derivative(self, x: Array) -> Array:
            d = derivative(x)
            if getattr(d, "shape", None) != x.shape:  # lambdify keeps a constant f' a scalar
                d = d * namespace(x).ones_like(x)
            return d

    PluginActivation.__name__ = f"PluginActivation_{plugin.name}"
    return PluginActivation


def make_plugin_activation(plugin: Any) -> Factory:
    """The layer factory of an elementwise plugin op."""
    cls = _layer_class(plugin)

    def make(
        name: str, inputs: tuple[str, ...], in_widths: tuple[int, ...], node: Mapping[str, Any]
    ) -> Elementwise:
        return cls(name, inputs, in_widths, in_widths[0])

    return make
