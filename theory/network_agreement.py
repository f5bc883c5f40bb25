"""Agreement (c), whole networks: the trainer's backprop against a 50-digit mpmath evaluation.

A *check* module (imports ``descentcheck.impl``). For a spec, parameters and data, the trainer's
``Network.loss_and_grad`` is compared with :func:`.mp_network.gradient`, which shares no code
with it. Errors are in units of float64's eps = 2^-52:

* ``normwise_eps = max_j |g_j - G_j| / max_j |G_j| / eps`` (all parameters together);
* ``entrywise_eps = max_j |g_j - G_j| / max(|G_j|, 1e-3 max_j |G_j|) / eps``: relative per entry,
  except that entries a thousand times below the largest are judged against a thousandth of it
  (a tiny entry that is a difference of large terms cannot be relative-accurate in any float64
  backprop);
* ``loss_eps``: the loss value's relative error.

A network passes when ``normwise_eps <= NORMWISE_LIMIT_EPS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from descentcheck.impl import mp_network
from descentcheck.impl.random_dag import Draws

from .random_specs import random_data, random_params, random_spec

EPS = float(np.finfo(np.float64).eps)
NORMWISE_LIMIT_EPS = 1e3


@dataclass(frozen=True)
class NetworkComparison:
    spec: dict[str, Any]
    n_params: int
    normwise_eps: float
    entrywise_eps: float
    loss_eps: float
    worst: str

    @property
    def ok(self) -> bool:
        return self.normwise_eps <= NORMWISE_LIMIT_EPS and self.loss_eps <= NORMWISE_LIMIT_EPS


def compare_network(
    spec: Mapping[str, Any], params: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray
) -> NetworkComparison:
    """Trainer gradient against the mpmath gradient for one network and data set."""
    from descentcheck.impl.network import Network

    net = Network.from_spec(dict(spec))
    x, y = net.check_data(x, y)
    params = net.check_params(params)
    E, g = net.loss_and_grad(params, x, y)
    E_mp, G = mp_network.gradient(spec, params, x, y)
    scale = max((float(np.max(np.abs(v), initial=0.0)) for v in G.values()), default=0.0)
    # A gradient that vanishes by symmetry (equal logits, cancelling samples) is exactly 0 in
    # mpmath but rounding noise in float64; judge such noise against the size of the loss, the
    # scale of the terms that cancelled, rather than against 0.
    scale = max(scale, 1e-3 * max(abs(float(E_mp)), 1.0))
    normwise = entrywise = 0.0
    worst = ""
    for k in G:
        diff = np.abs(g[k] - G[k])
        ent = diff / np.maximum(np.abs(G[k]), 1e-3 * scale)
        if diff.size and float(diff.max()) / scale >= normwise:
            normwise = float(diff.max()) / scale
            at = np.unravel_index(int(diff.argmax()), diff.shape)
            worst = f"{k}{[int(i) for i in at]}"  # h2.radii[1], not [np.int64(1)]
        entrywise = max(entrywise, float(ent.max(initial=0.0)))
    loss_rel = abs(E - E_mp) / max(abs(E_mp), 1e-300)
    return NetworkComparison(
        dict(spec), net.n_params, normwise / EPS, entrywise / EPS, loss_rel / EPS, worst
    )


def random_case(
    draws: Draws, n: int = 3, max_steps: int = 5
) -> tuple[dict[str, Any], dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """A random DAG spec with skip connections, parameters and data, all drawn by ``draws``."""
    from descentcheck.impl.network import Network

    spec = random_spec(draws, max_steps)
    net = Network.from_spec(spec)
    params = random_params(draws, net.param_shapes)
    x, y = random_data(draws, spec, net.spec.out_width, n)
    return spec, params, x, y
