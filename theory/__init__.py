"""descentcheck.theory: SymPy derivations, and the checks that the trainer agrees with them.

Import this package freely: it imports SymPy only when a symbolic function is first used (the
CLI's start-up must stay fast), through the lazy exports below.

Public entry points::

    derive_text(op, fmt="latex", dim=3) -> str      # latex | sympy | json | mathml
    derive(op, dim=3) -> Derivation                 # the SymPy objects themselves
    KNOWN_OPS, FORMATS                              # what derive accepts (KNOWN_OPS: the
                                                    # op registry's derivation names, read
                                                    # at each access, plugins included)
    DeriveError                                     # ValueError with a one-line message
    run_all() -> list[CheckResult]                  # every proof and check (python -m ...)

Submodules, one idea each.

Derivations (SymPy only, never ``impl``): ``units`` (the forward rule of one unit of each op),
``derivations`` (gradients by ``sympy.diff``), ``render`` and ``mathml`` (text formats),
``zero`` (proving an expression identically zero), ``momentum`` (the momentum identities),
``descent_proofs`` (guaranteed-decrease regions from L-smoothness), ``descent`` (the same regions
as plain-float functions and ``REGIONS`` for the report), ``assumptions`` (activation and
Gaussian-unit bounds), ``claimed`` (the trainer's rules transcribed into SymPy),
``symbolic_agreement``, ``smoothness`` (L from exact Hessian-vector products of a network it
is handed). The 50-digit evaluator of a spec these checks compare with is numeric code, so it
lives in ``descentcheck.impl.mp_network`` (``impl``'s mpmath gradient check uses it; DESIGN.md:
``impl`` knows nothing of ``theory``).

Checks against the trainer (these import ``descentcheck.impl``): ``random_specs`` (theory's
family of small random DAGs with skip connections, drawn by the one generator
``descentcheck.impl.random_dag``), ``numeric_agreement``, ``descent_checks``,
``network_agreement``, ``optimizer_agreement``, ``coverage`` (every op of the op registry,
``descentcheck.registry.ops``, has each of its rules or a stated exclusion), ``plugin_rules``
(a plugin's own mpmath and interval rules against its SymPy rule), ``checks``
(everything, for ``__main__``). Each loops over the op registry, plugins' ops included.
"""

from __future__ import annotations

from typing import Any

from .errors import DeriveError

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
    """Lazy exports: the SymPy-backed modules load on first use; ``KNOWN_OPS`` is read from the
    op registry each time (never stored, so plugins loaded later are seen)."""
    if name == "KNOWN_OPS":
        from descentcheck.registry.ops import derive_names

        return derive_names()
    if name in _LAZY:
        from importlib import import_module

        module, attr = _LAZY[name]
        value = getattr(import_module(f"{__name__}.{module}"), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
