"""The distance layer's two evaluations: their speed, and the accuracy the faster one keeps.

``impl/ops/gaussian.py`` evaluates ``z_j = -1/2 sum_i r_ji^2 (x_i - c_ji)^2`` and its gradients
term by term (direct) for small layers and through matrix products of the expanded squares
(matmul) for large ones. The expansion cancels; the matmul path bounds the damage by shifting the
data and handing near pairs to the direct formula. Here both paths are timed on
the same layer and their errors measured against the direct formula evaluated in extended
precision (``numpy.longdouble``), in units of eps = 2^-52, on inputs chosen to provoke
cancellation. Two measures per output array:

* ``scaled``: max |error| / (sum of the magnitudes of the terms the direct formula adds), the
  measure of the theory's agreement checks (``descentcheck.theory.numeric_agreement``);
* ``normwise``: max |error| / max |exact value|.

The test fails when the matmul path's error exceeds 32 eps in either measure on any of these
inputs (an accuracy assertion, not a timed one); the numbers land in the JSON and the table.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import descentcheck.impl.ops.gaussian as gaussian
from descentcheck.impl.ops import factory

EPS = float(np.finfo(np.float64).eps)
LIMIT_EPS = 32.0
LD = np.longdouble


def _reference(x, c, r, gy, per_unit: bool, logits: bool) -> dict[str, tuple[np.ndarray, ...]]:
    """Exact-to-float64 values and the sums of term magnitudes, by the direct formula in
    extended precision."""
    x, c, r, gy = (np.asarray(a, dtype=LD) for a in (x, c, r, gy))
    r2 = np.broadcast_to((r * r)[:, None] if per_unit else r * r, c.shape)
    diff = x[:, None, :] - c
    terms = r2 * diff * diff
    z = -0.5 * terms.sum(axis=2)
    y = z if logits else np.exp(z)
    gz = gy if logits else gy * y
    t_c = gz[:, :, None] * r2 * diff
    t_r = -gz[:, :, None] * diff * diff * (r[:, None] if per_unit else r)
    t_x = -t_c
    out = {
        "y": (y, 0.5 * terms.sum(axis=2) if logits else np.abs(y) * (1 + 0.5 * terms.sum(axis=2))),
        "centroids": (t_c.sum(axis=0), np.abs(t_c).sum(axis=0)),
        "radii": (t_r.sum(axis=0), np.abs(t_r).sum(axis=0)),
        "x": (t_x.sum(axis=1), np.abs(t_x).sum(axis=1)),
    }
    if per_unit:
        v, s = out["radii"]
        out["radii"] = (v.sum(axis=1), s.sum(axis=1))
    return out


def _layer(u: int, d: int, per_unit: bool, logits: bool):
    op = "gaussian_logits" if logits else "gaussian"
    radius = "per_unit" if per_unit else "per_connection"
    return factory(op)("L", ("p",), (d,), {"units": u, "radius": radius})


def _evaluate(layer, x, c, r, gy, matmul: bool):
    saved = gaussian.MATMUL_MIN_SIZE
    gaussian.MATMUL_MIN_SIZE = 0 if matmul else np.iinfo(np.int64).max
    try:
        p = {"L.centroids": c, "L.radii": r}
        y, cache = layer.forward(p, [x])
        (gx,), gp = layer.backward(p, cache, gy)
    finally:
        gaussian.MATMUL_MIN_SIZE = saved
    return {"y": y, "centroids": gp["centroids"], "radii": gp["radii"], "x": gx}


def _errors(ref, got) -> dict[str, float]:
    scaled = normwise = 0.0
    for k, (v, s) in ref.items():
        e = np.abs(np.asarray(got[k], dtype=LD) - v)
        scaled = max(scaled, float(np.max(e / np.maximum(s, 1e-300))) / EPS)
        normwise = max(normwise, float(np.max(e) / max(float(np.max(np.abs(v))), 1e-300)) / EPS)
    return {"scaled_eps": scaled, "normwise_eps": normwise}


def _init_like(x, u, rng, per_unit):
    """descentcheck's initialisation: centroids at data rows, median z = -1/2."""
    c = x[rng.choice(len(x), u, replace=False)].copy()
    r = 1 / np.sqrt(np.median(((x[:, None, :] - c) ** 2).sum(axis=2), axis=0))
    return c, (r if per_unit else np.repeat(r[:, None], x.shape[1], axis=1))


