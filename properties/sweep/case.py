"""Evaluate one case: a pure function of its JSON (and of a data file's bytes, found by hash).

Steps: build the network from the inlined spec; load the data (a built-in with its seed, a
file checked against its SHA-256, or random data drawn to fit the spec with
``theory.random_specs.random_data`` from ``default_rng(seed)``), subsampled by
``default_rng(seed).choice(n, subsample, replace=False)`` (sorted) when asked; initialise
``w_0 = net.init(init_seed, x)``; estimate ``L_0`` at w_0 when the case needs it; resolve the
hyperparameters (``lr`` and ``tau`` divided by L_0 when ``relative_to_L``); train full batch for
``steps`` updates; run the checks (:mod:`.checks`). The result::

    {"L0": float | null, "hyperparameters": {...as trained...}, "status": "completed" |
     "diverged", "steps_done": int, "checks": {NAME: {...}, ...}}

Same JSON, same numpy, same result bits: nothing reads the clock, the environment or global
random state (the worker limits BLAS to one thread, see :mod:`.worker`).
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from descentcheck.impl.trajectory import json_float

from . import checks as C
from .errors import CaseError

Array = np.ndarray


@functools.lru_cache(maxsize=8)
def _builtin(name: str, seed: int) -> tuple[Array, Array]:
    from descentcheck.impl.data import load_data

    ds = load_data(name, seed=seed)
    return ds.x, ds.y


def _file(path: str, sha256: str) -> tuple[Array, Array]:
    """The data file's arrays, its digest checked; cached per size and modification time, so a
    file changed after it was first read (during a sweep, before a replay) is read and checked
    again, not served from the cache."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise CaseError(f"data file {path} cannot be read: {e.strerror or e}") from None
    return _file_checked(path, sha256, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _file_checked(path: str, sha256: str, size: int, mtime_ns: int) -> tuple[Array, Array]:
    from descentcheck.impl.data import load_data

    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != sha256:
        raise CaseError(f"data file {path} changed since the sweep was planned (SHA-256 differs)")
    ds = load_data(path)
    return ds.x, ds.y


def load_case_data(
    data: Mapping[str, Any], spec: Mapping[str, Any], out_width: int, files: Mapping[str, str]
) -> tuple[Array, Array]:
    """The case's (x, y), as described in the module docstring."""
    kind = data["kind"]
    if kind == "random":
        from descentcheck.impl.random_dag import SeededDraws
        from descentcheck.theory.random_specs import random_data

        return random_data(SeededDraws(data["seed"]), dict(spec), out_width, data["n"])
    if kind == "builtin":
        x, y = _builtin(data["name"], data["seed"])
    elif kind == "file":
        path = files.get(data["sha256"])
        if path is None:
            raise CaseError(f"no path given for data file {data['name']} ({data['sha256'][:12]})")
        x, y = _file(path, data["sha256"])
    else:
        raise CaseError(f"unknown data kind {kind!r}")
    if data.get("subsample") is not None:
        rng = np.random.default_rng(data["seed"])
        idx = np.sort(rng.choice(len(x), size=data["subsample"], replace=False))
        x, y = x[idx], y[idx]
    return x, y


@dataclass(frozen=True)
class Prepared:
    """What a case trains: its network, its data as loaded (``data``: x and y before
    ``check_data``, as a data file holds them) and as trained (``x``, ``y``), the initial
    parameters w_0, L_0 (None when the case does not estimate it) and the hyperparameters as
    trained (already divided by L_0)."""

    net: Any
    data: tuple[Array, Array]
    x: Array
    y: Array
    w0: dict[str, Array]
    L0: float | None
    hyperparameters: dict[str, Any]


def prepare(case: Mapping[str, Any], files: Mapping[str, str] | None = None) -> Prepared:
    """Everything before the training of one case (the module docstring's steps 1-4); the sweep
    and ``descentcheck replay`` both start from it, so a replayed case is the case."""
    from descentcheck.impl.network import Network

    net = Network.from_spec(case["architecture"]["spec"])
    data = load_case_data(
        case["data"], case["architecture"]["spec"], net.spec.out_width, files or {}
    )
    x, y = net.check_data(*data)
    w0 = net.init(seed=case["init_seed"], x=x)
    L0: float | None = None
    if "estimate_L" in case:
        from descentcheck.theory.smoothness import estimate_L

        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            L0 = float(estimate_L(net, w0, x, y, **case["estimate_L"]))
    hp = dict(case["hyperparameters"])
    if case.get("relative_to_L"):
        if L0 is None or not np.isfinite(L0) or L0 <= 0:
            raise CaseError(f"relative_to_L needs a finite L_0 > 0, got {L0}")
        from descentcheck.registry.optimizers import get

        for h in get(case["optimizer"]).hyperparameters:  # those in the units of a step
            if h.step_size and (k := h.name) in hp:
                hp[k] = float(hp[k]) / L0
    return Prepared(net, data, x, y, w0, L0, hp)


def evaluate(case: Mapping[str, Any], files: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run one case; see the module docstring. Raises a ``DescentcheckError`` for a case that
    cannot run (the worker records it as failed)."""
    from descentcheck.impl.trainer import train

    p = prepare(case, files)
    L0, hp = p.L0, p.hyperparameters
    traj = train(p.net, p.w0, p.x, p.y, optimizer=case["optimizer"], steps=case["steps"], **hp)
    results: dict[str, Any] = {}
    for name in case["checks"]:
        if name == "decrease_every_step":
            results[name] = C.decrease_every_step(traj)
        elif name == "inside_region":
            assert L0 is not None
            results[name] = C.inside_region(case["optimizer"], hp, L0, C.rough_ops(p.net.spec))
        elif name == "final_loss":
            results[name] = C.final_loss(traj)
        elif name == "diverged":
            results[name] = C.diverged(traj)
        else:
            raise CaseError(f"unknown check {name!r}")
    return {
        "L0": json_float(L0),
        "hyperparameters": {k: json_float(v) if isinstance(v, float) else v for k, v in hp.items()},
        "status": traj.status,
        "steps_done": traj.steps,
        "checks": results,
    }
