"""The optimizers, by name, as (init, update) pairs over explicit state.

Which optimizers exist, and which hyperparameters each takes, is declared once in
:mod:`descentcheck.registry.optimizers` (built-ins and plugins); this module builds them.
Their names are the registry's (``registry.optimizers.names()``, plugins included).
"""

from __future__ import annotations

from typing import Any

from descentcheck.registry import optimizers as _registry

from .adaptive_momentum import GROUPINGS, adaptive_momentum
from .base import Optimizer, StepInfo, apply_updates
from .gd import gd
from .momentum import momentum, nesterov
from .rmsprop import rmsprop


def get_optimizer(name: str, lr: float | None = None, **hyperparameters: Any) -> Optimizer:
    """Build a registered optimizer by name from ``lr`` and its hyperparameters (None means not
    given); an option it does not take, a missing required one or a value outside its declared
    range is a one-line HyperparameterError, never ignored."""
    return _registry.get(name).make(lr=lr, **hyperparameters)


def __getattr__(name: str) -> Any:
    """``OPTIMIZERS``: the registry's read-only mapping name -> ``OptimizerEntry``, plugins
    included (read at each access, so it is the registry's state, not a copy)."""
    if name == "OPTIMIZERS":
        return _registry.registry()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "GROUPINGS",
    "OPTIMIZERS",
    "Optimizer",
    "StepInfo",
    "adaptive_momentum",
    "apply_updates",
    "gd",
    "get_optimizer",
    "momentum",
    "nesterov",
    "rmsprop",
]
