"""The reference training loop: full-batch or seeded-minibatch, any optimizer, float64.

``train`` runs K updates ``w_{k+1} = w_k + update(g_k)`` and records a :class:`Trajectory`.
Full batch by default; with ``batch_size`` the data are shuffled once per epoch by
``numpy.random.default_rng(seed)`` and cut into consecutive batches (the last one may be smaller,
as torch's DataLoader does by default); ``losses`` stays the full-batch loss in both cases. A
``batch_size`` of n or more is full batch (no permutation; the trajectory's ``batch_size`` None).
Deterministic: the same inputs and seed give the same bits, on any core count (BLAS runs one
thread inside ``train``: ``impl.threads``).

The loop keeps the parameters in one flat vector (``Network.layout``): each step evaluates the
network on views of it, has the layers write the gradient into views of one reused vector
(``Layer.writes_grads``; what a layer hands back instead is copied in), and lets the
optimizer's flat form (``Optimizer.flat``, same arithmetic as the dict form) update the whole
vector at once, in place; an optimizer without a flat form (a plugin's) is called on dicts,
with a copy of ``w_k`` that it may keep (the same run with ``keep_params`` or without). The
iterate is updated in place too, unless ``keep_params`` asks for every iterate. Norms are
2-norms of the flat vectors.

``backend`` picks the array namespace of the loop (:mod:`descentcheck.impl.backend`): data,
iterate, gradient and optimizer state live there, on a GPU for ``"cupy"``; the checks, the
initial parameters and the minibatch order come from the host, and the trajectory's parameters
go back to it, so a run differs between backends only by the rounding of their arithmetic.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator, Mapping
from operator import is_not
from typing import TYPE_CHECKING, Any

import numpy as np

from descentcheck.registry.optimizers import flat_problem, update_problem

from .backend import Backend, get_backend, namespace
from .errors import HyperparameterError
from .heap import keep_freed_memory
from .network import Network
from .optim import Optimizer, get_optimizer
from .optim.base import Layout
from .threads import one_blas_thread
from .trajectory import Trajectory

if TYPE_CHECKING:
    from tqdm import tqdm

Array = np.ndarray
Params = dict[str, Array]


#: below this, a sum of squares may carry the rounding of subnormal squares (each off by up to
#: 2^-1075): n of them exceed eps times the sum while it is under n 2^-1022
_SQUARES_LOW = 2.0**-960


def _norm(v: Array) -> float:
    """``|v|_2``: the square root of one BLAS dot while the sum of squares lies in
    [2^-960, inf); otherwise scaled by ``max |v_i|`` first (as LAPACK's ``nrm2``), so a finite
    step of 1e200 is recorded as 1e200, not inf (and a gradient so large is not taken for a
    non-finite one), and a gradient of entries near 3e-157, whose squares are subnormal, keeps
    its digits (the dot lost 11 of them: the thorough profile's minibatch claim). NaN or inf
    entries give NaN or inf."""
    xp = namespace(v)
    s = float(xp.dot(v, v))
    if _SQUARES_LOW <= s < math.inf or v.size == 0:
        return math.sqrt(s)
    m = float(xp.max(xp.abs(v)))
    if m == 0.0 or not math.isfinite(m):
        return m
    u = v / m
    return m * math.sqrt(float(xp.dot(u, u)))


def minibatches(n: int, batch_size: int, seed: int) -> Iterator[Array]:
    """Row indices of each step's batch: a fresh permutation per epoch, consecutive slices."""
    rng = np.random.default_rng(seed)
    while True:
        perm = rng.permutation(n)
        for start in range(0, n, batch_size):
            yield perm[start : start + batch_size]


def train(
    net: Network | str | os.PathLike[str] | Mapping[str, Any],
    params: Mapping[str, Array],
    x: Array,
    y: Array,
    optimizer: str | Optimizer = "gd",
    lr: float | None = None,
    steps: int = 100,
    batch_size: int | None = None,
    seed: int = 0,
    progress: bool | None = False,
    keep_params: bool = False,
    backend: str | Backend = "numpy",
    **hyperparameters: Any,
) -> Trajectory:
    """Train ``net`` from ``params`` on (x, y) for ``steps`` updates; see the module docstring.

    ``net`` is a :class:`Network` or anything :meth:`Network.from_spec` reads (a spec dict, a
    spec file's path, a built-in example's name), as for ``check_network_gradient`` and
    ``descentcheck.testing.reference_trajectory``; what it cannot read is a one-line
    ``SpecError``.
    ``optimizer`` is a registered name (then ``lr`` and the hyperparameters it takes, as
    declared in :mod:`descentcheck.registry.optimizers`, e.g. ``momentum=0.5``; one it does not
    take is an error) or an :class:`Optimizer` (then no hyperparameters; its first result is
    checked as the registry checks a plugin's, a wrong one a one-line ``HyperparameterError``).
    ``progress``: True shows a bar, None shows one only on a terminal, False never.
    ``keep_params`` stores every iterate w_0..w_K in ``Trajectory.params_history``.
    ``backend``: ``"numpy"`` (the default, CPU) or ``"cupy"`` (an NVIDIA GPU), see above.
    """
    be = get_backend(backend)  # an unusable backend fails before any work
    if not isinstance(net, Network):  # a spec dict was "'dict' object has no attribute ..."
        net = Network.from_spec(net)
    keep_freed_memory()  # steps recycle their arrays instead of page-faulting them in (glibc)
    opt = _optimizer(optimizer, lr, hyperparameters)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise HyperparameterError(f"steps must be a non-negative integer, got {steps!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise HyperparameterError(f"shuffle seed must be a non-negative integer, got {seed!r}")
    for name, flag in (("keep_params", keep_params), ("progress", progress)):
        if not isinstance(flag, bool | np.bool_) and not (name == "progress" and flag is None):
            # "no" was truthy: every iterate kept (a held-out tester)
            raise HyperparameterError(f"{name} must be True or False, got {flag!r}")
    x, y = net.check_data(x, y)
    w = net.check_params(params)
    batch_size = _batch_size(batch_size, len(x))
    batches = minibatches(len(x), batch_size, seed) if batch_size is not None else None
    run = _Run(net, be, opt, w, keep_params)
    bar = _bar(progress, steps, opt.name)
    t0 = time.perf_counter()
    # one BLAS thread: the same bits on every core count (impl.threads)
    with one_blas_thread(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        run.loop(be.to_device(x), be.to_device(y), steps, batches, bar)
    if bar is not None:
        bar.close()
    if run.status == "completed":
        run.message = f"{steps} steps, final loss {run.losses[-1]:.6g}"
    return Trajectory(
        optimizer=opt.name,
        hyperparameters=dict(opt.hyperparameters),
        losses=np.asarray(run.losses, dtype=np.float64),
        grad_norms=np.asarray(run.grad_norms, dtype=np.float64),
        step_norms=np.asarray(run.step_norms, dtype=np.float64),
        momentum=run.coefs,
        params=_on_host(be, run.w),
        status=run.status,
        message=run.message or f"{steps} steps",
        wall_time=time.perf_counter() - t0,
        batch_size=batch_size,
        seed=seed,
        params_history=[_on_host(be, p) for p in run.history] if run.history is not None else None,
        backend=be.name,
        device=be.device,
    )


def _optimizer(optimizer: str | Optimizer, lr: float | None, hp: dict[str, Any]) -> Optimizer:
    """The optimizer: built from the registry by name, or the one given (then no options)."""
    if isinstance(optimizer, str):
        # the registry says "needs a learning rate (...)" when lr is missing, after naming
        # any option the optimizer does not take (a factory keyword given for its name)
        return get_optimizer(optimizer, lr, **hp)
    if not isinstance(optimizer, Optimizer):
        raise HyperparameterError(
            f"optimizer must be a registered name or an Optimizer, got {type(optimizer).__name__}"
        )
    given = sorted(k for k, v in {"lr": lr, **hp}.items() if v is not None)
    if given:
        raise HyperparameterError(
            f"an Optimizer object carries its own settings; got {given[0]!r} as well"
        )
    return optimizer


def _batch_size(batch_size: int | None, n: int) -> int | None:
    """The batch size, or None for full batch (also when it covers every row)."""
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise HyperparameterError(f"batch size must be a positive integer, got {batch_size!r}")
    if batch_size < 1:
        raise HyperparameterError(f"batch size must be a positive integer, got {batch_size}")
    return None if batch_size >= n else batch_size  # one batch of everything is full batch


def _bar(progress: bool | None, steps: int, name: str) -> Any:
    if progress is False:
        return None
    from tqdm import tqdm

    disable = None if progress is None else False
    return tqdm(total=steps, disable=disable, unit="step", desc=f"train {name}", leave=False)


class _Run:
    """One run's loop state: the flat iterate ``v`` (``w`` its views), the flat gradient, the
    optimizer's state, and the records."""

    def __init__(self, net: Network, be: Backend, opt: Optimizer, w: Params, keep: bool) -> None:
        self.net, self.be, self.opt = net, be, opt
        bounds = net.layout.values()
        starts, stops = tuple(a for a, _, _ in bounds), tuple(b for _, b, _ in bounds)
        self.layout = Layout(tuple(net.layout), starts, stops, tuple(s for _, _, s in bounds))
        self.flat = opt.flat(self.layout) if opt.flat is not None else None
        self.v = be.to_device(net.flatten(w))  # w_k as one vector (a copy: the caller's stay)
        self.w = net.unflatten(self.v)  # views of v: they follow v when it is updated in place
        self.g = be.xp.empty(net.size) if net.size else be.xp.zeros(0)
        # the layers write into views of g, reused every step: only for a flat form, which reads
        # g within its step (a dict form may keep the arrays it is given); numpy's only
        own = be.xp is np and self.flat is not None
        self.g_views = net.unflatten(self.g) if own else None
        self.history = [self.w] if keep else None
        self.state = self.flat.init(self.v) if self.flat is not None else opt.init(self._copy())
        self.losses: list[float] = []
        self.grad_norms: list[float] = []
        self.step_norms: list[float] = []
        self.coefs: list[float | None] = []
        self.status, self.message = "completed", ""

    def _copy(self) -> Params:
        """``w_k`` for a dict form (a plugin's) to keep as it likes: the views ``w`` move with
        ``v`` on the in-place path, so a state holding them (an anchor, Lookahead's slow
        weights) would drift there and not where every iterate is kept."""
        return {k: a.copy() for k, a in self.w.items()}

    def diverged(self, message: str) -> bool:
        self.status, self.message = "diverged", message
        return True

    def loop(
        self, x: Array, y: Array, steps: int, batches: Iterator[Array] | None, bar: tqdm | None
    ) -> None:
        xp, net = self.be.xp, self.net
        for k in range(steps + 1):
            if batches is None:
                E, grads = net.loss_and_grad(self.w, x, y, out=self.g_views)
            else:
                E = float(net.loss(self.w, x, y))
                if k < steps:
                    idx = xp.asarray(next(batches))
                    _, grads = net.loss_and_grad(self.w, x[idx], y[idx], out=self.g_views)
            self.losses.append(E)
            if not math.isfinite(E) and self.diverged(f"loss became {E} at step {k}"):
                return
            if (batches is None or k < steps) and not self.gradient(grads, k):
                return
            if k == steps:
                return
            if not self.update(grads, k):
                return
            if bar is not None:
                bar.update(1)
                if k % 50 == 0:
                    bar.set_postfix(loss=f"{E:.4g}", refresh=False)

    def gradient(self, grads: Params, k: int) -> bool:
        """Gather ``g_k`` into the flat vector (what the layers did not write there) and record
        its norm; False when non-finite."""
        views = self.g_views
        if views is not None:
            # one C-level pass finds a gradient the layers did not write into its view (grads
            # comes in the views' order; in another, every key is looked up below, just slower)
            if any(map(is_not, grads.values(), views.values())):
                for n, view in views.items():
                    if grads[n] is not view:
                        view[...] = grads[n]
        elif self.layout.names:
            # axis=None flattens each array as it copies it: no reshape per array (small DAGs)
            parts = [grads[n] for n in self.layout.names]
            self.g = self.be.xp.concatenate(parts, axis=None, out=self.g)
        gnorm = _norm(self.g)
        self.grad_norms.append(gnorm)
        return math.isfinite(gnorm) or not self.diverged(f"gradient became non-finite at step {k}")

    def update(self, grads: Params, k: int) -> bool:
        """One step ``w_(k+1) = w_k + dw_k``: the flat form in place, else the dict form; False
        when ``dw_k`` is not finite (the run is diverged there)."""
        # nobody keeps w_k: the flat form's step may update v in place itself (one pass)
        stepped = self.flat is not None and self.history is None and self.flat.step is not None
        if stepped:
            out = self.flat.step(self.g, self.state, self.v)  # and v += dw
        elif self.flat is not None:
            out = self.flat.update(self.g, self.state, self.v)
        else:
            out = self.opt.update(grads, self.state, self._copy())
        if k == 0:
            self.check_first(out, grads, "flat step" if stepped else "flat update")
        if self.flat is not None:
            dw, self.state, coef = out
        else:
            updates, self.state, info = out
            dw, coef = self.layout.flatten(updates), info.momentum
        self.step_norms.append(_norm(dw))
        self.coefs.append(coef)
        if not stepped:
            if self.history is None:
                self.v += dw  # nobody keeps w_k, and the views w follow v
            else:
                self.v = self.v + dw
                self.w = self.net.unflatten(self.v)
                self.history.append(self.w)
        # a finite gradient can still give a non-finite step (RMSProp's 0/0 at eps = 0), and a
        # relu maps NaN inputs to 0: the loss stayed finite while NaN filled the weights
        finite = math.isfinite(self.step_norms[-1])
        return finite or not self.diverged(f"update became non-finite at step {k}")

    def check_first(self, out: Any, grads: Params, form: str) -> None:
        """The registry's check of an optimizer's result (the one every result of a registered
        plugin gets), made on the first update only: a hand-built ``Optimizer``'s wrong result
        was a numpy broadcast error or a TypeError from the unpacking. Once is enough: the
        shapes the rule is handed are the same at every step, and a check per step would cost
        every run time in steps of 80 us (a plugin, which stays checked at each, aside)."""
        if self.flat is not None:
            problem, what = flat_problem(out, self.g.shape), f"its {form}"
        else:
            problem, what = update_problem(out, grads), "its update"
        if problem:
            raise HyperparameterError(f"optimizer {self.opt.name!r}: {what} {problem}")


def _on_host(be: Backend, params: dict[str, Array]) -> dict[str, Array]:
    return params if be.xp is np else {k: be.to_host(a) for k, a in params.items()}
