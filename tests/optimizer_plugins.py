"""Fake optimizer entry points for tests: :class:`FakeEntryPoint` and the ``plugins`` fixture,
which installs them in place of the real ``descentcheck.optimizers`` group (the registry is read
afresh, and restored after the test)."""

from __future__ import annotations

import pytest

import descentcheck.registry.optimizers as reg
from descentcheck.registry import OPTIMIZERS_GROUP


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
