"""The reference training loop: full-batch or seeded-minibatch, any optimizer, float64.

``train`` runs K updates ``w_{k+1} = w_k + update(g_k)`` and records a :class:`Trajectory`.
Full batch by default; with ``batch_size`` the data are shuffled once per epoch by
``numpy.random.default_rng(seed)`` and cut into consecutive batches (the last one may be smaller,
as torch's DataLoader does by default); ``losses`` stays the full-batch loss in both cases.
Deterministic: the same inputs and seed give the same bits.

The loop keeps the parameters in one flat vector (``Network.layout``): each step evaluates the
network on views of it, concatenates the gradient into one reused vector, and lets the
optimizer's flat form (``Optimizer.flat``, same arithmetic as the dict form) update the whole
vector at once, in place; an optimizer without a flat form is called on dicts as before. The
iterate is updated in place too, unless ``keep_params`` asks for every iterate. Norms are
2-norms of the flat vectors.

``backend`` picks the array namespace of the loop (:mod:`descentcheck.impl.backend`): data,
iterate, gradient and optimizer state live there, on a GPU for ``"cupy"``; the checks, the
initial parameters and the minibatch order come from the host, and the trajectory's parameters
go back to it, so a run differs between backends only by the rounding of their arithmetic.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping

import numpy as np

from .backend import Backend, get_backend, namespace
from .errors import HyperparameterError
from .network import Network
from .optim import Optimizer, get_optimizer
from .optim.base import Layout
from .trajectory import Trajectory

Array = np.ndarray


def _norm(v: Array) -> float:
    return math.sqrt(float(namespace(v).dot(v, v)))


def minibatches(n: int, batch_size: int, seed: int) -> Iterator[Array]:
    """Row indices of each step's batch: a fresh permutation per epoch, consecutive slices."""
    rng = np.random.default_rng(seed)
    while True:
        perm = rng.permutation(n)
        for start in range(0, n, batch_size):
            yield perm[start : start + batch_size]


def train(
    net: Network,
    params: Mapping[str, Array],
    x: Array,
    y: Array,
    optimizer: str | Optimizer = "gd",
    lr: float | None = None,
    momentum: float | None = None,
    tau: float | None = None,
    rho: float | None = None,
    eps: float | None = None,
    group: str | None = None,
    steps: int = 100,
    batch_size: int | None = None,
    seed: int = 0,
    progress: bool | None = False,
    keep_params: bool = False,
    backend: str | Backend = "numpy",
) -> Trajectory:
    """Train ``net`` from ``params`` on (x, y) for ``steps`` updates; see the module docstring.

    ``optimizer`` is a name (then ``lr`` and the options it takes) or an :class:`Optimizer`.
    ``progress``: True shows a bar, None shows one only on a terminal, False never.
    ``keep_params`` stores every iterate w_0..w_K in ``Trajectory.params_history``.
    ``backend``: ``"numpy"`` (the default, CPU) or ``"cupy"`` (an NVIDIA GPU), see above.
    """
    be = get_backend(backend)  # an unusable backend fails before any work
    xp = be.xp
    if isinstance(optimizer, str):
        if lr is None:
            raise HyperparameterError(f"optimizer {optimizer} needs a learning rate (--lr)")
        opt = get_optimizer(
            optimizer, lr, momentum=momentum, tau=tau, rho=rho, eps=eps, group=group
        )
    else:
        opt = optimizer
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise HyperparameterError(f"steps must be a non-negative integer, got {steps!r}")
    x, y = net.check_data(x, y)
    w = net.check_params(params)
    n = len(x)
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise HyperparameterError(f"batch size must be a positive integer, got {batch_size!r}")
        if batch_size < 1:
            raise HyperparameterError(f"batch size must be a positive integer, got {batch_size}")
        if batch_size >= n:
            batch_size = None  # one batch of everything is full batch
    batches = minibatches(n, batch_size, seed) if batch_size is not None else None
    x, y = be.to_device(x), be.to_device(y)

    bar = None
    if progress is not False:
        from tqdm import tqdm

        bar = tqdm(
            total=steps,
            disable=None if progress is None else False,
            unit="step",
            desc=f"train {opt.name}",
            leave=False,
        )

    losses: list[float] = []
    grad_norms: list[float] = []
    step_norms: list[float] = []
    coefs: list[float | None] = []
    bounds = net.layout.values()
    starts, stops = tuple(a for a, _, _ in bounds), tuple(b for _, b, _ in bounds)
    layout = Layout(tuple(net.layout), starts, stops, tuple(s for _, _, s in bounds))
    flat = opt.flat(layout) if opt.flat is not None else None
    v = be.to_device(net.flatten(w))  # the iterate w_k as one vector (a copy: the caller's stay)
    w = net.unflatten(v)  # views of v: they follow v when it is updated in place
    names = layout.names
    g = xp.empty(net.size) if net.size else xp.zeros(0)
    history = [w] if keep_params else None
    state = flat.init(v) if flat is not None else opt.init(w)
    status, message = "completed", f"{steps} steps"
    t0 = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for k in range(steps + 1):
            if batches is None:
                E, grads = net.loss_and_grad(w, x, y)
            else:
                E = float(net.loss(w, x, y))
                if k < steps:
                    idx = xp.asarray(next(batches))
                    _, grads = net.loss_and_grad(w, x[idx], y[idx])
            losses.append(E)
            if not math.isfinite(E):
                status = "diverged"
                message = f"loss became {E} at step {k}"
                break
            if batches is None or k < steps:
                if names:
                    g = xp.concatenate([grads[n].reshape(-1) for n in names], out=g)
                gnorm = _norm(g)
                grad_norms.append(gnorm)
                if not math.isfinite(gnorm):
                    status = "diverged"
                    message = f"gradient became non-finite at step {k}"
                    break
            if k == steps:
                break
            if flat is not None:
                dw, state, coef = flat.update(g, state, v)
            else:
                updates, state, info = opt.update(grads, state, w)
                dw, coef = layout.flatten(updates), info.momentum
            step_norms.append(_norm(dw))
            coefs.append(coef)
            if history is None:
                v += dw  # nobody keeps w_k, and the views w follow v
            else:
                v = v + dw
                w = net.unflatten(v)
                history.append(w)
            if bar is not None:
                bar.update(1)
                if k % 50 == 0:
                    bar.set_postfix(loss=f"{E:.4g}", refresh=False)
    if bar is not None:
        bar.close()
    if status == "completed":
        message = f"{steps} steps, final loss {losses[-1]:.6g}"
    return Trajectory(
        optimizer=opt.name,
        hyperparameters=dict(opt.hyperparameters),
        losses=np.asarray(losses, dtype=np.float64),
        grad_norms=np.asarray(grad_norms, dtype=np.float64),
        step_norms=np.asarray(step_norms, dtype=np.float64),
        momentum=coefs,
        params=_on_host(be, w),
        status=status,
        message=message,
        wall_time=time.perf_counter() - t0,
        batch_size=batch_size,
        seed=seed,
        params_history=[_on_host(be, p) for p in history] if history is not None else None,
        backend=be.name,
        device=be.device,
    )


def _on_host(be: Backend, params: dict[str, Array]) -> dict[str, Array]:
    return params if be.xp is np else {k: be.to_host(a) for k, a in params.items()}
