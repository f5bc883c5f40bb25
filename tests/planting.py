"""Planting a bug without touching a file, for the teeth tests (``tox -e teeth``).

:func:`mutated` compiles a function (or method) again from its source with strings replaced, in
its own module's namespace; :func:`plant` puts the result in place of the original for one test
(pytest's ``monkeypatch`` restores it).
"""

from __future__ import annotations

import importlib
import inspect
import textwrap
from collections.abc import Callable, Sequence
from typing import Any


def mutated(func: Callable[..., Any], edits: Sequence[tuple[str, str]]) -> Callable[..., Any]:
    """``func`` with each ``old`` of ``edits`` (found exactly once) replaced by ``new``."""
    module = importlib.import_module(func.__module__)
    source = textwrap.dedent(inspect.getsource(func))
    for old, new in edits:
        assert source.count(old) == 1, f"{old!r} is not in {func.__qualname__} once"
        source = source.replace(old, new)
    namespace: dict[str, Any] = {}
    exec(compile(source, module.__file__, "exec"), vars(module), namespace)
    return namespace[func.__name__]


def plant(monkeypatch: Any, owner: Any, name: str, *edits: tuple[str, str]) -> None:
    """``owner.name`` (a class's method or a module's function) replaced by its mutant."""
    monkeypatch.setattr(owner, name, mutated(getattr(owner, name), edits))
