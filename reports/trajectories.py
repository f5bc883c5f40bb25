"""Trajectories: loss, gradient norm and momentum coefficient per step, for representative DAGs
and each registered optimizer (the five built-ins, and any plugin's).

Each DAG trains full batch on a small real or synthetic data set from the same w_0 with every
optimizer. Learning rates are set from the estimated L_0 at w_0 so that the comparison is fair
across networks: lr = 1/L_0 for gradient descent, heavy ball and Nesterov (beta = 0.5) and
adaptive momentum (tau = 0.8 tau_max(lr, L_0), inside the derived region); RMSProp is not
L-scaled (its step is normalised per coordinate), lr = 0.01, rho = 0.99. A plugin's optimizer
runs with lr = 0.01 and its declared defaults (a required hyperparameter other than lr: left out,
the run is skipped).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .profiles import ReportProfile
from .progress import Progress

BUILTIN_SETTINGS = ("gd", "momentum", "nesterov", "adaptive_momentum", "rmsprop")


def optimizers() -> tuple[str, ...]:
    """The registered optimizers that can run here: the built-ins, and each plugin whose only
    required hyperparameter is lr."""
    from descentcheck.registry.optimizers import registry

    def runs_here(e: Any) -> bool:
        return all(h.name == "lr" or not h.required for h in e.hyperparameters)

    return tuple(n for n, e in registry().items() if n in BUILTIN_SETTINGS or runs_here(e))


DAGS: dict[str, dict[str, Any]] = {
    "chain_iris": {
        "title": "sequential chain (iris)",
        "data": "iris",
        "spec": {
            "inputs": 4,
            "output": "out",
            "loss": "softmax_cross_entropy",
            "nodes": [
                {"name": "h1", "op": "dense", "units": 8, "inputs": ["input"]},
                {"name": "a1", "op": "tanh", "inputs": ["h1"]},
                {"name": "h2", "op": "dense", "units": 8, "inputs": ["a1"]},
                {"name": "a2", "op": "tanh", "inputs": ["h2"]},
                {"name": "out", "op": "dense", "units": 3, "inputs": ["a2"]},
            ],
        },
    },
    "skip_iris": {
        "title": "add and concat skips (iris)",
        "data": "iris",
        "spec": {
            "inputs": 4,
            "output": "out",
            "loss": "softmax_cross_entropy",
            "nodes": [
                {"name": "h1", "op": "dense", "units": 8, "inputs": ["input"]},
                {"name": "a1", "op": "tanh", "inputs": ["h1"]},
                {"name": "h2", "op": "dense", "units": 8, "inputs": ["a1"]},
                {"name": "a2", "op": "tanh", "inputs": ["h2"]},
                {"name": "s", "op": "add", "inputs": ["a2", "a1"]},
                {"name": "c", "op": "concat", "inputs": ["s", "input"]},
                {"name": "out", "op": "dense", "units": 3, "inputs": ["c"]},
            ],
        },
    },
    "distance_iris": {
        "title": "distance network (iris)",
        "data": "iris",
        "spec": {
            "inputs": 4,
            "output": "out",
            "loss": "softmax_cross_entropy",
            "nodes": [
                {"name": "g1", "op": "gaussian", "units": 8, "inputs": ["input"]},
                {"name": "g2", "op": "gaussian", "units": 8, "inputs": ["g1"]},
                {"name": "out", "op": "gaussian_logits", "units": 3, "inputs": ["g2"]},
            ],
        },
    },
    "sine_skip": {
        "title": "regression DAG with a distance layer (sine)",
        "data": "sine",
        "spec": "sine_skip",
    },
}


def hyperparameters(name: str, L0: float) -> dict[str, Any]:
    """The optimizer's settings for a network whose L at w_0 is ``L0`` (module docstring)."""
    from descentcheck.theory.descent import max_tau

    lr = 1.0 / L0
    if name == "gd":
        return {"lr": lr}
    if name in ("momentum", "nesterov"):
        return {"lr": lr, "momentum": 0.5}
    if name == "adaptive_momentum":
        return {"lr": lr, "tau": 0.8 * max_tau(lr, L0)}
    if name == "rmsprop":
        return {"lr": 0.01, "rho": 0.99}
    return {"lr": 0.01}


def _series(a: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in np.asarray(a, dtype=float)]


def run_dag(key: str, steps: int, seed: int) -> dict[str, Any]:
    """Train one DAG with every optimizer; the per-step series and a summary per optimizer."""
    from descentcheck.impl.data import load_data
    from descentcheck.impl.examples import EXAMPLES
    from descentcheck.impl.network import Network
    from descentcheck.impl.trainer import train

    from .region import decreased_every_step
    from .smoothness import estimate_L

    d = DAGS[key]
    spec = EXAMPLES[d["spec"]] if isinstance(d["spec"], str) else d["spec"]
    net = Network.from_spec(spec)
    ds = load_data(d["data"])
    x, y = net.check_data(ds.x, ds.y)
    params = net.init(seed=seed, x=x)
    L0 = estimate_L(net, params, x, y)
    runs = {}
    for opt in optimizers():
        hp = hyperparameters(opt, L0)
        traj = train(net, params, x, y, optimizer=opt, steps=steps, **hp)
        ok, first, _ = decreased_every_step(traj.losses)
        runs[opt] = {
            # every setting the run used, its optimizer's defaults too (a plugin's c = 1.0)
            "hyperparameters": dict(traj.hyperparameters),
            "loss": _series(traj.losses),
            "grad_norm": _series(traj.grad_norms),
            "momentum": [None if m is None else float(m) for m in traj.momentum],
            "final_loss": float(traj.losses[-1]),
            "decreased_every_step": ok,
            "first_increase": first,
            "status": traj.status,
        }
    return {
        "title": d["title"],
        "data": d["data"],
        "spec": spec,
        "n_params": net.n_params,
        "n": len(x),
        "L0": L0,
        "runs": runs,
    }


def run(profile: ReportProfile, seed: int, progress: Progress) -> dict[str, Any]:
    progress.stage("trajectories")
    out = {"steps": profile.trajectory_steps, "dags": {}}
    for key in DAGS:
        out["dags"][key] = run_dag(key, profile.trajectory_steps, seed)
        progress.tick()
    return out


def units(profile: ReportProfile) -> int:
    return len(DAGS)
