"""descentcheck.theory: SymPy derivations, and the checks that the trainer agrees with them.

Import this package freely: it imports SymPy only when a symbolic function is first used (the
CLI's start-up must stay fast), through the lazy exports below.

Public entry points::

    derive_text(op, fmt="latex", dim=3) -> str      # latex | sympy | json | mathml
    derive(op, dim=3) -> Derivation                 # the SymPy objects themselves
    KNOWN_OPS, FORMATS                              # what derive accepts
    DeriveError                                     # ValueError with a one-line message
    run_all() -> list[CheckResult]                  # every proof and check (python -m ...)

Submodules, one idea each: ``units`` (forward rules of one unit), ``derivations`` (gradients),
``render`` (text formats), ``claimed`` (the trainer's backward rules transcribed), ``zero``
(proving an expression is identically zero), ``symbolic_agreement``, ``numeric_agreement``,
``mp_network`` (an independent 50-digit evaluator of a spec), ``random_specs``,
``network_agreement``, ``momentum``, ``descent``, ``assumptions``, ``smoothness``, ``checks``.
"""

from __future__ import annotations

from typing import Any

from .errors import DeriveError

KNOWN_OPS: tuple[str, ...] = (
    "dense",
    "gaussian",
    "gaussian_per_unit",
    "gaussian_logits",
    "gaussian_logits_per_unit",
    "sigmoid",
    "tanh",
    "softplus",
    "relu",
    "identity",
    "add",
    "concat",
    "mse",
    "softmax_cross_entropy",
)
FORMATS: tuple[str, ...] = ("latex", "sympy", "json", "mathml")

_LAZY = {
    "derive_text": ("render", "derive_text"),
    "derive": ("derivations", "derive"),
    "Derivation": ("derivations", "Derivation"),
    "run_all": ("checks", "run_all"),
    "CheckResult": ("checks", "CheckResult"),
}

__all__ = ["FORMATS", "KNOWN_OPS", "DeriveError", *_LAZY]


def __getattr__(name: str) -> Any:
    """Lazy exports: the SymPy-backed modules load on first use."""
    if name in _LAZY:
        from importlib import import_module

        module, attr = _LAZY[name]
        value = getattr(import_module(f"{__name__}.{module}"), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
