"""descentcheck: checks convergence claims about neural-network training.

The public Python API (see DESIGN.md)::

    import descentcheck as dc
    net = dc.Network.from_spec("spec.json")
    params = net.init(seed=0)              # or dc.load_params("p.npz")
    E, grads = net.loss_and_grad(params, x, y)
    traj = dc.train(net, params, x, y, optimizer="momentum", lr=0.05, momentum=0.5, steps=200)
    r = dc.check_gradient(fun, grad, x0)
    ref = dc.reference_trajectory(spec, params, x, y, optimizer="gd", lr=0.1, steps=50)
    dc.assert_trajectory_close(ref, my_frameworks_run, rtol=1e-9)   # descentcheck.testing

Names are imported on first use, so the command line starts fast.
"""

from __future__ import annotations

import importlib
from pathlib import Path as _Path
from typing import Any

# In a source checkout the subpackages sit beside this folder (the build maps them in); let
# `python -m descentcheck` and tests run from the checkout find them there too.
_here = _Path(__file__).resolve().parent
if not (_here / "impl").is_dir() and (_here.parent / "impl" / "network.py").is_file():
    __path__.append(str(_here.parent))

__version__ = "0.1.0"

_EXPORTS = {
    "DataError": "impl.errors",
    "DescentcheckError": "impl.errors",
    "GradcheckError": "impl.errors",
    "HyperparameterError": "impl.errors",
    "ParamsError": "impl.errors",
    "SpecError": "impl.errors",
    "Dataset": "impl.data",
    "load_data": "impl.data",
    "check_gradient": "impl.gradcheck",
    "check_network_gradient": "impl.gradcheck",
    "load_params": "impl.io",
    "save_params": "impl.io",
    "Network": "impl.network",
    "OPTIMIZERS": "impl.optim",
    "Optimizer": "impl.optim",
    "get_optimizer": "impl.optim",
    "Spec": "impl.spec",
    "load_spec": "impl.spec",
    "train": "impl.trainer",
    "Trajectory": "impl.trajectory",
    "TrajectoryMismatch": "testing",
    "assert_trajectory_close": "testing",
    "reference_trajectory": "testing",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"descentcheck.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'descentcheck' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
