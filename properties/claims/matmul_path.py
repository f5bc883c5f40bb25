"""The distance layers' matmul evaluation equals their direct one (holds).

``impl/ops/gaussian.py`` evaluates a distance layer in one of two ways: *direct* (differences
x - c formed entry by entry) below ``MATMUL_MIN_SIZE = n * units * in = 2^16``, *matmul*
(squares expanded into matrix products, pairs near a centroid handed back to the direct
formula) from there up. Every other claim draws networks far below that size, so the matmul
path, forward and backward, was run by no claim: the mutation run found a mutant that set a
matrix it needs to None alive.

Here each generated network with distance layers is evaluated twice, with the threshold forced
to 0 (matmul everywhere) and to infinity (direct everywhere): the loss must agree to
1e-9 (1 + |E|) and every gradient entry to 1e-8 (1 + max |dE/dw|). The module's own error
analysis puts the two within a few eps of each other normwise on hard data; a wrong term misses
by far more. Both are also evaluated at the complex point w + i h u / |u| (h = 1e-20, u drawn),
the complex step the gradient oracle takes: real parts within the loss tolerance, imaginary
parts over h (the directional derivative) within 1e-8 (1 + |grad E|); complex arithmetic in the
matmul path (its near-pair hand-back mixes real inputs with complex centroids) runs nowhere
else. Each distance layer is also run alone on both paths at a complex input with a real
cotangent, a mix of kinds no network makes (a complex forward makes the upstream gradient
complex) but the layer's backward takes: the real parts must agree within the gradient
tolerance (a sign error in the matmul backward's mixed-kind branch survived the full mutation
run). Parameters are the data-driven initialisation (centroids on data rows, so the
near-pair hand-back runs) or that plus a drawn offset on the 1/16 grid of [-1/2, 1/2].
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from hypothesis import strategies as st

from ..claim import Claim, Context, Verdict
from ..profiles import Profile
from ..strategies import arrays, cases, grid_floats
from .updates import SMALL

LOSS_TOL, GRAD_TOL = 1e-9, 1e-8
STEP = 1e-20  # the complex step
DISTANCE_LAYERS = ("gaussian", "gaussian_logits")


@contextmanager
def distance_path(threshold: float | None) -> Iterator[None]:
    """Within the block every distance layer takes the path ``threshold`` forces through
    ``MATMUL_MIN_SIZE`` (0: matmul, infinity: direct; None: the path its size picks)."""
    gaussian = importlib.import_module("descentcheck.impl.ops.gaussian")
    old = gaussian.MATMUL_MIN_SIZE
    if threshold is not None:
        gaussian.MATMUL_MIN_SIZE = threshold  # read at each forward call
    try:
        yield
    finally:
        gaussian.MATMUL_MIN_SIZE = old


def _has_distance_layer(case: Any) -> bool:
    return any(node["op"] in DISTANCE_LAYERS for node in case.spec["nodes"])


@st.composite
def _draw(draw: st.DrawFn, profile: Profile) -> dict[str, Any]:
    # every case holds a distance layer: 22-48% of the draws had none, passing while testing
    # nothing (held-out coverage audit)
    with_one = cases(SMALL, layers=("dense", *DISTANCE_LAYERS)).filter(_has_distance_layer)
    case = draw(with_one, label="case")
    params = case.params
    if draw(st.booleans(), label="offset the parameters"):
        params = {
            k: v + draw(arrays(np.float64, v.shape, grid_floats(0.5)), label=k)
            for k, v in params.items()
        }
    u = draw(arrays(np.float64, case.net.size, grid_floats(1.0)), label="direction")
    return {"case": case, "params": params, "direction": u}


def _evaluate(
    case: Any, params: dict[str, np.ndarray], threshold: float
) -> tuple[float, np.ndarray]:
    with distance_path(threshold), np.errstate(all="ignore"):
        E, grads = case.net.loss_and_grad(params, case.x, case.yt)
    return float(E), case.net.flatten(grads)


def _complex_loss(
    case: Any, params: dict[str, np.ndarray], u: np.ndarray, threshold: float
) -> complex:
    """E at w + i H u / |u| (the complex step the gradient oracle takes), on one path."""
    w = case.net.flatten(params) + 1j * STEP * (u / np.linalg.norm(u))
    with distance_path(threshold), np.errstate(all="ignore"):
        return complex(case.net.loss(case.net.unflatten(w), case.x, case.yt))


def _complex_error(drawn: dict[str, Any], E: float, g: np.ndarray) -> float:
    """Both paths at the complex point: the real parts (the loss) and the imaginary parts over
    the step (the directional derivative), each over the real comparison's tolerance."""
    u = drawn["direction"]
    if not np.any(u):
        return 0.0
    z_d = _complex_loss(drawn["case"], drawn["params"], u, float("inf"))
    z_m = _complex_loss(drawn["case"], drawn["params"], u, 0)
    real = abs(z_m.real - z_d.real) / (LOSS_TOL * (1 + abs(E)))
    slope = abs(z_m.imag - z_d.imag) / STEP / (GRAD_TOL * (1 + float(np.linalg.norm(g))))
    worst = max(real, slope)
    return worst if np.isfinite(worst) else float("inf")


