"""The losses by name, the plugins' included, and a plugin's loss as the trainer's loss object.

:class:`RegisteredLosses` (``impl.losses.LOSSES``) reads the op registry at every lookup: a
built-in loss is ``impl.losses``' own object, a plugin's a :class:`PluginLossFn`, whose ``E`` and
``dE/dyhat`` come from the plugin's ``numpy_value_and_grad``, or its per-sample SymPy loss
lambdified and averaged over the rows (see :mod:`descentcheck.registry.op_plugins`); its
``__call__`` gives the same value as ``value_and_grad``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

Array = np.ndarray


class PluginLossFn:
    """The loss interface :class:`~descentcheck.impl.network.Network` uses, for a plugin."""

    def __init__(self, plugin: Any) -> None:
        self.plugin = plugin
        self.name = plugin.name

    def __call__(self, yhat: Array, y: Array) -> float:
        return self.plugin.value_and_grad(yhat, y)[0]

    def prepare(self, width: int) -> None:
        """Build the rules for output width ``width`` before any step (``Network`` calls it)."""
        self.plugin.prepare(width)

    def value_and_grad(self, yhat: Array, y: Array) -> tuple[float, Array]:
        return self.plugin.value_and_grad(yhat, y)


class RegisteredLosses(Mapping[str, Any]):
    """Every loss of the op registry by name: ``builtin[name]``, or the plugin's."""

    def __init__(self, builtin: Mapping[str, Any]) -> None:
        self.builtin = builtin

    def __getitem__(self, name: str) -> Any:
        from descentcheck.registry import ops as registry

        info = registry.get(name)
        if info is None or info.kind != "loss":
            raise KeyError(name)
        if info.plugin is not None:
            return PluginLossFn(info.plugin)
        return self.builtin[name]

    def __iter__(self) -> Iterator[str]:
        from descentcheck.registry import ops as registry

        return (n for n in registry.loss_names() if n in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)
