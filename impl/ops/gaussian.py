"""Gaussian distance layer (Kurbiel & Khaleghian 2017, arXiv:1708.01911, eq. 1).

With centroids ``c`` (units, in) and radii ``r`` (units, in) for ``radius="per_connection"`` or
(units,) for ``"per_unit"``::

    z_j = -1/2 * sum_i r_ji^2 (x_i - c_ji)^2        (gaussian_logits: y = z)
    y_j = exp(z_j)                                   (gaussian)

Squared distances only: no square root, so no singular derivative at ``x = c``; ``z <= 0`` for real
inputs, so ``exp`` never overflows however large the input. With ``gz = dE/dz``
(``gy * y`` for gaussian, ``gy`` for logits)::

    dE/dc_ji = sum_n gz_nj r_ji^2 (x_ni - c_ji)
    dE/dr_ji = -sum_n gz_nj r_ji (x_ni - c_ji)^2     (per_unit: summed over i)
    dE/dx_ni = -sum_j gz_nj r_ji^2 (x_ni - c_ji)

Initialisation: centroids are input rows of the training data drawn without replacement (with
replacement when there are fewer rows than units), or N(0, 1) draws when no data is given, which
matches standardised inputs. Radii are set per unit so that the median over the data of ``z_j`` is
``-1/2``: the median activation is ``exp(-1/2) ~ 0.61``, neither ~0 (no gradient through exp) nor
~1 (no information) -- the paper stresses that initialisation decides whether these nets train.
Without data the median squared distance of two N(0, I_d) points, ``~2d``, stands in.
"""

from __future__ import annotations

import numpy as np

from .base import Array, Layer


class Gaussian(Layer):
    def __init__(self, name, inputs, in_widths, units, per_unit: bool, logits: bool):
        d = in_widths[0]
        shapes = {"centroids": (units, d), "radii": (units,) if per_unit else (units, d)}
        super().__init__(name, inputs, in_widths, units, shapes)
        self.per_unit = per_unit
        self.logits = logits

    def _r2(self, r: Array) -> Array:
        return (r * r)[:, None] if self.per_unit else r * r

    def forward(self, params, xs):
        x = xs[0]
        c = params[self.key("centroids")]
        r = params[self.key("radii")]
        diff = x[:, None, :] - c[None, :, :]  # (n, units, in)
        sq = diff * diff
        z = -0.5 * np.einsum("nud,ud->nu", sq, np.broadcast_to(self._r2(r), c.shape))
        y = z if self.logits else np.exp(z)
        return y, (diff, sq, y)

    def backward(self, params, cache, gy):
        diff, sq, y = cache
        c = params[self.key("centroids")]
        r = params[self.key("radii")]
        r2 = np.broadcast_to(self._r2(r), c.shape)
        gz = gy if self.logits else gy * y
        gc = r2 * np.einsum("nu,nud->ud", gz, diff)
        gsq = np.einsum("nu,nud->ud", gz, sq)
        gr = -r * (gsq.sum(axis=1) if self.per_unit else gsq)
        gx = -np.einsum("nu,nud->nd", gz, r2 * diff)
        return [gx], {"centroids": gc, "radii": gr}

    def init(self, rng: np.random.Generator, xs: list[Array] | None) -> dict[str, Array]:
        units, d = self.param_shapes["centroids"]
        if xs is not None and len(xs[0]) > 0:
            x = np.asarray(xs[0], dtype=np.float64)
            rows = rng.choice(len(x), size=units, replace=len(x) < units)
            c = x[rows].copy()
            sqdist = ((x[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)  # (n, units)
            med = np.median(sqdist, axis=0)
            fallback = max(float(np.mean(sqdist)), 2.0 * d)
            med = np.where(med > 0, med, fallback)
        else:
            c = rng.standard_normal((units, d))
            med = np.full(units, 2.0 * d)
        # median over the data of -1/2 r^2 |x - c|^2 is then -1/2
        r_unit = 1.0 / np.sqrt(med)
        r = r_unit if self.per_unit else np.repeat(r_unit[:, None], d, axis=1)
        return {"centroids": c, "radii": r}


def _make(logits: bool):
    def make(name, inputs, in_widths, node) -> Gaussian:
        per_unit = node.get("radius", "per_connection") == "per_unit"
        return Gaussian(name, inputs, in_widths, node["units"], per_unit, logits)

    return make


make_gaussian = _make(logits=False)
make_gaussian_logits = _make(logits=True)
