"""A plugin's activation, made a layer by descentcheck, equals its formula (holds).

Third-party ops reach the trainer through ``impl.ops.plugin.make_plugin_activation``
(their SymPy rule lambdified to numpy, wrapped in a layer whose backward multiplies by the
lambdified derivative). The ledger runs with no plugin installed, so no other claim builds such a
layer: the mutation run found the factory returning no class alive.

Here two plugins defined in this module go through the same path a registered one does:
``isru`` (x / sqrt(1 + x^2), a smooth bounded op like the README's example) and ``twice``
(2x, whose derivative lambdifies to the constant 2, a scalar the layer must broadcast). On drawn
inputs each layer's forward must equal the formula in mpmath at 50 digits to 8 eps relative (plus
the smallest normal), and its backward with a drawn ``gy`` must be exactly ``gy`` times the
plugin's derivative rule, in the input's shape. (SymPy's unsimplified derivative of isru,
lambdified, loses relative accuracy for large |x| by cancellation; that is the plugin's rule,
which theory proves equal to phi' symbolically, not the layer's doing.)
"""

from __future__ import annotations

from functools import cache
from typing import Any

import mpmath
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..claim import Claim, Context, Verdict
from ..profiles import Profile

EPS = float(np.finfo(np.float64).eps)
TINY = float(np.finfo(np.float64).tiny)


def _isru(x: Any) -> Any:
    import sympy as sp

    return x / sp.sqrt(1 + x**2)


def _twice(x: Any) -> Any:
    return 2 * x


FORMULAS = {  # name: (SymPy rule, f in mpmath, f' in mpmath)
    "isru": (_isru, lambda t: t / mpmath.sqrt(1 + t * t), lambda t: (1 + t * t) ** -1.5),
    "twice": (_twice, lambda t: 2 * t, lambda t: mpmath.mpf(2)),
}


@cache
def _plugin(name: str) -> Any:
    """The plugin as the registry holds it once loaded (validated, its rules derived)."""
    from descentcheck.registry.op_plugins import ElementwisePlugin, validate

    return validate(ElementwisePlugin(name=name, sympy=FORMULAS[name][0]), f"claim's {name}")


@st.composite
def _draw(draw: st.DrawFn, profile: Profile) -> dict[str, Any]:
    rows = draw(st.integers(1, 4), label="rows")
    width = draw(st.integers(1, 3), label="width")
    values = st.floats(-30.0, 30.0, allow_nan=False, allow_subnormal=False)
    x = draw(hnp.arrays(np.float64, (rows, width), elements=values), label="x")
    gy = draw(hnp.arrays(np.float64, (rows, width), elements=values), label="gy")
    return {"x": x, "gy": gy}


def _worst(name: str, x: np.ndarray, gy: np.ndarray) -> tuple[float, str]:
    from descentcheck.impl.ops.plugin import make_plugin_activation

    layer = make_plugin_activation(_plugin(name))("a", ["x"], [x.shape[1]], {})
    y, cache = layer.forward({}, [x.copy()])
    (gx,), grads = layer.backward({}, cache, gy.copy())
    _, f, _ = FORMULAS[name]
    with mpmath.workdps(50):
        want_y = np.array([float(f(mpmath.mpf(float(v)))) for v in x.ravel()]).reshape(x.shape)
    # backward: gy times the plugin's own derivative rule (SymPy's diff, lambdified: how
    # accurate that expression is, is the plugin's business; theory checks it symbolically)
    derivative = _plugin(name).numpy_rules[1]
    want_gx = gy * np.broadcast_to(derivative(x.copy()), x.shape)
    worst, where = 0.0, ""
    for what, got, want, rel in (("forward", y, want_y, 8 * EPS), ("backward", gx, want_gx, 0.0)):
        got = np.asarray(got, dtype=np.float64)
        if got.shape != x.shape or grads:
            return float("inf"), f"{name} {what}: shape {got.shape}, parameters {sorted(grads)}"
        ratio = np.abs(got - want) / (rel * np.abs(want) + TINY)
        ratio[~np.isfinite(ratio)] = np.inf  # NaN would pass argmax's comparison below
        i = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        if ratio[i] > worst:
            worst = float(ratio[i])
            where = f"{name} {what} at x = {x[i]!r}: {got[i]!r} vs {want[i]!r}"
    return worst, where


def _check(drawn: dict[str, Any], ctx: Context) -> Verdict:
    worst, where = 0.0, ""
    for name in FORMULAS:
        r, at = _worst(name, drawn["x"], drawn["gy"])
        if not r <= worst:
            worst, where = r, at
    ok = worst <= 1.0
    measured = {"worst_error_over_tolerance": worst, "cases_tested": 1.0}
    return Verdict(ok, measured, {"worst_error_over_tolerance": 1.0}, message="" if ok else where)


PLUGIN_OP_EQUALS_FORMULA = Claim(
    id="plugin-activation-equals-its-formula",
    statement=(
        "An elementwise plugin op, made a layer the way a registered plugin's is, computes its "
        "SymPy rule forward (to 8 eps) and exactly gy times its derivative rule backward"
    ),
    source=(
        "descentcheck.registry.op_plugins' contract (a plugin brings its SymPy rule; the numpy "
        "rules default to it lambdified); added after the mutation run found the plugin layer "
        "factory unexercised by the ledger"
    ),
    conditions=(
        "plugins isru (smooth, bounded) and twice (a constant derivative), defined in the claim",
        "inputs and gy drawn in [-30, 30], 1 to 4 rows of width 1 to 3",
    ),
    expect="holds",
    strategy=_draw,
    check=_check,
    summary={"worst_error_over_tolerance": "max", "cases_tested": "sum"},
    cost=0.5,
)

CLAIMS = (PLUGIN_OP_EQUALS_FORMULA,)
