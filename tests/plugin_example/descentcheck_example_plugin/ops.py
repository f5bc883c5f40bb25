"""The isru activation, ``phi(x) = x / sqrt(1 + x^2)``, as a descentcheck op plugin.

Only the SymPy rule is written; descentcheck lambdifies it for numpy (the forward and phi'),
mpmath (the 50-digit evaluator) and Arb balls (the certifier). The written form is sound in
float64 for |x| < 1e154 (1 + x^2 neither overflows nor cancels), far beyond any
pre-activation of a trained network. ``expected_bounds`` are the suprema over the reals of
|phi|, |phi'|, |phi''|; theory's assumptions check proves SymPy's suprema equal them.
"""

from __future__ import annotations

from typing import Any

from descentcheck.registry.op_plugins import ElementwisePlugin


def isru(x: Any) -> Any:
    """phi(x) = x / sqrt(1 + x^2) on a SymPy symbol (real or complex)."""
    import sympy as sp

    return x / sp.sqrt(1 + x**2)


ISRU = ElementwisePlugin(
    name="isru",
    sympy=isru,
    formula="x / sqrt(1 + x^2)",
    notes=("inverse square root unit: softsign's shape, analytic (poles at +-i)",),
    expected_bounds=("1", "1", "48*sqrt(5)/125"),
)
