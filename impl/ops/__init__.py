"""The ops of architecture spec v1, by name: each a factory ``(name, inputs, in_widths, node)``.

Which ops exist, and their kind, is the op registry's (:mod:`descentcheck.registry.ops`);
:data:`FACTORIES` holds the built-in layers, :mod:`.plugin` builds a plugin's; :func:`factory`
reads the registry at every call (so plugins loaded later are seen). The names of each kind of
op are the registry's (``registry.ops.names("parametric" | "elementwise" | "merge")``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from descentcheck.registry import ops as registry

from .activations import ACTIVATIONS, make_activation, sigmoid, softplus
from .base import Layer
from .dense import make_dense
from .gaussian import make_gaussian, make_gaussian_logits
from .merges import make_add, make_concat

Factory = Callable[[str, tuple[str, ...], tuple[int, ...], Mapping[str, Any]], Layer]

FACTORIES: dict[str, Factory] = {
    "dense": make_dense,
    "gaussian": make_gaussian,
    "gaussian_logits": make_gaussian_logits,
    **{op: make_activation(op) for op in ACTIVATIONS},
    "add": make_add,
    "concat": make_concat,
}


def factory(op: str) -> Factory | None:
    """The layer factory of a registered op: built in, or made from its plugin; else None."""
    if op not in registry.layer_names():  # unknown, or a loss
        return None
    info = registry.get(op)
    if info.plugin is not None:
        from .plugin import make_plugin_activation

        return make_plugin_activation(info.plugin)
    return FACTORIES.get(op)


__all__ = [
    "FACTORIES",
    "Layer",
    "factory",
    "sigmoid",
    "softplus",
]
