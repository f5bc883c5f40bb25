"""Every activation, as a function and as a layer's forward pass, equals its formula (holds).

The activation layers are reached by the other claims only through the forward pass of the
networks they draw, which use relu only in gradient-equals-oracle-through-relu (it is not
smooth) and call the layers' ``forward``, not their ``fn`` (which ``impl.ops.sigmoid`` /
``impl.ops.softplus`` export): the mutation run found mutants of ``softplus`` and of relu's
``fn`` alive.

Here each activation in ``impl.ops.activations.ACTIVATIONS`` is evaluated on drawn inputs, both
as ``fn`` and as a layer's ``forward``, and compared with DESIGN.md's formula evaluated in
mpmath at 50 digits beyond exp(-|x|): sigmoid 1 / (1 + exp(-x)), tanh, softplus log(1 + exp(x)),
relu max(x, 0), identity x; within 4 eps relative plus the smallest normal. The smooth ones are
also evaluated at x + i s h (s = +-1, h = 1e-20), the complex step the gradient oracle and
the curvature code rely on: the real part must be f(x) and the imaginary part / (s h) must be
f'(x), to 4 eps relative or 4 eps absolute (numpy's complex log1p is not as accurate as its
real one far left of 0); a branch that mishandles complex input at Re x = 0 shows there.

The backward rule's slope (``gy = 1``) is compared with the formula's derivative to 4 eps
relative (plus the smallest normal), so that a saturated unit's slope keeps its digits: with
4 eps absolute allowed, the torch-style ``s - s^2`` and ``1 - tanh^2`` (0 for a slope of 4e-18)
passed (a held-out planted-bug audit). Half the cases tile the drawn values past
``TANH_EXP_MIN_SIZE`` entries, where tanh takes its large-array form (a mutated Cephes
coefficient survived the mutation run: no claim reached that size), and the slope is compared
there too; both large-array forms, ``_tanh_real`` and ``_tanh_simd`` (value, and the slope from
their ``exp(-2|x|)``), are compared there whichever this machine's layer takes
(``NUMPY_TANH_IS_SIMD``), so a bug in either is seen on every machine (``1 - tanh^2`` would lose
the relative accuracy far from 0; the rule's ``4 e / (1 + e)^2`` keeps it). Half the cases add
a row 750 farther from 0, past exp's range, where only the ``exp(-|x|)`` forms stay finite: a
lost sign mask in the complex continuation survived the full mutation run, since below 709 both
forms agree.
"""

from __future__ import annotations

import itertools
from typing import Any

import mpmath
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from descentcheck.impl import ops
from descentcheck.impl.ops import activations as _activations
from descentcheck.impl.ops.activations import ACTIVATIONS, TANH_EXP_MIN_SIZE

from ..claim import Claim, Context, Verdict
from ..profiles import Profile

EPS = float(np.finfo(np.float64).eps)
TINY = float(np.finfo(np.float64).tiny)
FORMULAS = {
    "sigmoid": lambda x: 1 / (1 + mpmath.exp(-x)),
    "tanh": mpmath.tanh,
    "softplus": lambda x: mpmath.log(1 + mpmath.exp(x)),
    "relu": lambda x: max(x, mpmath.mpf(0)),
    "identity": lambda x: x,
}


# derivatives, for the complex step (relu has none at 0, identity's is exact anyway)
SLOPES = {
    "sigmoid": lambda x: FORMULAS["sigmoid"](x) * (1 - FORMULAS["sigmoid"](x)),
    "tanh": lambda x: 1 - mpmath.tanh(x) ** 2,
    "softplus": lambda x: FORMULAS["sigmoid"](x),
}
H = 1e-20


