"""Adam (Kingma & Ba 2015) as a descentcheck optimizer plugin, in torch's form.

For each parameter entry, from ``m_(-1) = v_(-1) = 0``, at update k = 0, 1, ... (t = k + 1)::

    m_k  = beta1 m_(k-1) + (1 - beta1) g_k
    v_k  = beta2 v_(k-1) + (1 - beta2) g_k^2
    dw_k = -lr (m_k / (1 - beta1^t)) / (sqrt(v_k / (1 - beta2^t)) + eps)

The update pair is written once, in the dict form (``init``/``update``, pure); the registry's
``derivation`` is the same rule in SymPy (:func:`adam_rule`), which theory's optimizer check
and the ledger's ``update-equals-derived-rule`` compare with every step the trainer applies.

No exact one-step descent region (the registry's ``no_region`` says why): each entry's step
has length about lr whatever the size of its gradient (the first step is -lr g / (|g| + eps),
sign descent while |g| >> eps), so near a minimum, where the gradient is small against
lr L, a step overshoots and raises an L-smooth loss, for every lr > 0; and later steps depend on
the whole gradient history through m and v. No condition on (lr, beta1, beta2, eps) and L
alone makes every step descend, as lr < 2/L does for gd; Reddi et al. (2018) build convex
problems on which Adam does not even converge.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from descentcheck.impl.backend import namespace
from descentcheck.impl.optim.base import Optimizer, StepInfo
from descentcheck.registry.optimizers import LR, Hyperparameter, OptimizerEntry, UpdateRule


def make_adam(lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> Any:
    """The optimizer: state (t, m, v), t the number of updates taken. Array functions come
    from the arrays' namespace (numpy, or CuPy on the device path), never ``np.*``."""

    def init(params: dict[str, np.ndarray]) -> Any:
        zeros = {k: namespace(v).zeros_like(v) for k, v in params.items()}
        return 0, zeros, dict(zeros)

    def update(grads: dict[str, np.ndarray], state: Any, params: Any) -> Any:
        t, m, v = state
        t += 1
        m = {k: beta1 * m[k] + (1 - beta1) * g for k, g in grads.items()}
        v = {k: beta2 * v[k] + (1 - beta2) * g * g for k, g in grads.items()}
        c1, c2 = 1 - beta1**t, 1 - beta2**t
        dw = {k: -lr * (m[k] / c1) / (namespace(v[k]).sqrt(v[k] / c2) + eps) for k in grads}
        return dw, (t, m, v), StepInfo(None)  # no momentum coefficient to report

    hp = {"lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps}
    return Optimizer("adam", hp, init, update)


def adam_rule() -> UpdateRule:
    """One entry's update in SymPy: ``m``, ``v`` the state, ``k`` the update index."""
    import sympy as sp

    lr, b1, b2, eps, g, m, v, k = sp.symbols("lr beta1 beta2 eps g m v k", real=True)
    m_hat = m / (1 - b1 ** (k + 1))
    v_hat = v / (1 - b2 ** (k + 1))
    return UpdateRule(
        step=-lr * m_hat / (sp.sqrt(v_hat) + eps),
        gradient=g,
        hyperparameters={"lr": lr, "beta1": b1, "beta2": b2, "eps": eps},
        state={m: b1 * m + (1 - b1) * g, v: b2 * v + (1 - b2) * g**2},
        step_index=k,
    )


def _decay(name: str, default: float, low: float) -> Hyperparameter:
    return Hyperparameter(
        name,
        "float",
        f"decay of the {'first' if name == 'beta1' else 'second'} moment",
        default,
        high=1.0,
        high_open=True,
        draw=(low, 0.999, False),
    )


ADAM = OptimizerEntry(
    name="adam",
    summary="dw_k = -lr m_hat_k / (sqrt(v_hat_k) + eps), bias-corrected moments",
    hyperparameters=(
        LR,
        _decay("beta1", 0.9, 0.0),
        _decay("beta2", 0.999, 0.5),
        Hyperparameter("eps", "float", "added to sqrt(v_hat)", 1e-8, draw=(1e-8, 1e-3, True)),
    ),
    factory=make_adam,
    derivation=adam_rule,
    no_region=(
        "each entry moves about lr whatever its gradient's size (sign descent at the first "
        "step), so near a minimum any lr > 0 overshoots; later steps depend on the whole "
        "gradient history through m and v: no condition on (lr, beta1, beta2, eps) and L "
        "alone makes every step descend"
    ),
    torch="torch.optim.Adam(lr, betas=(beta1, beta2), eps)",
)
