"""Minibatch training measured per epoch, for the distance-network experiments.

``descentcheck.impl.trainer.train`` records the full-batch loss at every step, which is what the
descent claims need and what costs most on a data set of hundreds of rows. Epoch curves need
the loss and accuracy once per epoch only, so this loop runs the same algorithm (the same
optimizer's ``update``, the same batches from ``impl.trainer.minibatches``: one permutation per
epoch from ``numpy.random.default_rng(seed)``) and evaluates at epoch ends. The report's tests
check that its parameters equal the trainer's bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Array = np.ndarray


@dataclass
class EpochCurves:
    """Per-epoch measurements; index 0 is before training."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    status: str = "completed"

    def to_json(self) -> dict[str, Any]:
        def clean(v: list[float]) -> list[float | None]:
            return [float(a) if math.isfinite(a) else None for a in v]

        return {
            "train_loss": clean(self.train_loss),
            "train_acc": clean(self.train_acc),
            "test_loss": clean(self.test_loss),
            "test_acc": clean(self.test_acc),
            "status": self.status,
        }


def evaluate(net: Any, params: Mapping[str, Array], x: Array, y1h: Array) -> tuple[float, float]:
    """(loss, accuracy) of ``params`` on (x, one-hot y)."""
    with np.errstate(all="ignore"):
        out = net.forward(params, x)
        loss = float(net.loss_fn(out, y1h))
    acc = float(np.mean(np.argmax(out, axis=1) == np.argmax(y1h, axis=1)))
    return loss, acc


def train_epochs(
    net: Any,
    params: Mapping[str, Array],
    data: tuple[Array, Array, Array, Array],
    optimizer: str,
    epochs: int,
    batch_size: int,
    seed: int = 0,
    **hyperparameters: Any,
) -> tuple[EpochCurves, dict[str, Array]]:
    """Train for ``epochs`` epochs of minibatches; curves per epoch and the final parameters.

    ``data`` is (x_train, y_train, x_test, y_test) with one-hot targets. A non-finite loss
    stops the run with status "diverged" (later epochs are filled with nan)."""
    from descentcheck.impl.optim import apply_updates, get_optimizer
    from descentcheck.impl.trainer import minibatches

    x, y, xt, yt = data
    opt = get_optimizer(optimizer, **hyperparameters)
    w = net.check_params(params)
    state = opt.init(w)
    batches = minibatches(len(x), batch_size, seed)
    per_epoch = math.ceil(len(x) / batch_size)
    curves = EpochCurves()

    def record(w: Mapping[str, Array]) -> bool:
        a, b = evaluate(net, w, x, y)
        c, d = evaluate(net, w, xt, yt)
        for lst, v in zip(
            (curves.train_loss, curves.train_acc, curves.test_loss, curves.test_acc), (a, b, c, d)
        ):
            lst.append(v)
        return math.isfinite(a)

    record(w)
    for epoch in range(epochs):
        with np.errstate(all="ignore"):
            for _ in range(per_epoch):
                idx = next(batches)
                _, g = net.loss_and_grad(w, x[idx], y[idx])
                updates, state, _ = opt.update(g, state, w)
                w = apply_updates(w, updates)
        if not record(w):
            curves.status = "diverged"
            for lst in (curves.train_loss, curves.train_acc, curves.test_loss, curves.test_acc):
                lst.extend([math.nan] * (epochs - epoch - 1))
            break
    return curves, w