@st.composite
def _draw(draw: st.DrawFn, profile: Profile) -> dict[str, Any]:
    rows = draw(st.integers(1, 4), label="rows")
    width = draw(st.integers(1, 3), label="width")
    values = st.floats(-50.0, 50.0, allow_nan=False, allow_subnormal=False)
    x = draw(hnp.arrays(np.float64, (rows, width), elements=values), label="x")
    # tiled to TANH_EXP_MIN_SIZE entries or more, and a row 750 farther from 0 than the first:
    # past exp's range (709.78), where exp(x) or exp(-x) overflows and only the exp(-|x|) forms
    # stay finite, for real and complex x alike (added, so the drawn rows keep the moderate x
    # that tanh's rational form reads); one draw of the four pairs, so each pair is reached
    tiled, far = draw(
        st.sampled_from(list(itertools.product((False, True), repeat=2))),
        label="tiled, a row past exp's range",
    )
    if far:
        x = np.concatenate([x, x[:1] + np.copysign(750.0, x[:1])])
    return {"x": x, "tiled": tiled}


def _tile(a: np.ndarray, reps: int) -> np.ndarray:
    return np.tile(a, (reps, 1))


def _mp(f: Any, x: np.ndarray) -> np.ndarray:
    """``f`` at every entry of ``x``, in mpmath at 50 digits more than ``exp(-|x|)`` needs,
    rounded to float64: the formulas as written (``log(1 + exp(x))``, ``s (1 - s)``) must keep
    ``exp(-|x|)`` beside 1 (at 50 digits softplus(-658) came out 0, not 2e-286)."""
    out = []
    for v in x.reshape(-1).tolist():  # each entry at its own precision (far ones cost more)
        with mpmath.workdps(50 + int(abs(v) / np.log(10.0)) + 1):
            out.append(float(f(mpmath.mpf(v))))
    return np.array(out).reshape(x.shape)


