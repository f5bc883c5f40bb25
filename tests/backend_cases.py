"""Training runs that are repeated on another array backend and compared with the numpy run.

They cover every op (dense, both Gaussian radius kinds, every activation, add and concat skips),
both losses, all five optimizers (adaptive momentum in each grouping), full batch and minibatches,
and both evaluations of the distance layer: the small nets take the direct one, the digits nets
(1797 rows) the matmul one, whose data-driven centroids sit on data rows and so also exercise its
recompute-near-pairs branch.

Each is well-conditioned (``tests/test_backend.py`` checks it): a rounding-sized change of the
start moves the trajectory by at most 1e4 times as much, so the GPU tests' 1e-10 is a bar that
float64 arithmetic in another order can meet. :data:`ILL_CONDITIONED` is the counterexample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from specs import CONCAT_DISTANCE_CLASSIFIER, RELU_MULTI_SKIP

from descentcheck.impl.data import load_data
from descentcheck.impl.examples import EXAMPLES
from descentcheck.impl.network import Network
from descentcheck.impl.ops.gaussian import MATMUL_MIN_SIZE
from descentcheck.impl.trainer import train
from descentcheck.impl.trajectory import Trajectory

DEEP_DISTANCE_PER_UNIT = {
    "inputs": 64,
    "output": "logits",
    "loss": "softmax_cross_entropy",
    "nodes": [
        {"name": "g1", "op": "gaussian", "units": 48, "radius": "per_unit", "inputs": ["input"]},
        {"name": "g2", "op": "gaussian", "units": 40, "inputs": ["g1"]},
        {"name": "cat", "op": "concat", "inputs": ["g2", "g1"]},
        {"name": "logits", "op": "gaussian_logits", "units": 10, "inputs": ["cat"]},
    ],
}


@dataclass(frozen=True)
class Case:
    id: str
    spec: dict[str, Any]
    data: str
    optimizer: str
    options: dict[str, Any] = field(default_factory=dict)
    steps: int = 15
    batch_size: int | None = None

    def problem(self) -> tuple[Network, dict[str, np.ndarray], np.ndarray, np.ndarray]:
        ds = load_data(self.data)
        net = Network.from_spec(self.spec)
        return net, net.init(seed=3, x=ds.x), ds.x, ds.y

    def run(self, backend: str) -> Trajectory:
        net, params, x, y = self.problem()
        return train(
            net,
            params,
            x,
            y,
            self.optimizer,
            steps=self.steps,
            batch_size=self.batch_size,
            seed=5,
            backend=backend,
            **self.options,
        )

    def takes_matmul_path(self) -> bool:
        net, params, x, _ = self.problem()
        n = self.batch_size or len(x)
        return any(
            n * params[f"{layer.name}.centroids"].size >= MATMUL_MIN_SIZE
            for layer in net.layers
            if layer.inputs == ("input",) and f"{layer.name}.centroids" in params
        )


CASES = [
    Case("design/momentum", {**EXAMPLES["design"], "inputs": 2}, "spirals", "momentum",
         {"lr": 0.05, "momentum": 0.5}),
    Case("sine_skip/nesterov", EXAMPLES["sine_skip"], "sine", "nesterov",
         {"lr": 0.05, "momentum": 0.9}),
    Case("concat_distance/gd", CONCAT_DISTANCE_CLASSIFIER, "iris", "gd", {"lr": 0.2}),
    Case("concat_distance/adaptive_global", CONCAT_DISTANCE_CLASSIFIER, "iris",
         "adaptive_momentum", {"lr": 0.1, "tau": 0.05, "group": "global"}),
    Case("relu_skip/rmsprop_momentum", RELU_MULTI_SKIP, "xor", "rmsprop",
         {"lr": 0.01, "momentum": 0.5}),
    Case("digits_skip/adaptive_node/minibatch", EXAMPLES["digits_skip"], "digits",
         "adaptive_momentum", {"lr": 0.1, "tau": 0.05, "group": "node"}, batch_size=128),
    Case("digits_distance/rmsprop", EXAMPLES["digits_distance"], "digits", "rmsprop",
         {"lr": 0.01, "eps": 1e-4}),
    Case("digits_distance/nesterov", EXAMPLES["digits_distance"], "digits", "nesterov",
         {"lr": 0.05, "momentum": 0.9}),
    Case("deep_distance_per_unit/adaptive_array", DEEP_DISTANCE_PER_UNIT, "digits",
         "adaptive_momentum", {"lr": 0.1, "tau": 0.05}),
    Case("deep_distance_per_unit/momentum/minibatch", DEEP_DISTANCE_PER_UNIT, "digits",
         "momentum", {"lr": 0.1, "momentum": 0.9}, batch_size=256),
]  # fmt: skip


ILL_CONDITIONED = Case(
    "digits_distance/rmsprop_eps1e-8",
    EXAMPLES["digits_distance"],
    "digits",
    "rmsprop",
    {"lr": 0.01},
)
"""RMSProp at torch's default eps = 1e-8 on the deep distance net: components of the gradient
near 1e-12, known only to a few digits, become steps of lr * g / eps; a 1e-15 relative change of
the initial parameters moves the parameters after 15 steps by about 1e-5 relative. Float64 fixes
this trajectory only to that accuracy, on any device, so it is not one of :data:`CASES`."""


def perturbed_run(case: Case, rel: float = 1e-15) -> Trajectory:
    """``case`` on numpy from initial parameters scaled by ``1 + rel * cos(index)``: how far the
    trajectory moves when its start moves by a rounding-sized amount."""
    net, params, x, y = case.problem()
    moved = {k: v * (1.0 + rel * np.cos(np.arange(v.size)).reshape(v.shape))
             for k, v in params.items()}  # fmt: skip
    return train(net, moved, x, y, case.optimizer, steps=case.steps, batch_size=case.batch_size,
                 seed=5, **case.options)  # fmt: skip


def relative_difference(ref: Trajectory, other: Trajectory) -> float:
    """The largest difference over the losses, gradient and step norms, momentum coefficients and
    the final parameters, each relative to the reference's largest magnitude of the same quantity."""
    worst = 0.0
    pairs = [
        (ref.losses, other.losses),
        (ref.grad_norms, other.grad_norms),
        (ref.step_norms, other.step_norms),
        ([c or 0.0 for c in ref.momentum], [c or 0.0 for c in other.momentum]),
        *((ref.params[k], other.params[k]) for k in ref.params),
    ]
    for a, b in pairs:
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape
        scale = float(np.max(np.abs(a), initial=0.0))
        if scale > 0:
            worst = max(worst, float(np.max(np.abs(a - b))) / scale)
    return worst