def scenarios(n=512, u=64, d=64, seed=0) -> Iterator[tuple[str, np.ndarray, np.ndarray, bool]]:
    """(name, x, centroids, per_unit): inputs that provoke the expanded form's cancellation."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    yield "standardised, centroids at data rows", x, x[rng.choice(n, u, replace=False)], False
    yield "offset 1e3 from the origin", x + 1e3, x[rng.choice(n, u, replace=False)] + 1e3, False
    yield "scaled by 1e3, per-unit radii", 1e3 * x, 1e3 * x[:u], True
    xd = np.repeat(x[:8], n // 8, axis=0)
    yield "8 distinct rows repeated, at centroids", xd, xd[rng.choice(n, u, replace=False)], False
    xk = x.copy()
    xk[:, :8] = 0.1
    yield "8 constant features", xk, xk[rng.choice(n, u, replace=False)], False
    cn = 1e3 + rng.standard_normal((u, d))
    xn = cn[rng.integers(0, u, n)] + 1e-3 * rng.standard_normal((n, d))
    yield "tight clusters (1e-3) around centroids at 1e3", xn, cn, False
    # a distance layer's outputs at its initialisation, the input of a second one: about
    # exp(-1/2) everywhere but 1 on each centroid's own row (one outlier per input)
    c1 = x[rng.choice(n, d, replace=False)]
    sq = ((x[:, None, :] - c1) ** 2).sum(axis=2)
    h = np.exp(-0.5 * sq / np.median(sq, axis=0))
    yield "a distance layer's outputs at its start", h, h[rng.choice(n, u, replace=False)], False


@pytest.mark.skipif(np.finfo(LD).eps > 1e-18, reason="needs an extended-precision longdouble")
@pytest.mark.parametrize("logits", [False, True], ids=["gaussian", "gaussian_logits"])
def test_matmul_path_accuracy(benchmark, logits):
    rng = np.random.default_rng(1)
    rows = []
    # every scenario with per-unit radii too: their rules differ (no x'^2 array, G2's row sums)
    runs = [(n, x, c, p) for n, x, c, pu in scenarios() for p in sorted({pu, True})]
    for name, x, c0, per_unit in runs:
        u, d = c0.shape
        c, r = _init_like(x, u, rng, per_unit)
        if name.startswith("tight"):
            c, r = c0, (np.full(u, 10.0) if per_unit else np.full((u, d), 10.0))
        gy = rng.standard_normal((len(x), u))
        layer = _layer(u, d, per_unit, logits)
        ref = _reference(x, c, r, gy, per_unit, logits)
        m = _errors(ref, _evaluate(layer, x, c, r, gy, matmul=True))
        dct = _errors(ref, _evaluate(layer, x, c, r, gy, matmul=False))
        radius = "per_unit" if per_unit else "per_connection"
        rows.append({"scenario": name, "radius": radius, "matmul": m, "direct": dct})
    x, c, per_unit = next(scenarios())[1:]
    c, r = _init_like(x, c.shape[0], rng, per_unit)
    layer = _layer(*c.shape, per_unit, logits)
    gy = rng.standard_normal((len(x), c.shape[0]))
    benchmark.group = "distance layer"
    benchmark.extra_info.update(
        kind="accuracy", case="op gaussian_logits" if logits else "op gaussian", rows=rows
    )
    benchmark.pedantic(_evaluate, args=(layer, x, c, r, gy, True), rounds=10, warmup_rounds=1)
    worst = max(max(row["matmul"].values()) for row in rows)
    assert worst <= LIMIT_EPS, rows


@pytest.mark.parametrize("path", ["matmul", "direct"])
def test_distance_layer_speed(benchmark, path):
    """One forward and backward of a 512 x 64 -> 64 gaussian layer on each path."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((512, 64))
    c, r = _init_like(x, 64, rng, False)
    layer = _layer(64, 64, False, False)
    gy = rng.standard_normal((512, 64))
    benchmark.group = "distance layer"
    benchmark.extra_info.update(kind="layer", case="gaussian 512x64->64", impl=path)
    benchmark.pedantic(
        _evaluate, args=(layer, x, c, r, gy, path == "matmul"), rounds=10, warmup_rounds=1
    )
