"""The five optimizers of the design card, by name, as (init, update) pairs over explicit state."""

from __future__ import annotations

from typing import Any

from ..errors import HyperparameterError
from .adaptive_momentum import GROUPINGS, adaptive_momentum
from .base import Optimizer, StepInfo, apply_updates
from .gd import gd
from .momentum import momentum, nesterov
from .rmsprop import rmsprop

OPTIMIZERS = ("gd", "momentum", "nesterov", "adaptive_momentum", "rmsprop")


def get_optimizer(
    name: str,
    lr: float,
    momentum: float | None = None,
    tau: float | None = None,
    rho: float | None = None,
    eps: float | None = None,
    group: str | None = None,
) -> Optimizer:
    """Build an optimizer by name; an option it does not take is an error, never ignored."""
    given: dict[str, Any] = {
        k: v
        for k, v in {
            "momentum": momentum,
            "tau": tau,
            "rho": rho,
            "eps": eps,
            "group": group,
        }.items()
        if v is not None
    }
    accepts = {
        "gd": set(),
        "momentum": {"momentum"},
        "nesterov": {"momentum"},
        "adaptive_momentum": {"tau", "group"},
        "rmsprop": {"rho", "eps", "momentum"},
    }
    if name not in accepts:
        raise HyperparameterError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")
    extra = sorted(set(given) - accepts[name])
    if extra:
        raise HyperparameterError(f"optimizer {name} takes no {extra[0]!r}")
    if name == "gd":
        return gd(lr)
    if name in ("momentum", "nesterov"):
        if "momentum" not in given:
            raise HyperparameterError(f"optimizer {name} needs a momentum coefficient (--momentum)")
        return (globals()["momentum"] if name == "momentum" else nesterov)(lr, given["momentum"])
    if name == "adaptive_momentum":
        if "tau" not in given:
            raise HyperparameterError("optimizer adaptive_momentum needs tau (--tau)")
        return adaptive_momentum(lr, given["tau"], given.get("group", "array"))
    return rmsprop(lr, **{k: given[k] for k in ("rho", "eps", "momentum") if k in given})


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