def _worst(name: str, x: np.ndarray, tiled: bool = False) -> tuple[float, str]:
    """The largest error over its allowance, and where: the forward forms on ``x`` (tiled past
    the large-array size when ``tiled``: the paths the networks of the bench take), the
    backward rule's slope there, and the complex step there."""
    cls = ACTIVATIONS[name]
    reps = -(-TANH_EXP_MIN_SIZE // x.size) if tiled else 1
    big = _tile(x, reps)
    layer = cls("a", ("x",), (x.shape[1],), x.shape[1])
    y, cache = layer.forward({}, [big.copy()])
    fn = getattr(cls, "fn", None)
    if "fn" in vars(cls) and not callable(fn):  # declared, so the layer's users may call it
        return float("inf"), f"{name}: its fn is {fn!r}"
    got = {"forward": y}
    if fn is not None:
        got["fn"] = np.asarray(fn(big.copy()))
    exported = getattr(ops, name, None)  # impl.ops.sigmoid and impl.ops.softplus
    if callable(exported):
        got["impl.ops function"] = np.asarray(exported(big.copy()))
    want = _mp(FORMULAS[name], x)
    (gx,), _ = layer.backward({}, cache, np.ones_like(big))  # gy = 1: f'(x) itself
    slope_of = {"backward's slope": gx}
    if name == "tanh" and tiled:
        for form in ("_tanh_real", "_tanh_simd"):
            value, e = getattr(_activations, form)(big.copy())
            got[form] = value
            slope_of[f"{form}'s exp(-2|x|) slope"] = _activations._tanh_slope(e)
    checks = [_compare(name, big, got, _tile(want, reps))]
    if name in SLOPES:
        slope = _mp(SLOPES[name], x)
        checks.append(_compare(name, big, slope_of, _tile(slope, reps)))
        # on the tiled array too: a complex array past the large-array size must still take
        # the complex path (the full mutation run found tanh's complex test inverted alive)
        checks.append(_complex_step(name, layer, fn, big, _tile(want, reps), _tile(slope, reps)))
    else:  # relu's subgradient at 0 is 0, as in torch; identity's slope is 1
        exact = (big > 0) if name == "relu" else np.ones_like(big)
        checks.append(_compare(name, big, slope_of, exact.astype(np.float64)))
    return max(checks, key=lambda c: c[0])


def _complex_step(
    name: str, layer: Any, fn: Any, x: np.ndarray, want: np.ndarray, slope: np.ndarray
) -> tuple[float, str]:
    """f(x + i s h) = f(x) + i s h f'(x) + O(h^2), for the layer's forward and ``fn``."""
    worst, where = 0.0, ""
    for s in (1.0, -1.0):
        z = x + 1j * s * H
        steps = {"forward": layer.forward({}, [z.copy()])[0]}
        if fn is not None:
            steps["fn"] = fn(z.copy())
        for form, y in steps.items():
            y = np.asarray(y, dtype=np.complex128)
            parts = (("value", y.real, want), ("slope", y.imag / (s * H), slope))
            for label, values, expected in parts:
                key = f"{form}, complex step {s:+.0f}, {label}"
                r, at = _compare(name, x, {key: values}, expected, floor=4 * EPS)
                if r > worst:
                    worst, where = r, at
    return worst, where


def _compare(
    name: str, x: np.ndarray, got: dict[str, Any], want: np.ndarray, floor: float = TINY
) -> tuple[float, str]:
    """The largest error over its allowance (4 eps relative, at least ``floor``) among
    ``got``'s forms, and where."""
    allowed = 4 * EPS * np.abs(want) + floor
    worst, where = 0.0, ""
    for form, y in got.items():
        ratio = np.abs(np.asarray(y, dtype=np.float64) - want) / allowed
        ratio[~np.isfinite(ratio)] = np.inf
        i = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        if ratio[i] > worst:
            worst = float(ratio[i])
            where = f"{name} ({form}) at x = {x[i]!r}: {y[i]!r} vs {want[i]!r}"
    return worst, where


def _check(drawn: dict[str, Any], ctx: Context) -> Verdict:
    worst, where = 0.0, ""
    for name in FORMULAS:
        if name not in ACTIVATIONS:  # every formula's op must have its layer class
            worst, where = float("inf"), f"{name}: no layer class in ACTIVATIONS"
            break
        r, at = _worst(name, drawn["x"], drawn.get("tiled", False))
        if r > worst:
            worst, where = r, at
    ok = worst <= 1.0
    far = float(np.max(np.abs(drawn["x"])) > 709.79)
    measured = {
        "worst_error_over_tolerance": worst,
        "cases_tested": 1.0,
        "cases_past_exp": far,
        "tiled_cases_past_exp": far * drawn.get("tiled", False),
    }
    return Verdict(ok, measured, {"worst_error_over_tolerance": 1.0}, message="" if ok else where)


ACTIVATIONS_EQUAL_FORMULAS = Claim(
    id="activations-equal-formulas",
    statement=(
        "Each activation (sigmoid, tanh, softplus, relu, identity), as a function and as a "
        "layer's forward pass, equals its formula evaluated in mpmath (50 digits beyond "
        "exp(-|x|)), to 4 eps, and the layer's backward rule gives its derivative to 4 eps "
        "relative, saturated units' small slopes included"
    ),
    source=(
        "DESIGN.md's activation definitions; added after the mutation run (issue 12 item 7) "
        "found softplus's exported function and relu's alive under mutation"
    ),
    conditions=(
        "inputs drawn in [-50, 50], 1 to 4 rows of width 1 to 3, half the cases with a row "
        "added 750 farther from 0 (past exp's range); half the cases tile them to "
        "4096 entries or more (the large-array paths: tanh's two forms, each checked)",
        "the backward rule's slope (gy = 1) within 4 eps relative plus the smallest normal",
    ),
    expect="holds",
    strategy=_draw,
    check=_check,
    summary={
        "worst_error_over_tolerance": "max",
        "cases_tested": "sum",
        "cases_past_exp": "sum",
        "tiled_cases_past_exp": "sum",
    },
    cost=0.5,
)

CLAIMS = (ACTIVATIONS_EQUAL_FORMULAS,)