def _layer_error(drawn: dict[str, Any]) -> float:
    """Each distance layer alone, both paths, at a complex input ``x + i h v`` with a *real*
    cotangent (the one mix of kinds a network never makes: a complex forward makes its
    upstream gradient complex): the real parts of the backward's results must agree within the
    gradient tolerance. ``x`` is the case's data and ``v`` 1 plus its direction, laid out to
    the layer's shapes; the cotangent a fixed ramp over [-1, 1]."""
    case, params, u = drawn["case"], drawn["params"], drawn["direction"]
    gaussian = importlib.import_module("descentcheck.impl.ops.gaussian")
    worst = 0.0
    for layer in case.net.layers:
        if not isinstance(layer, gaussian.Gaussian):
            continue
        n, shape = case.x.shape[0], (case.x.shape[0], layer.in_widths[0])
        # 1 + u and a fixed ramp: never all zero (Hypothesis favours u = 0), so the input is
        # complex and the cotangent reaches every unit
        z = np.resize(case.x, shape) + 1j * STEP * (1.0 + np.resize(u, shape))
        gy = np.linspace(-1.0, 1.0, n * layer.out_width).reshape(n, layer.out_width)
        own = {k: params[k] for k in layer.keys.values()}
        results = []
        for threshold in (float("inf"), 0):
            asked, layer.input_grads = layer.input_grads, True  # wherever the layer sits
            try:
                with distance_path(threshold), np.errstate(all="ignore"):
                    _, cache = layer.forward(own, [z.copy()])
                    (gx,), grads = layer.backward(own, cache, gy.copy())
            finally:
                layer.input_grads = asked
            parts = [grads[k] for k in sorted(grads)] + ([] if gx is None else [gx])
            results.append(np.concatenate([np.ravel(np.real(a)) for a in parts]))
        direct, matmul = results
        scale = GRAD_TOL * (1 + float(np.max(np.abs(direct), initial=0.0)))
        err = float(np.max(np.abs(matmul - direct), initial=0.0)) / scale
        worst = max(worst, err) if np.isfinite(err) else float("inf")
    return worst


def _check(drawn: dict[str, Any], ctx: Context) -> Verdict:
    case, params = drawn["case"], drawn["params"]
    gaussian = importlib.import_module("descentcheck.impl.ops.gaussian")
    if not any(isinstance(layer, gaussian.Gaussian) for layer in case.net.layers):
        return Verdict(True, {"cases_without_distance_layer": 1.0})
    E_d, g_d = _evaluate(case, params, float("inf"))
    if not (np.isfinite(E_d) and np.all(np.isfinite(g_d))):
        return Verdict(True, {"cases_overflowed": 1.0})
    E_m, g_m = _evaluate(case, params, 0)
    loss_err = abs(E_m - E_d) / (LOSS_TOL * (1 + abs(E_d)))
    scale = GRAD_TOL * (1 + float(np.max(np.abs(g_d), initial=0.0)))
    diff = np.abs(g_m - g_d)
    grad_err = float(np.max(diff, initial=0.0)) / scale
    worst = max(loss_err, grad_err)
    if not np.isfinite(worst):
        worst = float("inf")
    complex_err = max(_complex_error(drawn, E_d, g_d), _layer_error(drawn))
    ok = worst <= 1.0 and complex_err <= 1.0
    msg = ""
    if complex_err > 1.0:
        msg = (
            f"at w + i h u, or a layer's complex input with a real cotangent: matmul and "
            f"direct differ by {complex_err:.3g} x tolerance"
        )
    elif not ok:
        i = int(np.argmax(np.where(np.isfinite(diff), diff, np.inf))) if len(diff) else 0
        msg = (
            f"matmul loss {E_m!r} vs direct {E_d!r}; gradient entry {i}: "
            f"{g_m[i] if len(g_m) else float('nan')!r} vs {g_d[i] if len(g_d) else 0.0!r}"
        )
    measured = {
        "worst_error_over_tolerance": max(worst, complex_err),
        "cases_tested": 1.0,
    }
    return Verdict(ok, measured, {"worst_error_over_tolerance": 1.0}, message=msg)


MATMUL_EQUALS_DIRECT = Claim(
    id="distance-layer-matmul-equals-direct",
    statement=(
        "A distance layer's matmul evaluation (used from n * units * in = 2^16 up) gives the "
        "loss and every gradient entry of its direct evaluation, on random DAGs with skips"
    ),
    source=(
        "impl/ops/gaussian.py's two evaluations of DESIGN.md's distance layer; added after "
        "the mutation run (issue 12 item 7) found the matmul path run by no claim"
    ),
    conditions=(
        "small random DAGs with dense and distance layers, both radius kinds, both losses",
        "the threshold forced to 0 and to infinity in turn; loss within 1e-9 (1 + |E|), "
        "gradient entries within 1e-8 (1 + max |dE/dw|)",
        "each distance layer alone at a complex input (the case's data and direction laid out "
        "to its shape) with a real cotangent: real parts of its backward within the gradient "
        "tolerance",
        "every case holds a distance layer (drawn until it does); a case whose direct "
        "evaluation overflows is counted, not tested",
    ),
    expect="holds",
    strategy=_draw,
    check=_check,
    summary={
        "worst_error_over_tolerance": "max",
        "cases_tested": "sum",
        "cases_without_distance_layer": "sum",
        "cases_overflowed": "sum",
    },
    cost=0.5,
)

CLAIMS = (MATMUL_EQUALS_DIRECT,)
