"""descentcheck: checks convergence claims about neural-network training.

The public Python API (see DESIGN.md)::

    import descentcheck as dc
    net = dc.Network.from_spec("spec.json")
    params = net.init(seed=0)              # or dc.load_params("p.npz")
    E, grads = net.loss_and_grad(params, x, y)
    traj = dc.train(net, params, x, y, optimizer="momentum", lr=0.05, momentum=0.5, steps=200)
    r = dc.check_gradient(fun, grad, x0)
"""

from descentcheck.impl.errors import (
    DataError,
    DescentcheckError,
    HyperparameterError,
    ParamsError,
    SpecError,
)
from descentcheck.impl.network import Network
from descentcheck.impl.spec import Spec, load_spec

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "DescentcheckError",
    "HyperparameterError",
    "Network",
    "ParamsError",
    "Spec",
    "SpecError",
    "load_spec",
]
