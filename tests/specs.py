"""Example specs shared by the tests (the DESIGN.md example and a few DAGs with skips)."""

from __future__ import annotations

from typing import Any

from descentcheck.impl.examples import EXAMPLES

DESIGN_EXAMPLE = EXAMPLES["design"]

CONCAT_DISTANCE_CLASSIFIER = {
    "inputs": 4,
    "output": "logits",
    "loss": "softmax_cross_entropy",
    "nodes": [
        {"name": "h", "op": "dense", "units": 5, "inputs": ["input"]},
        {"name": "a", "op": "sigmoid", "inputs": ["h"]},
        {"name": "sp", "op": "softplus", "inputs": ["h"]},
        {"name": "cat", "op": "concat", "inputs": ["a", "input", "sp"]},
        {"name": "g", "op": "gaussian", "units": 4, "radius": "per_unit", "inputs": ["cat"]},
        {"name": "logits", "op": "gaussian_logits", "units": 3, "inputs": ["g"]},
    ],
}

RELU_MULTI_SKIP = {
    "inputs": 2,
    "output": "out",
    "loss": "mse",
    "nodes": [
        {"name": "d1", "op": "dense", "units": 4, "inputs": ["input"]},
        {"name": "r1", "op": "relu", "inputs": ["d1"]},
        {"name": "d2", "op": "dense", "units": 4, "inputs": ["r1"]},
        {"name": "i2", "op": "identity", "inputs": ["d2"]},
        {"name": "s", "op": "add", "inputs": ["i2", "r1", "d1"]},
        {"name": "out", "op": "dense", "units": 1, "inputs": ["s"]},
    ],
}


#: dense -> relu -> dense, mse: relu's inputs are 0 on rows of zeros (biases start at 0), and a
#: zero input column gives h.W's row a gradient of exactly 0
def hidden_net(
    units: int, act: str, inputs: int = 3, outputs: int = 2, name: str = "a"
) -> dict[str, Any]:
    """dense(units) -> ``act`` (node ``name``) -> dense(outputs), mse."""
    return {
        "inputs": inputs,
        "output": "out",
        "loss": "mse",
        "nodes": [
            {"name": "h", "op": "dense", "units": units, "inputs": ["input"]},
            {"name": name, "op": act, "inputs": ["h"]},
            {"name": "out", "op": "dense", "units": outputs, "inputs": [name]},
        ],
    }


RELU_LAYER = hidden_net(4, "relu")


def relu_net(units: int) -> dict[str, Any]:
    """dense(units) -> relu -> dense(1), mse, on 2 inputs: the gradcheck tests at kinks."""
    return hidden_net(units, "relu", inputs=2, outputs=1)


def one_dense_run(lr: float, L: float, steps: int = 4) -> dict[str, Any]:
    """A whole-run claim's ``run`` (as ``properties.claims.convergence._run`` makes it) for GD
    (adaptive momentum at tau = 0) on one dense unit under mse, two rows (the Hessian's
    largest eigenvalue is 3.35), told the curvature bound ``L``."""
    from types import SimpleNamespace

    import numpy as np

    from descentcheck.impl.network import Network
    from descentcheck.impl.trainer import train

    spec = {
        "inputs": 1,
        "output": "out",
        "loss": "mse",
        "nodes": [{"name": "out", "op": "dense", "units": 1, "inputs": ["input"]}],
    }
    net = Network.from_spec(spec)
    x, y = net.check_data(np.array([[1.0], [2.0]]), np.array([[1.0], [0.5]]))
    params = {"out.W": np.array([[0.3]]), "out.b": np.array([0.1])}
    traj = train(
        net, params, x, y, "adaptive_momentum", lr=lr, tau=0.0, steps=steps, keep_params=True
    )
    case = SimpleNamespace(net=net, x=x, yt=y)
    return {"case": case, "traj": traj, "K": steps, "L": L, "hp": {"lr": lr, "tau": 0.0}}
