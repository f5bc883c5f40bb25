"""Where a training step's time goes, layer by layer: matrix products against the rest.

For each layer of a network, on the arrays one training step hands it:

* ``fwd``, ``bwd``: its forward rule and its backward rule, timed where ``loss_and_grad`` runs
  them (each call wrapped by a timer; minimum over ``repeats`` calls), so caches are as cold
  and temporaries as fresh as in a step;
* ``fwd_products``, ``bwd_products``: the matrix products those rules perform
  (:func:`floor.layer_products`: the same shapes and memory layouts, written with ``out=``),
  timed alone in the same way;
* ``fwd_rest``, ``bwd_rest``: the difference, the work a BLAS floor leaves out (elementwise
  passes, reductions, temporaries, Python).

Besides the layers, ``network`` (what ``loss_and_grad`` spends outside the layers' rules: the
loss and its gradient, the sums of gradients over a node's consumers, freeing), ``trainer`` (what a step
of ``train`` does beyond ``loss_and_grad``: copying into the flat gradient what a layer did not
write there, which is nothing for the built-in layers, its norm, the optimizer's flat update and
its norm), ``step`` = ``loss_and_grad`` + ``trainer`` and ``rest`` =
``step`` - products (``rest_of_parts``: the rows' rests summed, less where load varied between
rounds). Times in seconds per step; each part is a minimum over repeats, measured
interleaved (one round of every part per repeat) so that load on a shared machine hits all alike;
with one thread per library (the bench's default) as CPU time, else as wall time. It all runs
inside ``one_blas_thread``, as ``train`` does, so the layers multiply with the BLAS a training
step takes (``impl.ops.blas``: MKL's where it chose MKL) and the products timed alone match them,
and ``loss_and_grad`` writes the gradient into the views of a trainer's flat vector, as in
``train`` (``Layer.writes_grads``).
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
from floor import Product, layer_products, multiply

from descentcheck.impl.backend import get_backend
from descentcheck.impl.heap import keep_freed_memory
from descentcheck.impl.network import Network
from descentcheck.impl.optim import get_optimizer
from descentcheck.impl.threads import one_blas_thread
from descentcheck.impl.trainer import _Run

Row = dict[str, Any]
# one thread per library: the process's CPU time, which load on a shared machine disturbs far less
# than wall time; with more threads CPU time would add them up, so wall time
_clock = (
    time.process_time
    if os.environ.get("DESCENTCHECK_BENCH_THREADS", "1") == "1"
    else time.perf_counter
)


def _timers(net: Network, best: list[list[float]], spent: list[float]) -> None:
    """Wrap each layer's forward and backward (instance attributes, removed by
    :func:`_untimed`) so that every call keeps the minimum of its time in ``best[i]`` and adds
    it to ``spent[0]``."""
    for i, layer in enumerate(net.layers):
        fwd, bwd = layer.forward, layer.backward

        def forward(p, xs, i=i, fwd=fwd):
            t0 = _clock()
            out = fwd(p, xs)
            t = _clock() - t0
            best[i][0], spent[0] = min(best[i][0], t), spent[0] + t
            return out

        def backward(p, cache, gy, i=i, bwd=bwd, **into):  # into: the trainer's views
            t0 = _clock()
            out = bwd(p, cache, gy, **into)
            t = _clock() - t0
            best[i][1], spent[0] = min(best[i][1], t), spent[0] + t
            return out

        layer.forward, layer.backward = forward, backward


def _untimed(net: Network) -> None:
    for layer in net.layers:
        del layer.forward, layer.backward


def _products_time(prods: list[Product]) -> float:
    t0 = _clock()
    for a, b, o in prods:
        multiply(a, b, o)
    return _clock() - t0


def _run(net: Network, params, lr: float, beta: float) -> _Run:
    """A momentum run's loop state, as ``train`` builds it."""
    opt = get_optimizer("momentum", lr, momentum=beta)
    return _Run(net, get_backend("numpy"), opt, params, False)


def _trainer_time(run: _Run, grads) -> float:
    """One step's work in the trainer beyond ``loss_and_grad``: gathering into the flat vector
    what the layers did not write there, with its norm (``gradient``), the momentum update with
    its norm (``update``)."""
    run.gradient(grads, 0)
    run.update(grads, 0)  # the first update makes momentum's buffer
    t0 = _clock()
    run.gradient(grads, 1)
    run.update(grads, 1)
    return _clock() - t0


def step_breakdown(
    net: Network, params, x, y, lr: float, beta: float, repeats: int = 7
) -> dict[str, Any]:
    """The per-layer rows, the loss, the trainer's share of a momentum step, and totals. The
    parts are measured interleaved, one round of each per repeat, minimum over repeats."""
    with one_blas_thread():
        return _breakdown(net, params, x, y, lr, beta, repeats)


def _breakdown(net: Network, params, x, y, lr: float, beta: float, repeats: int) -> dict[str, Any]:
    keep_freed_memory()  # as train does: the step's arrays recycled, not page-faulted in
    x, y = net.check_data(x, y)
    params = net.check_params(params)
    rng = np.random.default_rng(0)
    prods = [layer_products(layer, len(x), rng) for layer in net.layers]
    best = [[float("inf")] * 4 for _ in net.layers]  # fwd, bwd, fwd products, bwd products
    network = lag = trainer = float("inf")
    run = _run(net, params, lr, beta)
    views = run.g_views
    _, grads = net.loss_and_grad(params, x, y, out=views)  # warm-up
    for _ in range(repeats):
        spent = [0.0]
        _timers(net, best, spent)
        try:
            t0 = _clock()
            net.loss_and_grad(params, x, y, out=views)
            t = _clock() - t0
        finally:
            _untimed(net)
        lag, network = min(lag, t), min(network, t - spent[0])
        for b, (fp, bp) in zip(best, prods):
            b[2] = min(b[2], _products_time(fp))
            b[3] = min(b[3], _products_time(bp))
        trainer = min(trainer, _trainer_time(run, grads))
    rows = [
        {
            "layer": layer.name,
            "op": type(layer).__name__,
            "fwd": f,
            "fwd_products": fp,
            "fwd_rest": f - fp,
            "bwd": b,
            "bwd_products": bp,
            "bwd_rest": b - bp,
        }
        for layer, (f, b, fp, bp) in zip(net.layers, best)
    ]
    products = sum(r["fwd_products"] + r["bwd_products"] for r in rows)
    step = lag + trainer
    return {
        "layers": rows,
        "network": network,
        "trainer": trainer,
        "loss_and_grad": lag,
        "step": step,
        "products": products,
        "rest": step - products,
        "rest_of_parts": sum(r["fwd_rest"] + r["bwd_rest"] for r in rows) + network + trainer,
    }
