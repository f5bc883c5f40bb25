"""The vanishing-gradient study: gradient size per layer against depth, dot-product layers
against distance layers (Kurbiel & Khaleghian, arXiv:1708.01911, find distance layers suffer
less).

For each depth D, three chains of D hidden layers of 32 units on digits, at initialisation:

* ``sigmoid``: (dense -> sigmoid) x D, dense output (the classic vanishing case);
* ``tanh``: (dense -> tanh) x D, dense output;
* ``distance``: gaussian x D (per-connection radii, data-driven init), gaussian_logits output.

All with softmax cross-entropy. The measure of layer l is the root-mean-square of the gradient
over its input-facing weights: W for a dense layer, the centroids for a distance layer (each
``(in, units)`` numbers, one per connection); the distance layers' radii are a series of their
own. Pooling them would let the radii decide: ``dE/dr = -r gz (x - c)^2`` and the
initialisation sets ``r^2 sum (x - c)^2 ~ 1``, so a radius gradient grows as ``1/r``, and the
first layer's radii (64 inputs) are several times smaller than the deeper ones' (a held-out
audit found the pooled ratio 16x above the centroids'). The decay over depth is the ratio of the
first hidden layer's value to the last hidden layer's (1 means no decay).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .profiles import ReportProfile
from .progress import Progress

FAMILIES = ("sigmoid", "tanh", "distance")
#: the measured series: each family's weights (W, centroids), and the distance layers' radii
SERIES = (*FAMILIES, "distance_radii")
WIDTH = 32
#: the parameter each series measures, by the spec's parameter names (``NAME.PARAM``)
PARAMETER = {"sigmoid": "W", "tanh": "W", "distance": "centroids", "distance_radii": "radii"}


def chain_spec(family: str, depth: int) -> dict[str, Any]:
    """A chain of ``depth`` hidden layers of the family, then the output layer."""
    nodes: list[dict[str, Any]] = []
    prev = "input"
    for i in range(1, depth + 1):
        if family == "distance":
            nodes.append({"name": f"l{i}", "op": "gaussian", "units": WIDTH, "inputs": [prev]})
            prev = f"l{i}"
        else:
            nodes.append({"name": f"l{i}", "op": "dense", "units": WIDTH, "inputs": [prev]})
            nodes.append({"name": f"a{i}", "op": family, "inputs": [f"l{i}"]})
            prev = f"a{i}"
    head = "gaussian_logits" if family == "distance" else "dense"
    nodes.append({"name": "out", "op": head, "units": 10, "inputs": [prev]})
    return {"inputs": 64, "output": "out", "loss": "softmax_cross_entropy", "nodes": nodes}


def layer_rms(grads: dict[str, np.ndarray], depth: int, param: str) -> list[float]:
    """RMS of the gradient of each layer's parameter ``param`` (``W``, ``centroids``, ``radii``):
    hidden layers 1..D, then the output."""
    out = []
    for name in [f"l{i}" for i in range(1, depth + 1)] + ["out"]:
        g = grads[f"{name}.{param}"].ravel()
        out.append(float(np.sqrt(np.mean(g * g))))
    return out


def measure(
    family: str, depth: int, x: np.ndarray, y: np.ndarray, seed: int
) -> dict[str, list[float]]:
    """Each series of ``family`` (the distance family's centroids and its radii) at its
    initialisation: ``{series: RMS per layer}``."""
    from descentcheck.impl.network import Network

    net = Network.from_spec(chain_spec(family, depth))
    xx, yy = net.check_data(x, y)
    params = net.init(seed=seed, x=xx)
    with np.errstate(all="ignore"):
        _, grads = net.loss_and_grad(params, xx, yy)
    series = (family, "distance_radii") if family == "distance" else (family,)
    return {s: layer_rms(grads, depth, PARAMETER[s]) for s in series}


def run(profile: ReportProfile, seed: int, progress: Progress) -> dict[str, Any]:
    from descentcheck.impl.data import load_data

    progress.stage("vanishing gradients")
    ds = load_data("digits")
    results: dict[str, dict[str, list[list[float]]]] = {s: {} for s in SERIES}
    for s in range(profile.vanishing_seeds):
        rows = np.random.default_rng([seed + s, 401]).permutation(ds.n)[: profile.vanishing_rows]
        x, y = ds.x[rows], ds.y[rows]
        for family in FAMILIES:
            for depth in profile.vanishing_depths:
                for series, rms in measure(family, depth, x, y, seed + s).items():
                    results[series].setdefault(str(depth), []).append(rms)
        progress.tick()
    decay = {
        f: {
            d: [r[0] / r[-2] if r[-2] > 0 else math.inf for r in runs]
            for d, runs in results[f].items()
            if int(d) > 1
        }
        for f in SERIES
    }
    return {
        "depths": list(profile.vanishing_depths),
        "seeds": profile.vanishing_seeds,
        "rows": profile.vanishing_rows,
        "width": WIDTH,
        "parameters": {s: PARAMETER[s] for s in SERIES},
        "layer_rms": results,
        "first_over_last": decay,
    }


def units(profile: ReportProfile) -> int:
    return profile.vanishing_seeds
