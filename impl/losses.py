"""Losses over n samples, each value beside its gradient with respect to the network output.

``mse`` (the tutorial's regression loss, identity output)::

    E = 1/(2n) sum_i ||yhat_i - y_i||^2          dE/dyhat = (yhat - y) / n

``softmax_cross_entropy`` (softmax output, one-hot rows or integer labels)::

    E = -1/n sum_i sum_k y_ik log softmax(yhat_i)_k
    dE/dyhat_ik = (softmax(yhat_i)_k * sum_m y_im - y_ik) / n

which is ``(softmax - y)/n`` when each label row sums to one. ``log softmax`` is computed as
``yhat - logsumexp(yhat)`` with the row maximum (of the real part) subtracted first, so neither the
value nor the gradient overflows.

Each loss says how it takes targets of shape (n,) (``targets``, as a loss plugin declares it:
``descentcheck.registry.op_plugins.LossPlugin``): ``mse`` takes ``"values"`` (at one output the
numbers, integers too; at m > 1 integer labels as one-hot rows), ``softmax_cross_entropy``
``"labels"`` (integer labels as one-hot rows). :func:`target_form` and
:func:`flat_targets_are_labels` read it for any registered loss (``Network.check_targets``, the
claims).

``value_and_grad`` computes both from one ``log softmax`` (in place on its own temporaries), and
``__call__`` gives the same value bit for bit.
"""

from __future__ import annotations

import numpy as np

from descentcheck.registry.op_plugins import flat_targets_are_labels as _flat_are_labels

from .backend import namespace
from .plugin_loss import RegisteredLosses

Array = np.ndarray


def _log_softmax(z: Array) -> Array:
    xp = namespace(z)
    m = z.real.max(axis=1, keepdims=True)  # CuPy has no maximum.reduce
    logp = z - m  # shifted
    logp -= xp.log(xp.add.reduce(xp.exp(logp), axis=1, keepdims=True))
    return logp


def _sum(a: Array):
    return namespace(a).add.reduce(a, axis=None)  # a.sum(), without the method's wrapper


class MSE:
    targets = "values"

    def __call__(self, yhat: Array, y: Array):
        d = yhat - y
        return _sum(d * d) / (2 * len(yhat))

    def value_and_grad(self, yhat: Array, y: Array):
        """``E = 1/(2n) sum_i |yhat_i - y_i|^2`` (mean over the n rows, summed over outputs) and
        ``dE/dyhat = (yhat - y) / n``."""
        d = yhat - y
        n = len(yhat)
        value = _sum(d * d) / (2 * n)
        d /= n
        return value, d


class SoftmaxCrossEntropy:
    targets = "labels"

    def __call__(self, yhat: Array, y: Array):
        return -_sum(y * _log_softmax(yhat)) / len(yhat)

    def value_and_grad(self, yhat: Array, y: Array):
        """``E = -1/n sum_i y_i . log softmax(yhat_i)`` and ``dE/dyhat_i = (S_i p_i - y_i) / n``
        with ``p = softmax(yhat)`` and ``S_i = sum_j y_ij`` (1 for one-hot or soft targets)."""
        logp = _log_softmax(yhat)
        n = len(yhat)
        value = -_sum(y * logp) / n
        xp = namespace(logp)
        g = xp.exp(logp, out=logp)  # softmax; logp is not needed any more
        g *= xp.add.reduce(y, axis=1, keepdims=True)
        g -= y
        g /= n
        return value, g


BUILTIN = {"mse": MSE(), "softmax_cross_entropy": SoftmaxCrossEntropy()}
# every registered loss by name, the plugins' included (read from the op registry at each lookup)
LOSSES = RegisteredLosses(BUILTIN)


def target_form(loss: str) -> str:
    """How the registered loss ``loss`` takes targets of shape (n,): ``"labels"`` or
    ``"values"`` (a built-in loss's ``targets``, a plugin's declared ``LossPlugin.targets``)."""
    fn = LOSSES[loss]
    plugin = getattr(fn, "plugin", None)
    return str(plugin.targets if plugin is not None else fn.targets)


def flat_targets_are_labels(loss: str, width: int) -> bool:
    """Whether targets of shape (n,) are integer labels (one-hot rows) for ``loss`` at output
    width ``width``; otherwise they are the numbers of the one output (``"values"``, width 1)."""
    return _flat_are_labels(target_form(loss), width)
