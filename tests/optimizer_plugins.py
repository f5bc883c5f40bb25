"""Fake optimizer entry points for tests: :class:`FakeEntryPoint` and the ``plugins`` fixture,
which installs them in place of the real ``descentcheck.optimizers`` group (the registry is read
afresh, and restored after the test); and Adam as a plugin entry (``ADAM``), which the registry
tests install and the weight-decay plugins build AdamW on."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import sympy as sp

import descentcheck.registry.optimizers as reg
from descentcheck.impl.optim.base import Optimizer, StepInfo
from descentcheck.registry import OPTIMIZERS_GROUP
from descentcheck.registry.optimizers import LR, Hyperparameter, OptimizerEntry, UpdateRule


class FakeEntryPoint:
    """An entry point ``name = value`` whose ``load`` gives ``obj`` (raises it, if an error)."""

    def __init__(self, name: str, obj: object, value: str = "fake_plugin:ADAM"):
        self.name, self.value, self._obj = name, value, obj

    def load(self) -> object:
        if isinstance(self._obj, Exception | SystemExit):
            raise self._obj
        return self._obj


@pytest.fixture
def plugins(monkeypatch):
    """Install fake entry points: ``plugins(ep, ...)``; the registry is read afresh."""
    import importlib.metadata

    def install(*eps):
        def entry_points(group=None, **kw):
            return list(eps) if group == OPTIMIZERS_GROUP else []

        monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
        monkeypatch.setattr(reg, "_entries", {e.name: e for e in reg.BUILTINS})
        monkeypatch.setattr(reg, "_loaded", False)

    yield install
    monkeypatch.setattr(reg, "_entries", {e.name: e for e in reg.BUILTINS})
    monkeypatch.setattr(reg, "_loaded", False)


# ---- a plugin: Adam ----------------------------------------------------------------------------


def make_adam(lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
    """Adam (Kingma & Ba 2015), dict form only (the trainer runs it on dicts)."""

    def init(params):
        zeros = {k: np.zeros_like(v) for k, v in params.items()}
        return 0, zeros, dict(zeros)

    def update(grads, state, params):
        t, m, v = state
        t += 1
        m = {k: beta1 * m[k] + (1 - beta1) * g for k, g in grads.items()}
        v = {k: beta2 * v[k] + (1 - beta2) * g * g for k, g in grads.items()}
        dw = {
            k: -lr * (m[k] / (1 - beta1**t)) / (np.sqrt(v[k] / (1 - beta2**t)) + eps) for k in grads
        }
        return dw, (t, m, v), StepInfo(None)

    hp = {"lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps}
    return Optimizer("adam", hp, init, update)


def adam_rule() -> UpdateRule:
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


def decay(name: str, default: float) -> Hyperparameter:
    return Hyperparameter(
        name, "float", f"{name} decay", default, high=1.0, high_open=True, draw=(0.5, 0.99, False)
    )


ADAM = OptimizerEntry(
    name="adam",
    summary="Adam (Kingma & Ba 2015)",
    hyperparameters=(
        replace(LR, draw=(1e-3, 0.05, True)),
        decay("beta1", 0.9),
        decay("beta2", 0.999),
        Hyperparameter("eps", "float", "added to sqrt(v_hat)", 1e-8, draw=(1e-8, 1e-3, True)),
    ),
    factory=make_adam,
    derivation=adam_rule,
    no_region="the step's direction depends on the whole gradient history",
)
