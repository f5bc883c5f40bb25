"""Optimizers as explicit state and pure update functions (the optax convention).

An :class:`Optimizer` is a pair ``init(params) -> state`` and
``update(grads, state, params) -> (updates, new_state, info)``; the caller applies
``w_{k+1} = w_k + updates``. Nothing is mutated: every update returns fresh arrays and a fresh
state. ``info.momentum`` is the momentum coefficient used at this step (``alpha_k`` for adaptive
momentum, ``beta`` for the constant forms, ``None`` without momentum).

The built-in optimizers also come in a *flat* form (``Optimizer.flat``) for the trainer: the same
formulas over one vector holding every parameter array (:class:`Layout` says where each lies), so
a step costs a few numpy calls instead of a few per array. The flat form does the same arithmetic
element by element (``g * -lr`` is ``-(lr * g)`` bit for bit; per-array norms are taken the same
way in both forms), so its updates equal the dict form's to the last bit. Unlike the dict form it
works in place, to spare the allocations (and page faults) of parameter-sized vectors at every
step: see :class:`FlatOptimizer` for who owns what.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# the one range check, shared with the registry's (each factory checks its own arguments too)
from descentcheck.registry.optimizers import check_number as check_number

from ..backend import namespace

Array = np.ndarray
Params = dict[str, Array]


@dataclass(frozen=True)
class StepInfo:
    """What one update did, for the trajectory: ``momentum`` the coefficient it used (None:
    no momentum), given by every optimizer (no default to fall back on)."""

    momentum: float | None


@dataclass(frozen=True)
class Layout:
    """Where each parameter array lies in a flat vector: ``names[i]`` fills
    ``[starts[i], stops[i])``, in order and without gaps, with shape ``shapes[i]`` (row-major)."""

    names: tuple[str, ...]
    starts: tuple[int, ...]
    stops: tuple[int, ...]
    shapes: tuple[tuple[int, ...], ...]  # each array's shape

    @classmethod
    def of(cls, params: Mapping[str, Array]) -> Layout:
        starts, stops, shapes, at = [], [], [], 0
        for v in params.values():
            starts.append(at)
            # a device array's own size and shape: numpy.size/shape on a CuPy array would go
            # through the host (tests/test_backend.py's strict stand-in refuses it)
            at += int(v.size if hasattr(v, "size") else np.size(v))
            stops.append(at)
            shapes.append(tuple(int(n) for n in (v.shape if hasattr(v, "shape") else np.shape(v))))
        return cls(tuple(params), tuple(starts), tuple(stops), tuple(shapes))

    def flatten(self, tree: Mapping[str, Array]) -> Array:
        """The arrays of ``tree`` (keys ``names``) as one vector (a copy, on their backend)."""
        xp = namespace(tree[self.names[0]]) if self.names else np
        # the empty head makes an empty layout's vector the same code path, not a special case
        return xp.concatenate([xp.zeros(0), *(xp.asarray(tree[k]).reshape(-1) for k in self.names)])


@dataclass(frozen=True)
class FlatOptimizer:
    """An optimizer over flat vectors: ``init(w) -> state``, ``update(g, state, w) -> (dw, state,
    momentum)``, ``momentum`` what ``StepInfo.momentum`` would be.

    Not pure, for speed: ``update`` may overwrite ``g`` (scratch to it; ``dw`` may be ``g``'s
    memory), updates its state in place (``dw`` may be part of it), and never writes ``w``. The
    caller reads ``dw`` before the next call and hands each state back exactly once."""

    init: Callable[[Array], Any]
    update: Callable[[Array, Any, Array], tuple[Array, Any, float | None]]
    step: Callable[[Array, Any, Array], tuple[Array, Any, float | None]] | None = None
    """``update`` and then ``w += dw`` in place, for a trainer that keeps no earlier iterate
    (None: the trainer does the two itself). The same bits as the two; the built-in ones run
    them as one pass over the vectors where numba is installed (``impl.ops.fused``)."""


@dataclass(frozen=True)
class Optimizer:
    name: str
    hyperparameters: Mapping[str, Any]
    init: Callable[[Mapping[str, Array]], Any]
    update: Callable[[Mapping[str, Array], Any, Mapping[str, Array]], tuple[Params, Any, StepInfo]]
    flat: Callable[[Layout], FlatOptimizer] | None = field(default=None, repr=False)
    """The same optimizer over flat vectors laid out by a :class:`Layout` (None: dict form only)."""


def applied(update: Callable, g: Array, state: Any, w: Array) -> tuple[Array, Any, float | None]:
    """``update(g, state, w)``, then ``w += dw`` in place: a :attr:`FlatOptimizer.step` as two
    passes."""
    dw, state, coef = update(g, state, w)
    w += dw
    return dw, state, coef


def apply_updates(params: Mapping[str, Array], updates: Mapping[str, Array]) -> Params:
    """``w + dw`` for every parameter, as fresh arrays."""
    return {k: params[k] + updates[k] for k in params}


def zeros_like(params: Mapping[str, Array]) -> Params:
    return {k: namespace(v).zeros_like(v) for k, v in params.items()}
